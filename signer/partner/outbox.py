"""The webhook outbox's deliveries: each queued CloudEvent POSTed to the sink until it takes it.

The inbox queues every verified webhook's CloudEvent in the store (structured mode, the
event's JSON). :class:`Outbox` claims the due events (``Store.claim_due``: a lease, so
several worker processes and replicas never send one event at the same time) and POSTs
each to ``SIGNER_SINK_URL`` (``K_SINK``) in ``SIGNER_SINK_MODE``, with exactly the bytes
``cloudevents.to_http`` makes for that mode. A 2xx marks it delivered; anything else (a
status, no answer within ``SIGNER_SINK_TIMEOUT_S``, a refused connection) puts it back
``outbox_retry_base_s * 2**attempts`` seconds later, capped at ``outbox_retry_max_s``.
Nothing is dropped: an event waits as long as the sink stays away. Delivery is
at-least-once (a claimer that dies after the sink took an event leaves it to be sent
again when its lease ends): sinks dedupe by the CloudEvent ``id``.

Without a sink URL nothing is sent (said once in the log): events wait in the store.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
import structlog
from cloudevents.core.bindings.http import HTTPMessage, from_structured_event
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.v1.event import CloudEvent

from signer.partner.cloudevents import HttpEvent, to_http

if TYPE_CHECKING:
    from signer.metrics import Metrics
    from signer.partner.cloudevents import Mode
    from signer.partner.runtime import Partner
    from signer.store import OutboxEvent, Store

log = structlog.get_logger("signer.partner.outbox")

#: Events claimed (and sent concurrently) at once, and claims per run before yielding.
BATCH = 20
MAX_BATCHES_PER_RUN = 10
#: The longest wait between runs: events queued by other processes, leases that ended.
IDLE_S = 30.0
#: Without a sink nothing will ever be sent by this process: look rarely.
NO_SINK_S = 3600.0
#: The shortest wait between runs (an event due "now" is taken on the next run).
MIN_WAIT_S = 0.01
#: What a claimed event's lease adds to the attempt's own time limit.
LEASE_MARGIN_S = 30.0
#: The content type of the stored form (the event's structured-mode JSON).
_STRUCTURED = {"content-type": "application/cloudevents+json"}


class UndeliverableEvent(ValueError):
    """A stored event that does not read back as a CloudEvent (it stays queued)."""


def stored_event(stored: bytes) -> CloudEvent:
    """The CloudEvent of a stored event (its structured-mode JSON)."""
    try:
        event = from_structured_event(HTTPMessage(headers=dict(_STRUCTURED), body=stored))
    except (BaseCloudEventException, ValueError) as exc:
        raise UndeliverableEvent(f"a stored event does not parse: {type(exc).__name__}") from None
    if not isinstance(event, CloudEvent):
        raise UndeliverableEvent("a stored event is not a CloudEvent 1.0")
    return event


def render(stored: bytes, mode: Mode) -> HttpEvent:
    """The request for a stored event in ``mode``, byte for byte as ``to_http`` makes it."""
    return to_http(stored_event(stored), mode)


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """The wait after the failed attempt number ``attempts + 1``: ``base * 2**attempts``, capped."""
    doublings: int = min(max(attempts, 0), 62)
    return min(max_s, base_s * float(1 << doublings))


class Outbox:
    """The worker that delivers queued CloudEvents to the sink (see the module docstring)."""

    name = "outbox"

    def __init__(self, partner: Partner) -> None:
        self.partner = partner
        #: The app's metrics (None: not counted, e.g. an outbox built outside an app).
        self.metrics: Metrics | None = partner.metrics
        self._said_no_sink = False

    async def run_once(self) -> float:
        """Deliver what is due; the seconds until the next event is due (bounded)."""
        settings = self.partner.settings
        if settings.sink_url is None:
            if not self._said_no_sink:
                log.warning("outbox_no_sink", hint="set SIGNER_SINK_URL (or K_SINK)")
                self._said_no_sink = True
            return NO_SINK_S
        store = await self.partner.store()
        url = str(settings.sink_url)
        lease_s = settings.sink_timeout_s + LEASE_MARGIN_S
        for _ in range(MAX_BATCHES_PER_RUN):
            claimed = await store.claim_due(BATCH, lease_s)
            results = await asyncio.gather(
                *(self._deliver(store, url, event) for event in claimed), return_exceptions=True
            )
            # Every delivery of the batch has finished; a store failure is the worker's to log.
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            if len(claimed) < BATCH:
                break
        else:
            return MIN_WAIT_S  # more may be due: go on after letting others run
        backlog = await store.backlog()
        if self.metrics is not None:
            self.metrics.outbox_undelivered(backlog.undelivered)
        if backlog.next_attempt_at is None:
            return IDLE_S
        return min(IDLE_S, max(MIN_WAIT_S, backlog.next_attempt_at - self.partner.clock()))

    async def _deliver(self, store: Store, url: str, event: OutboxEvent) -> None:
        """POST one event; mark it delivered on a 2xx, else put it back for later."""
        settings = self.partner.settings
        fields: dict[str, object] = {"integration": event.integration_id, "outbox_id": event.id}
        try:
            cloud_event = stored_event(event.event)
        except UndeliverableEvent as exc:
            await self._retry(store, event, fields, reason=str(exc))
            return
        fields["event_id"] = cloud_event.get_id()
        request = to_http(cloud_event, settings.sink_mode)
        try:
            async with self.partner.http.post(
                url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=settings.sink_timeout_s),
            ) as reply:
                await reply.read()
                status = reply.status
        except TimeoutError:
            await self._retry(store, event, fields, reason="timeout")
            return
        except aiohttp.ClientError as exc:
            await self._retry(store, event, fields, reason=type(exc).__name__)
            return
        if not 200 <= status < 300:
            await self._retry(store, event, fields, reason="status", status=status)
            return
        await store.mark_delivered(event.id)
        if self.metrics is not None:
            self.metrics.outbox_delivery("delivered")
        log.info("outbox_delivered", status=status, attempts=event.attempts + 1, **fields)

    async def _retry(
        self,
        store: Store,
        event: OutboxEvent,
        fields: dict[str, object],
        *,
        reason: str,
        status: int | None = None,
    ) -> None:
        """Count the failed attempt and put the event back, ``backoff_s`` from now."""
        settings = self.partner.settings
        wait = backoff_s(event.attempts, settings.outbox_retry_base_s, settings.outbox_retry_max_s)
        await store.reschedule(event.id, self.partner.clock() + wait)
        if self.metrics is not None:
            self.metrics.outbox_delivery("failed")
        log.warning(
            "outbox_delivery_failed",
            reason=reason,
            status=status,
            attempts=event.attempts + 1,
            retry_in_s=round(wait, 3),
            **fields,
        )
