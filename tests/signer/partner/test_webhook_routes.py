"""The webhook receivers over HTTP: verified on the raw bytes, queued, delivered to the sink.

The real app on loopback with a SQLite store in the test's directory; the sink is a fake
CloudEvents receiver on 127.0.0.1. Outbox runs are driven by the test (``run_once``) unless
a test lets the worker loop with small retry delays.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import TYPE_CHECKING, Any, cast

import pytest
import structlog

from signer.app import make_app
from signer.metrics import Metrics
from signer.partner.runtime import PARTNER, PartnerOptions, new_id
from signer.settings import Settings
from tests.fakes.clock import FakeClock
from tests.fakes.sink import CloudEventsSink
from tests.support import load_vectors

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from aiohttp import ClientResponse
    from aiohttp.test_utils import TestClient

    from signer.partner.outbox import Outbox
    from signer.store import Store

    Client = TestClient[Any, Any]

ADMIN_KEY = "hooks-admin-key-0123456789"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
SHOP_KEY, SHOP_SECRET = "test-app-key-0001", "test-app-secret-0001"
DEV_KEY, DEV_SECRET = "test-client-key-0001", "test-client-secret-0001"
NOW = 1_700_000_000.0

SHOP_CASES = {case["id"]: case for case in load_vectors("partner/shop-webhook.json")["cases"]}
DEV_CASES = {case["id"]: case for case in load_vectors("partner/tiktok-webhook.json")["cases"]}
EVENTS = {event["id"]: event for event in load_vectors("partner/cloudevents.json")["events"]}
SHOP_BODY = SHOP_CASES["order_status_change"]["raw_body"].encode()
DEV_BODY = DEV_CASES["publish_completed"]["raw_body"].encode()


# -- the harness (test_outbox uses it too)


def hook_settings(tmp_path: Path, sink: CloudEventsSink | None, **overrides: Any) -> Settings:
    """Embedded defaults, this test's data dir, the admin key and the sink (if any)."""
    values: dict[str, Any] = {
        "providers": ("native",),
        "data_dir": tmp_path,
        "admin_key": ADMIN_KEY,
        "sink_url": None if sink is None else sink.origin,
        **overrides,
    }
    return Settings(**values)


async def start_app(
    aiohttp_client: Any,
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    ids: Callable[[], str] = new_id,
    run_workers: bool = False,
    metrics: Metrics | None = None,
) -> Client:
    """The real app on loopback with the partner routes' clock, id factory and workers."""
    options = PartnerOptions(clock=clock, new_id=ids, run_workers=run_workers)
    client: Client = await aiohttp_client(make_app(settings, partner=options, metrics=metrics))
    return client


async def add_integration(
    client: Client, integration_id: str, kind: str, key: str, secret: str
) -> None:
    """Register an integration through the admin route."""
    fields = {"id": integration_id, "kind": kind, "app_key": key, "app_secret": secret}
    response = await client.post("/admin/partner/integrations", json=fields, headers=ADMIN)
    assert response.status == 201, await response.text()


async def add_both(client: Client) -> None:
    """``shop-a`` (the Shop vectors' app) and ``dev-a`` (the TikTok for Developers one)."""
    await add_integration(client, "shop-a", "shop", SHOP_KEY, SHOP_SECRET)
    await add_integration(client, "dev-a", "developers", DEV_KEY, DEV_SECRET)


def shop_signature(body: bytes, key: str = SHOP_KEY, secret: str = SHOP_SECRET) -> str:
    """The Shop's ``Authorization``: hex HMAC-SHA256(app secret, app key + body)."""
    return hmac.new(secret.encode(), key.encode() + body, hashlib.sha256).hexdigest()


def tiktok_signature(body: bytes, t: float, secret: str = DEV_SECRET) -> str:
    """A ``TikTok-Signature`` header for ``body`` sent at ``t``."""
    stamp = str(int(t))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},s={mac}"


async def post_shop(
    client: Client, body: bytes, signature: str | None, integration: str = "shop-a"
) -> ClientResponse:
    """POST a Shop webhook (no ``Authorization`` when ``signature`` is None)."""
    headers = {} if signature is None else {"Authorization": signature}
    return await client.post(f"/webhooks/shop/{integration}", data=body, headers=headers)


async def post_tiktok(
    client: Client, body: bytes, signature: str | None, integration: str = "dev-a"
) -> ClientResponse:
    """POST a TikTok for Developers webhook."""
    headers = {} if signature is None else {"TikTok-Signature": signature}
    return await client.post(f"/webhooks/tiktok/{integration}", data=body, headers=headers)


def outbox_of(client: Client) -> Outbox:
    """The app's outbox worker (built when the store opened)."""
    return cast("Outbox", client.app[PARTNER].workers["outbox"])


