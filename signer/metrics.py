"""Prometheus metrics, one registry per app so tests and replicas never share counters.

With several worker processes (``SIGNER_WORKERS``) the values live in prometheus-client's
multiprocess files and ``/metrics`` on any worker shows the sum over all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from signer import __version__

if TYPE_CHECKING:
    from pathlib import Path

    from signer.state.operator import OperatorState
    from signer.status import ProviderStatus

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_STATES = ("starting", "ready", "degraded", "failed", "stopped")


class Metrics:
    """The service's metric families, with the hot-path children cached.

    ``multiprocess_dir`` is the directory of prometheus-client's multiprocess mode (the
    supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` to it before starting the workers).
    """

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.registry = CollectorRegistry()
        self._multiprocess_dir = multiprocess_dir
        reg = self.registry
        self.requests = Counter(
            "signer_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=reg,
        )
        self.request_seconds = Histogram(
            "signer_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        # Sign attempts: the successes are this histogram's count, the failures
        # signer_provider_failures_total by reason.
        self.sign_seconds = Histogram(
            "signer_sign_duration_seconds",
            "Time a provider took for one successful signature, by request kind (http, ws).",
            ["provider", "kind"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.provider_failures = Counter(
            "signer_provider_failures",
            "Sign attempts that failed, by provider and reason.",
            ["provider", "reason"],
            registry=reg,
        )
        # Per worker (a pid label is added in multiprocess mode): each has its providers.
        self.provider_state = Gauge(
            "signer_provider_state",
            "1 for the state each provider is in, 0 for the others.",
            ["provider", "state"],
            registry=reg,
            multiprocess_mode="liveall",
        )
        self.cache_lookups = Counter(
            "signer_cache_lookups",
            "Signature cache lookups by result (hit, miss).",
            ["result"],
            registry=reg,
        )
        self.breaker_state = Gauge(
            "signer_breaker_state",
            "1 for the state each provider's circuit breaker is in, 0 for the others.",
            ["provider", "state"],
            registry=reg,
            multiprocess_mode="liveall",
        )
        self.maintenance = Gauge(
            "signer_maintenance",
            "1 while maintenance mode is on.",
            registry=reg,
            multiprocess_mode="livemax",
        )
        self.self_check_failures = Counter(
            "signer_self_check_failures",
            "Signatures a provider produced that failed the native codecs' check.",
            ["provider"],
            registry=reg,
        )
        self.browser_events = Counter(
            "signer_browser_events",
            "Browser pool events: recycle, page_crash, browser_crash, relaunch.",
            ["event"],
            registry=reg,
        )
        self.sdk_signatures = Counter(
            "signer_sdk_signatures",
            "Signatures by the SDK build their tokens name; known=false: a build without profile.",
            ["provider", "build", "known"],
            registry=reg,
        )
        self.sdk_unknown_builds = Gauge(
            "signer_sdk_unknown_build_seen",
            "1 for each SDK build without profile whose tokens were served (checked by hash).",
            ["build"],
            registry=reg,
            multiprocess_mode="max",
        )
        self.browser_pages = Gauge(
            "signer_browser_pages",
            "Browser pool pages: total (the pool size), ready and busy.",
            ["state"],
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.browser_queue = Gauge(
            "signer_browser_queue_depth",
            "Sign requests waiting for a browser page.",
            registry=reg,
            multiprocess_mode="livesum",
        )
        Gauge(
            "signer_build_info",
            "Version of the service (always 1).",
            ["version"],
            registry=reg,
            multiprocess_mode="max",
        ).labels(__version__).set(1)
        self.auth_failures = Counter(
            "signer_auth_failures",
            "Sign requests refused for their client key, by reason.",
            ["reason"],
            registry=reg,
        )
        for reason in ("missing_api_key", "invalid_api_key"):
            self.auth_failures.labels(reason)
        self.rate_limited_requests = Counter(
            "signer_rate_limited",
            "Sign requests refused with a 429: the client's token bucket was empty.",
            registry=reg,
        )
        self.live_fetches = Counter(
            "signer_live_fetches",
            "LIVE fetches (/webcast/fetch, /connect) by transport (direct, fetch) and outcome"
            " (ok, or the error's code).",
            ["transport", "outcome"],
            registry=reg,
        )
        self.partner_webhooks = Counter(
            "signer_partner_webhooks",
            "TikTok webhooks received, by kind (shop, developers) and result (accepted,"
            " duplicate, rejected: bad signature, invalid: not a JSON object).",
            ["kind", "result"],
            registry=reg,
        )
        self.partner_outbox_deliveries = Counter(
            "signer_partner_outbox_deliveries",
            "CloudEvent deliveries to the sink, by result (delivered, failed: retried later).",
            ["result"],
            registry=reg,
        )
        self.partner_outbox_undelivered = Gauge(
            "signer_partner_outbox_undelivered",
            "Webhook events the sink has not taken yet, as the outbox last counted them.",
            registry=reg,
            multiprocess_mode="livemax",
        )
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._sign_children: dict[tuple[str, str], Histogram] = {}

    def exposition(self) -> bytes:
        """The text format of every metric (summed over the workers when there are several)."""
        if self._multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=str(self._multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request."""
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.request_seconds.labels(route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_sign(self, provider: str, seconds: float, kind: str = "http") -> None:
        """Record one successful signature's latency (``kind``: ``http`` or ``ws``)."""
        key = (provider, kind)
        child = self._sign_children.get(key)
        if child is None:
            child = self._sign_children[key] = self.sign_seconds.labels(provider, kind)
        child.observe(seconds)

    def provider_failed(self, provider: str, reason: str) -> None:
        """Count one failed attempt (reason: the error code, e.g. ``timeout``)."""
        self.provider_failures.labels(provider, reason).inc()

    def cache_lookup(self, *, hit: bool) -> None:
        """Count one cache lookup."""
        self.cache_lookups.labels("hit" if hit else "miss").inc()

    def self_check_failed(self, provider: str) -> None:
        """Count one signature that failed its self-check."""
        self.self_check_failures.labels(provider).inc()

    def browser_event(self, event: str) -> None:
        """Count one browser pool event."""
        self.browser_events.labels(event).inc()

    def sdk_build_seen(self, provider: str, build: str, *, known: bool) -> None:
        """Count a signature of SDK ``build``; flag a build without profile."""
        self.sdk_signatures.labels(provider, build, "true" if known else "false").inc()
        if not known:
            self.sdk_unknown_builds.labels(build).set(1)

    def set_status(self, statuses: list[ProviderStatus], operator: OperatorState) -> None:
        """Refresh the state gauges from the chain's status view (called at scrape time)."""
        for status in statuses:
            health = status.health
            for state in _STATES:
                self.provider_state.labels(status.name, state).set(
                    1 if health.state == state else 0
                )
            for state in ("closed", "open", "half_open"):
                self.breaker_state.labels(status.name, state).set(
                    1 if status.breaker["state"] == state else 0
                )
            details = health.details
            if "pages_ready" in details:
                self.browser_pages.labels("total").set(details["pages"])
                self.browser_pages.labels("ready").set(details["pages_ready"])
                self.browser_pages.labels("busy").set(details["pages_busy"])
                self.browser_queue.set(details["queue"])
        self.maintenance.set(1 if operator.maintenance.enabled else 0)

    def auth_failed(self, reason: str) -> None:
        """Count one sign request refused for its key (``missing_api_key``, ``invalid_api_key``)."""
        self.auth_failures.labels(reason).inc()

    def rate_limited(self) -> None:
        """Count one sign request refused by the rate limit."""
        self.rate_limited_requests.inc()

    def live_fetch(self, transport: str, outcome: str) -> None:
        """Count one LIVE fetch answered (``ok``) or refused (the error's code)."""
        self.live_fetches.labels(transport, outcome).inc()

    def webhook_received(self, kind: str, result: str) -> None:
        """Count one webhook (``accepted``, ``duplicate``, ``rejected`` or ``invalid``)."""
        self.partner_webhooks.labels(kind, result).inc()

    def outbox_delivery(self, result: str) -> None:
        """Count one delivery attempt to the sink (``delivered`` or ``failed``)."""
        self.partner_outbox_deliveries.labels(result).inc()

    def outbox_undelivered(self, count: int) -> None:
        """Record how many events still wait for the sink."""
        self.partner_outbox_undelivered.set(count)
