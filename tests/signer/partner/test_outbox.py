"""The outbox worker: backoff, timeouts, batches, no sink, several deliverers on one store.

Driven through the real app (webhooks in, ``run_once`` by the test) with the fake clock;
the sink is the loopback fake.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
import structlog

from signer.partner.outbox import IDLE_S, NO_SINK_S, backoff_s
from tests.fakes.clock import FakeClock
from tests.fakes.sink import CloudEventsSink
from tests.signer.partner.test_webhook_routes import (
    NOW,
    SHOP_BODY,
    add_both,
    hook_settings,
    outbox_of,
    post_shop,
    shop_signature,
    start_app,
    store_of,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.signer.partner.test_webhook_routes import Client


async def _queue(client: Client, count: int) -> list[str]:
    """Queue ``count`` distinct Shop events; their CloudEvent ids."""
    ids = []
    for n in range(count):
        body = SHOP_BODY.replace(b"7327112393057371910", f"7327112393057{n:06}".encode())
        response = await post_shop(client, body, shop_signature(body))
        assert response.status == 200, await response.text()
        ids.append((await response.json())["id"])
    return ids


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    """The wait is base * 2**attempts, capped at the maximum."""
    assert [backoff_s(n, 1.0, 10.0) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert backoff_s(10_000, 0.5, 300.0) == 300.0


@pytest.fixture
async def sink() -> AsyncIterator[CloudEventsSink]:
    """A CloudEvents sink on loopback, answering 200."""
    async with CloudEventsSink() as started:
        yield started


async def test_failed_attempts_back_off_exponentially(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """Each failure waits twice as long (capped); run_once answers the time to the next one."""
    clock = FakeClock(NOW)
    settings = hook_settings(tmp_path, sink, outbox_retry_base_s=1.0, outbox_retry_max_s=4.0)
    client = await start_app(aiohttp_client, settings, clock=clock)
    await add_both(client)
    await _queue(client, 1)
    store = await store_of(client)
    outbox = outbox_of(client)
    sink.failing = True
    waits = []
    for _ in range(4):
        wait = await outbox.run_once()
        waits.append(wait)
        assert await outbox.run_once() == pytest.approx(wait)  # not due: nothing sent
        clock.advance(wait)
    assert waits == [1.0, 2.0, 4.0, 4.0]
    assert len(sink.deliveries) == 4
    backlog = await store.backlog()
    assert (backlog.undelivered, backlog.next_attempt_at) == (1, clock())  # due now
    sink.failing = False
    assert await outbox.run_once() == IDLE_S
    assert len(sink.accepted) == 1
    assert (await store.backlog()).undelivered == 0


async def test_a_sink_too_slow_to_answer_is_tried_again(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """No answer within sink_timeout_s is a failed attempt; the next one delivers once."""
    clock = FakeClock(NOW)
    settings = hook_settings(tmp_path, sink, sink_timeout_s=0.2)
    client = await start_app(aiohttp_client, settings, clock=clock)
    await add_both(client)
    [event_id] = await _queue(client, 1)
    sink.delay_s = 2.0
    with structlog.testing.capture_logs() as logs:
        await outbox_of(client).run_once()
    failed = [entry for entry in logs if entry["event"] == "outbox_delivery_failed"]
    assert [(entry["reason"], entry["event_id"]) for entry in failed] == [("timeout", event_id)]
    sink.delay_s = 0.0
    clock.advance(60)
    await outbox_of(client).run_once()
    assert [d.event_id for d in sink.accepted] == [event_id]


async def test_without_a_sink_nothing_is_sent_and_events_wait(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """No SIGNER_SINK_URL: said once in the log, a long wait, every event kept."""
    client = await start_app(aiohttp_client, hook_settings(tmp_path, None), clock=FakeClock(NOW))
    await add_both(client)
    await _queue(client, 2)
    with structlog.testing.capture_logs() as logs:
        assert await outbox_of(client).run_once() == NO_SINK_S
        assert await outbox_of(client).run_once() == NO_SINK_S
    assert [entry["event"] for entry in logs].count("outbox_no_sink") == 1
    assert (await (await store_of(client)).backlog()).undelivered == 2


async def test_an_empty_outbox_waits_the_idle_interval(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """Nothing queued: the next look is IDLE_S away (other processes may queue meanwhile)."""
    client = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=FakeClock(NOW))
    await add_both(client)
    assert await outbox_of(client).run_once() == IDLE_S


async def test_one_run_delivers_several_batches(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """More events than one claim takes are all delivered in one run, each once."""
    client = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=FakeClock(NOW))
    await add_both(client)
    ids = await _queue(client, 45)
    assert await outbox_of(client).run_once() == IDLE_S
    assert sorted(d.event_id for d in sink.accepted) == sorted(ids)
    assert len(sink.deliveries) == 45


async def test_an_unreadable_stored_event_is_kept_not_dropped(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """A row that is not a CloudEvent is retried later (an operator can look), never lost."""
    client = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=FakeClock(NOW))
    await add_both(client)
    store = await store_of(client)
    await store.enqueue("shop-a", "broken", b"not a cloudevent")
    await outbox_of(client).run_once()
    assert sink.deliveries == []
    backlog = await store.backlog()
    assert backlog.undelivered == 1
    assert backlog.next_attempt_at is not None
    assert backlog.next_attempt_at > NOW


async def test_two_apps_on_one_store_deliver_each_event_once(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """Two processes' outboxes running at once on one database never send an event twice."""
    clock = FakeClock(NOW)
    first = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=clock)
    await add_both(first)
    ids = await _queue(first, 50)
    second = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=clock)
    await asyncio.gather(outbox_of(first).run_once(), outbox_of(second).run_once())
    assert sorted(d.event_id for d in sink.accepted) == sorted(ids)
    assert len(sink.deliveries) == 50