async def store_of(client: Client) -> Store:
    """The app's store."""
    store: Store = await client.app[PARTNER].store()
    return store


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait (really) until ``condition`` holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


@pytest.fixture
async def sink() -> AsyncIterator[CloudEventsSink]:
    """A CloudEvents sink on loopback, answering 200."""
    async with CloudEventsSink() as started:
        yield started


async def _answer(response: ClientResponse, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    return body


# -- every signature vector through the routes


@pytest.mark.parametrize("case_id", sorted(SHOP_CASES))
async def test_every_shop_vector(
    case_id: str, aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """A valid Authorization is a 200 and one delivery; any other a 401 and nothing sent."""
    case = SHOP_CASES[case_id]
    client = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=FakeClock(NOW))
    await add_both(client)
    body = case["raw_body"].encode()
    response = await post_shop(client, body, case["authorization_header"])
    if case["expected_verified"]:
        notification = json.loads(body)["tts_notification_id"]
        assert await _answer(response, 200) == {"status": "accepted", "id": notification}
    else:
        answer = await _answer(response, 401)
        assert answer["error"]["code"] == "invalid_signature"
        assert answer["error"]["message"] == "Signature verification failed"
    assert sink.deliveries == []  # never sent during the request
    await outbox_of(client).run_once()
    assert len(sink.accepted) == (1 if case["expected_verified"] else 0)
    assert (await (await store_of(client)).backlog()).undelivered == 0


@pytest.mark.parametrize("case_id", sorted(DEV_CASES))
async def test_every_tiktok_vector(
    case_id: str, aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """At the vector's verify time: valid is a 200 and one delivery, else a 401 with the reason."""
    case = DEV_CASES[case_id]
    clock = FakeClock(case["verify_now_unix"])
    client = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=clock)
    await add_both(client)
    response = await post_tiktok(client, case["raw_body"].encode(), case["tiktok_signature_header"])
    if case["expected_valid"]:
        answer = await _answer(response, 200)
        assert answer["status"] == "accepted"
    else:
        answer = await _answer(response, 401)
        assert answer["error"] == {"code": "invalid_signature", "message": case["expected_error"]}
    await outbox_of(client).run_once()
    assert len(sink.accepted) == (1 if case["expected_valid"] else 0)
    if case["expected_valid"]:
        assert sink.accepted[0].event_id == answer["id"]


async def test_a_missing_signature_is_refused(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """No Authorization, no TikTok-Signature: 401 each, nothing queued."""
    client = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=FakeClock(NOW))
    await add_both(client)
    shop = await _answer(await post_shop(client, SHOP_BODY, None), 401)
    assert shop["error"]["message"] == "Missing Authorization header"
    dev = await _answer(await post_tiktok(client, DEV_BODY, None), 401)
    assert dev["error"]["message"] == "Missing TikTok-Signature header"
    assert (await (await store_of(client)).backlog()).undelivered == 0


# -- every CloudEvent vector, in both modes


@pytest.mark.parametrize("mode", ["structured", "binary"])
@pytest.mark.parametrize("event_id", sorted(EVENTS))
async def test_the_sink_gets_each_cloudevent_vector(
    event_id: str, mode: str, aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """The sink receives exactly the vector's CloudEvents headers and body bytes."""
    vector = EVENTS[event_id]
    clock = FakeClock(NOW)
    client = await start_app(
        aiohttp_client,
        hook_settings(tmp_path, sink, sink_mode=mode),
        clock=clock,
        ids=lambda: str(vector["attributes"]["id"]),
    )
    await add_both(client)
    body = vector["raw_webhook"].encode()
    if event_id.startswith("tiktok_shop"):
        response = await post_shop(client, body, shop_signature(body))
    else:
        response = await post_tiktok(client, body, tiktok_signature(body, NOW))
    assert await _answer(response, 200) == {"status": "accepted", "id": vector["attributes"]["id"]}
    await outbox_of(client).run_once()
    [delivery] = sink.accepted
    expected = vector["core_api"][mode]
    assert delivery.cloudevent_headers == {k.lower(): v for k, v in expected["headers"].items()}
    assert delivery.body == expected["body"].encode()


# -- what is not queued


async def test_unknown_and_wrong_kind_integrations_are_not_found(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """An unknown integration and one of the other kind are both 404: nothing told apart."""
    client = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=FakeClock(NOW))
    await add_both(client)
    for response in (
        await post_shop(client, SHOP_BODY, shop_signature(SHOP_BODY), integration="nope"),
        await post_shop(client, SHOP_BODY, shop_signature(SHOP_BODY), integration="dev-a"),
        await post_tiktok(client, DEV_BODY, tiktok_signature(DEV_BODY, NOW), "shop-a"),
    ):
        answer = await _answer(response, 404)
        assert answer["error"]["code"] == "integration_not_found"
    assert (await (await store_of(client)).backlog()).undelivered == 0


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"not json", b"null"])
async def test_a_verified_body_that_is_not_an_object_is_a_400(
    body: bytes, aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """Signed right, but no JSON object: 400 on both routes, nothing queued."""
    client = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=FakeClock(NOW))
    await add_both(client)
    await _answer(await post_shop(client, body, shop_signature(body)), 400)
    await _answer(await post_tiktok(client, body, tiktok_signature(body, NOW)), 400)
    assert (await (await store_of(client)).backlog()).undelivered == 0


