"""A verified TikTok webhook as a CloudEvent 1.0, ready to POST (HTTP structured or binary mode).

Built with the ``cloudevents`` SDK's core API. Verify the signature on the raw bytes first:
the SDK re-serializes ``data`` with ``json.dumps`` (``", "`` and ``": "`` separators, escaped
non-ASCII), so the body delivered is not TikTok's bytes.

Attribute mapping (no standard exists; this is the one in ``shared/vectors/partner``), in
this attribute order. TikTok Shop webhook:

* ``id``: ``tts_notification_id`` (else a new id);
* ``source``: ``tiktok-shop/shop/<shop_id>``;
* ``type``: ``com.tiktok.shop.<NAME>`` from the ``type`` number (1 is
  ``ORDER_STATUS_CHANGE``, see ``webhooks.SHOP_EVENT_TYPES``; an unknown n is ``TYPE_<n>``);
* ``specversion``: ``1.0``; ``datacontenttype``: ``application/json``;
* ``time``: ``timestamp`` (Unix seconds) as RFC 3339 UTC (``2023-11-14T22:13:20Z``);
* ``subject``: ``data.order_id``, else the first of ``package_id``, ``product_id``,
  ``return_id``, ``cancel_id``, ``conversation_id``; absent when there is none;
* ``data``: the whole webhook JSON.

TikTok for Developers webhook:

* ``id``: a new id (the webhook has none);
* ``source``: ``tiktok-developers/app/<client_key>``;
* ``type``: ``com.tiktok.developers.<event>`` (e.g. ``video.publish.completed``);
* ``specversion``, ``datacontenttype``: as above;
* ``time``: ``create_time`` as RFC 3339 UTC;
* ``subject``: ``user_openid``;
* ``data``: the whole webhook JSON (``content`` stays a JSON string).

A missing ``shop_id``/``client_key`` leaves ``source`` as ``tiktok-shop``/``tiktok-developers``;
a missing time is the clock's. Ids come from ``new_id`` and "now" from ``clock`` (both
injectable). Structured mode: ``content-type: application/cloudevents+json``, every attribute
and ``data`` in the body. Binary mode: ``ce-*`` headers (percent-encoded where the HTTP binding
says), ``content-type: application/json``, the data as the body.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.v1.event import CloudEvent

from signer.partner.webhooks import SHOP_EVENT_TYPES

if TYPE_CHECKING:
    from collections.abc import Callable

Mode = Literal["structured", "binary"]
WebhookKind = Literal["shop", "developers"]
MODES: tuple[Mode, ...] = ("structured", "binary")

#: Where a Shop event's subject comes from, in ``data``, first found wins.
SHOP_SUBJECT_FIELDS = (
    "order_id",
    "package_id",
    "product_id",
    "return_id",
    "cancel_id",
    "conversation_id",
)


class WebhookPayloadError(ValueError):
    """A webhook body that cannot become a CloudEvent (not a JSON object, bad attribute)."""


@dataclass(frozen=True)
class HttpEvent:
    """A CloudEvent as an HTTP request: headers and body bytes ready to POST."""

    headers: dict[str, str]
    body: bytes


def _new_id() -> str:
    """A random UUID, as text."""
    return str(uuid.uuid4())


def _payload(raw_body: bytes) -> dict[str, Any]:
    """The webhook's JSON object."""
    try:
        payload = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookPayloadError("webhook body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookPayloadError("webhook body is not a JSON object")
    return payload


def _text(value: Any) -> str | None:
    """A string or integer JSON value as text; ``None`` for anything else or empty."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value) or None


def _time(value: Any, clock: Callable[[], float]) -> datetime:
    """Unix seconds as an aware UTC datetime; the clock's second when absent or unusable."""
    seconds = value if isinstance(value, int) and not isinstance(value, bool) else int(clock())
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise WebhookPayloadError("webhook time is out of range") from None


def _event(attributes: dict[str, Any], data: dict[str, Any]) -> CloudEvent:
    """The CloudEvent, the SDK's validation errors as :class:`WebhookPayloadError`."""
    try:
        return CloudEvent(
            attributes={k: v for k, v in attributes.items() if v is not None}, data=data
        )
    except BaseCloudEventException as error:
        raise WebhookPayloadError(f"not a valid CloudEvent: {error}") from None


def shop_event(
    raw_body: bytes,
    *,
    new_id: Callable[[], str] = _new_id,
    clock: Callable[[], float] = time.time,
) -> CloudEvent:
    """The CloudEvent of a verified TikTok Shop webhook (mapping in the module docstring)."""
    payload = _payload(raw_body)
    kind = payload.get("type")
    if isinstance(kind, int) and not isinstance(kind, bool):
        name = SHOP_EVENT_TYPES.get(kind, f"TYPE_{kind}")
    else:
        name = "UNKNOWN"
    shop_id = _text(payload.get("shop_id"))
    data = payload.get("data")
    fields = data if isinstance(data, dict) else {}
    subjects = (_text(fields.get(name)) for name in SHOP_SUBJECT_FIELDS)
    return _event(
        {
            "id": _text(payload.get("tts_notification_id")) or new_id(),
            "source": f"tiktok-shop/shop/{shop_id}" if shop_id else "tiktok-shop",
            "type": f"com.tiktok.shop.{name}",
            "specversion": "1.0",
            "datacontenttype": "application/json",
            "time": _time(payload.get("timestamp"), clock),
            "subject": next((subject for subject in subjects if subject), None),
        },
        payload,
    )


def developers_event(
    raw_body: bytes,
    *,
    new_id: Callable[[], str] = _new_id,
    clock: Callable[[], float] = time.time,
) -> CloudEvent:
    """The CloudEvent of a verified TikTok for Developers webhook (mapping in the docstring)."""
    payload = _payload(raw_body)
    client_key = _text(payload.get("client_key"))
    event = _text(payload.get("event")) or "unknown"
    return _event(
        {
            "id": new_id(),
            "source": f"tiktok-developers/app/{client_key}" if client_key else "tiktok-developers",
            "type": f"com.tiktok.developers.{event}",
            "specversion": "1.0",
            "datacontenttype": "application/json",
            "time": _time(payload.get("create_time"), clock),
            "subject": _text(payload.get("user_openid")),
        },
        payload,
    )


def to_http(event: CloudEvent, mode: Mode) -> HttpEvent:
    """The event as an HTTP request in structured or binary content mode."""
    if mode == "structured":
        message = to_structured_event(event)
    elif mode == "binary":
        message = to_binary_event(event)
    else:
        raise ValueError(f"unknown CloudEvents HTTP mode {mode!r}; use one of {MODES}")
    return HttpEvent(headers=dict(message.headers), body=message.body)


def webhook_to_http(
    kind: WebhookKind,
    raw_body: bytes,
    mode: Mode,
    *,
    new_id: Callable[[], str] = _new_id,
    clock: Callable[[], float] = time.time,
) -> HttpEvent:
    """A verified webhook's body straight to the CloudEvent request for the sink."""
    build = shop_event if kind == "shop" else developers_event
    return to_http(build(raw_body, new_id=new_id, clock=clock), mode)
