"""Verified webhooks as CloudEvents: every vector's headers and body, both HTTP modes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer.partner import cloudevents
from tests.support import load_vectors

VECTORS = load_vectors("partner/cloudevents.json")
EVENTS = {event["id"]: event for event in VECTORS["events"]}
KIND: dict[str, cloudevents.WebhookKind] = {
    "tiktok_shop_order_status_change": "shop",
    "tiktok_dev_video_publish_completed": "developers",
}
SHOP_BODY = EVENTS["tiktok_shop_order_status_change"]["raw_webhook"].encode()


def _never() -> float:
    pytest.fail("the webhook's own time is used")


def _http(event_id: str, mode: cloudevents.Mode) -> cloudevents.HttpEvent:
    event = EVENTS[event_id]
    new_id = lambda: event["attributes"]["id"]  # noqa: E731
    return cloudevents.webhook_to_http(
        KIND[event_id], event["raw_webhook"].encode(), mode, new_id=new_id, clock=_never
    )


@pytest.mark.parametrize("mode", cloudevents.MODES)
@pytest.mark.parametrize("event_id", sorted(EVENTS))
def test_every_core_api_vector_byte_for_byte(event_id: str, mode: cloudevents.Mode) -> None:
    """Headers (in order) and body bytes as the SDK's core API produced them."""
    expected = EVENTS[event_id]["core_api"][mode]
    got = _http(event_id, mode)
    assert list(got.headers.items()) == list(expected["headers"].items())
    assert got.body == expected["body"].encode()


@pytest.mark.parametrize("mode", cloudevents.MODES)
@pytest.mark.parametrize("event_id", sorted(EVENTS))
def test_every_v1_api_vector_same_content(event_id: str, mode: cloudevents.Mode) -> None:
    """The deprecated v1 API's output: the same headers and JSON, only in another order."""
    expected = EVENTS[event_id]["v1_api"][mode]
    got = _http(event_id, mode)
    assert got.headers == expected["headers"]
    assert json.loads(got.body) == json.loads(expected["body"])
    if mode == "binary":
        assert got.body == expected["body"].encode()


@pytest.mark.parametrize("event_id", sorted(EVENTS))
def test_every_vectors_attributes(event_id: str) -> None:
    """The attributes the vectors record, and the whole webhook as data."""
    event = EVENTS[event_id]
    build = cloudevents.shop_event if KIND[event_id] == "shop" else cloudevents.developers_event
    made = build(event["raw_webhook"].encode(), new_id=lambda: event["attributes"]["id"])
    attributes = made.get_attributes()
    assert {**attributes, "time": attributes["time"].isoformat()} == {
        **event["attributes"],
        "time": "2023-11-14T22:13:20+00:00",
    }
    assert made.get_data() == json.loads(event["raw_webhook"])


def test_shop_event_uses_its_notification_id() -> None:
    """The Shop event's id is its tts_notification_id: no new id is drawn."""
    event = cloudevents.shop_event(SHOP_BODY, new_id=lambda: pytest.fail("not needed"))
    assert event.get_id() == "7327112393057371910"


@pytest.mark.parametrize(
    ("change", "attributes"),
    [
        ({"type": 63}, {"type": "com.tiktok.shop.TYPE_63"}),
        ({"type": "1"}, {"type": "com.tiktok.shop.UNKNOWN"}),
        ({"type": 6}, {"type": "com.tiktok.shop.SELLER_DEAUTHORIZATION"}),
        ({"shop_id": None}, {"source": "tiktok-shop"}),
        ({"tts_notification_id": ""}, {"id": "new-id"}),
        ({"data": {"package_id": 7}}, {"subject": "7"}),
        ({"data": {"order_id": "", "product_id": "p1"}}, {"subject": "p1"}),
        ({"data": "x"}, {"subject": None}),
        ({"timestamp": None}, {"time": "2001-09-09T01:46:40+00:00"}),
    ],
)
def test_shop_mapping_fallbacks(change: dict[str, Any], attributes: dict[str, Any]) -> None:
    """Unknown types, missing ids, other subjects and a missing time still map."""
    body = json.dumps({**json.loads(SHOP_BODY), **change}).encode()
    event = cloudevents.shop_event(body, new_id=lambda: "new-id", clock=lambda: 1e9)
    got = event.get_attributes()
    for name, value in attributes.items():
        actual: Any = got.get(name)
        assert (actual.isoformat() if name == "time" else actual) == value


def test_developers_fallbacks() -> None:
    """A developers webhook without client key or event still maps."""
    event = cloudevents.developers_event(
        b'{"create_time":1700000000}', new_id=lambda: "id-1", clock=_never
    )
    got = event.get_attributes()
    assert (got["source"], got["type"], got.get("subject")) == (
        "tiktok-developers",
        "com.tiktok.developers.unknown",
        None,
    )


@pytest.mark.parametrize(
    "body", [b"not json", b"\xff", b"[1]", b'"text"', b'{"timestamp": 99999999999999999}']
)
def test_unusable_payloads_refused(body: bytes) -> None:
    """A body that is not a JSON object, or a time out of range, is a WebhookPayloadError."""
    with pytest.raises(cloudevents.WebhookPayloadError):
        cloudevents.shop_event(body)


def test_unknown_mode_refused() -> None:
    """Only structured and binary exist."""
    event = cloudevents.shop_event(SHOP_BODY)
    with pytest.raises(ValueError, match="unknown CloudEvents HTTP mode"):
        cloudevents.to_http(event, "batched")  # type: ignore[arg-type]


def test_new_ids_are_random_by_default() -> None:
    """Without an injected factory, developers events get distinct UUIDs."""
    body = EVENTS["tiktok_dev_video_publish_completed"]["raw_webhook"].encode()
    first, second = (cloudevents.developers_event(body).get_id() for _ in range(2))
    assert first != second
    assert len(first) == 36


def test_binary_headers_percent_encoded() -> None:
    """Header values outside printable ASCII are percent-encoded (HTTP binding 3.1.3.2)."""
    body = json.dumps({**json.loads(SHOP_BODY), "shop_id": "café 1"}).encode()
    got = cloudevents.webhook_to_http("shop", body, "binary")
    assert got.headers["ce-source"] == "tiktok-shop/shop/caf%C3%A9%201"


@given(st.text(max_size=30), st.integers(0, 2**33))
def test_binary_body_is_the_data_and_structured_holds_it(text: str, stamp: int) -> None:
    """Whatever the webhook holds, binary's body is its data and structured's body embeds it."""
    webhook = {"type": 1, "shop_id": "s", "timestamp": stamp, "data": {"order_id": "o", "t": text}}
    body = json.dumps(webhook, ensure_ascii=False).encode()
    binary = cloudevents.webhook_to_http("shop", body, "binary", new_id=lambda: "i")
    structured = cloudevents.webhook_to_http("shop", body, "structured", new_id=lambda: "i")
    assert json.loads(binary.body) == webhook
    assert json.loads(structured.body)["data"] == webhook
    assert json.loads(structured.body)["subject"] == "o"