async def test_an_empty_webhook_is_a_400(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """No body at all: a 400 that says so in a webhook's words; nothing queued."""
    client = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=FakeClock(NOW))
    await add_both(client)
    answer = await _answer(await post_shop(client, b"", shop_signature(b"")), 400)
    assert answer["error"]["code"] == "empty_body"
    assert "webhook" in answer["error"]["message"]
    assert (await (await store_of(client)).backlog()).undelivered == 0


# -- duplicates


async def test_a_shop_retry_is_delivered_once(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """The same tts_notification_id again (same or other bytes) is a duplicate; per integration."""
    client = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=FakeClock(NOW))
    await add_both(client)
    await add_integration(client, "shop-b", "shop", "other-app-key", "other-app-secret")
    first = await _answer(await post_shop(client, SHOP_BODY, shop_signature(SHOP_BODY)), 200)
    assert first["status"] == "accepted"
    again = await _answer(await post_shop(client, SHOP_BODY, shop_signature(SHOP_BODY)), 200)
    assert again == {"status": "duplicate"}
    edited = SHOP_BODY.replace(b"AWAITING_SHIPMENT", b"IN_TRANSIT")
    same_id = await _answer(await post_shop(client, edited, shop_signature(edited)), 200)
    assert same_id == {"status": "duplicate"}
    signature_b = shop_signature(SHOP_BODY, "other-app-key", "other-app-secret")
    other = await _answer(await post_shop(client, SHOP_BODY, signature_b, "shop-b"), 200)
    assert other["status"] == "accepted"
    await outbox_of(client).run_once()
    assert [d.event_id for d in sink.accepted] == [first["id"], first["id"]]  # one per integration
    assert len(sink.deliveries) == 2


async def test_a_tiktok_retry_is_delivered_once(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """The same TikTok-Signature again is a duplicate; a new signature is a new event."""
    client = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=FakeClock(NOW))
    await add_both(client)
    signature = tiktok_signature(DEV_BODY, NOW)
    first = await _answer(await post_tiktok(client, DEV_BODY, signature), 200)
    assert await _answer(await post_tiktok(client, DEV_BODY, signature), 200) == {
        "status": "duplicate"
    }
    later = await _answer(
        await post_tiktok(client, DEV_BODY, tiktok_signature(DEV_BODY, NOW + 1)), 200
    )
    assert later["status"] == "accepted"
    await outbox_of(client).run_once()
    assert sorted(d.event_id for d in sink.accepted) == sorted([first["id"], later["id"]])


# -- a sink that is away, with the worker looping in real time


def _loop_settings(tmp_path: Path, sink: CloudEventsSink, **overrides: Any) -> Settings:
    return hook_settings(
        tmp_path, sink, outbox_retry_base_s=0.05, outbox_retry_max_s=0.2, **overrides
    )


async def _send_shop_events(client: Client, count: int) -> list[str]:
    ids = []
    for n in range(count):
        body = SHOP_BODY.replace(b"7327112393057371910", f"73271123930573719{n:02}".encode())
        answer = await _answer(await post_shop(client, body, shop_signature(body)), 200)
        ids.append(answer["id"])
    return ids


async def test_a_sink_that_is_down_gets_every_event_once_it_is_up(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """Connection refused, then the sink comes back on its port: each event arrives once."""
    client = await start_app(aiohttp_client, _loop_settings(tmp_path, sink), run_workers=True)
    await add_both(client)
    await sink.down()
    ids = await _send_shop_events(client, 3)
    await asyncio.sleep(0.3)  # several attempts fail meanwhile
    assert sink.deliveries == []
    store = await store_of(client)
    assert (await store.backlog()).undelivered == 3
    await sink.up()
    await until(lambda: len(sink.accepted) == 3)
    await asyncio.sleep(0.3)
    assert sorted(d.event_id for d in sink.accepted) == sorted(ids)
    assert len(sink.deliveries) == 3
    assert (await store.backlog()).undelivered == 0


async def test_a_failing_sink_gets_every_event_once_it_recovers(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """503s are retried with backoff; after the first 200 an event is never sent again."""
    client = await start_app(aiohttp_client, _loop_settings(tmp_path, sink), run_workers=True)
    await add_both(client)
    sink.failing = True
    ids = await _send_shop_events(client, 3)
    await until(lambda: len(sink.deliveries) >= 6)  # each tried, and some tried again
    assert sink.accepted == []
    sink.failing = False
    await until(lambda: len(sink.accepted) == 3)
    await asyncio.sleep(0.3)
    assert sorted(d.event_id for d in sink.accepted) == sorted(ids)
    assert (await (await store_of(client)).backlog()).undelivered == 0


# -- a restart


async def test_events_queued_before_a_restart_are_delivered_after_it(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """An app without a sink queues; a new app on the same data dir delivers them."""
    first = await start_app(aiohttp_client, hook_settings(tmp_path, None), clock=FakeClock(NOW))
    await add_both(first)
    ids = await _send_shop_events(first, 2)
    await outbox_of(first).run_once()  # no sink: nothing sent
    await first.close()
    metrics = Metrics()
    second = await start_app(
        aiohttp_client, hook_settings(tmp_path, sink), clock=FakeClock(NOW), metrics=metrics
    )
    await outbox_of(second).run_once()  # the store reopened at start: the outbox with it
    assert sorted(d.event_id for d in sink.accepted) == sorted(ids)
    delivered = {"result": "delivered"}  # counted though no webhook came to this app
    assert (
        metrics.registry.get_sample_value("signer_partner_outbox_deliveries_total", delivered) == 2
    )


# -- what the logs and metrics say


async def test_no_secret_signature_or_body_in_any_log_line(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink, caplog: pytest.LogCaptureFixture
) -> None:
    """Accepted, refused, duplicate, failed and delivered webhooks log ids, never their data."""
    caplog.set_level(logging.DEBUG)
    clock = FakeClock(NOW)
    dev_signature = tiktok_signature(DEV_BODY, NOW)
    shop_sig = shop_signature(SHOP_BODY)
    with structlog.testing.capture_logs() as logs:
        client = await start_app(aiohttp_client, hook_settings(tmp_path, sink), clock=clock)
        await add_both(client)
        await post_shop(client, SHOP_BODY, shop_sig)
        await post_shop(client, SHOP_BODY, shop_sig)
        await post_shop(client, SHOP_BODY, shop_sig.upper())
        await post_tiktok(client, DEV_BODY, dev_signature)
        await post_tiktok(client, DEV_BODY, dev_signature.replace("t=", "t=1"))
        sink.failing = True
        await outbox_of(client).run_once()
        sink.failing = False
        clock.advance(3600)
        await outbox_of(client).run_once()
    assert len(sink.accepted) == 2
    names = {entry["event"] for entry in logs}
    assert {"webhook_queued", "webhook_duplicate", "webhook_rejected"} <= names
    assert {"outbox_delivered", "outbox_delivery_failed"} <= names
    shown = " ".join([repr(entry) for entry in logs] + [r.getMessage() for r in caplog.records])
    dev_mac = dev_signature.partition(",s=")[2]
    for needle in (SHOP_SECRET, DEV_SECRET, shop_sig, shop_sig.upper(), dev_mac):
        assert needle not in shown
    for body in (SHOP_BODY.decode(), DEV_BODY.decode()):
        assert body not in shown
    for fragment in ("AWAITING_SHIPMENT", "576461413038785752", "act.fakeOpenId0001", "share_id"):
        assert fragment not in shown


async def test_webhooks_and_deliveries_are_counted(
    aiohttp_client: Any, tmp_path: Path, sink: CloudEventsSink
) -> None:
    """Webhooks by kind and result, deliveries by result, the undelivered gauge."""
    metrics = Metrics()
    clock = FakeClock(NOW)
    client = await start_app(
        aiohttp_client, hook_settings(tmp_path, sink), clock=clock, metrics=metrics
    )
    await add_both(client)
    await post_shop(client, SHOP_BODY, shop_signature(SHOP_BODY))
    await post_shop(client, SHOP_BODY, shop_signature(SHOP_BODY))
    await post_shop(client, SHOP_BODY, "0" * 64)
    await post_tiktok(client, b"[]", tiktok_signature(b"[]", NOW))
    sink.failing = True
    await outbox_of(client).run_once()
    sink.failing = False
    clock.advance(3600)
    await outbox_of(client).run_once()

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert value("signer_partner_webhooks_total", kind="shop", result="accepted") == 1
    assert value("signer_partner_webhooks_total", kind="shop", result="duplicate") == 1
    assert value("signer_partner_webhooks_total", kind="shop", result="rejected") == 1
    assert value("signer_partner_webhooks_total", kind="developers", result="invalid") == 1
    assert value("signer_partner_outbox_deliveries_total", result="failed") == 1
    assert value("signer_partner_outbox_deliveries_total", result="delivered") == 1
    assert value("signer_partner_outbox_undelivered") == 0
