"""The webhook receivers: TikTok's signature verified, the event queued for the sink.

``POST /webhooks/tiktok/{integration}`` takes TikTok for Developers webhooks for a
``developers`` integration (``TikTok-Signature``, keyed with its app secret as the client
secret, ``t=`` within ``SIGNER_WEBHOOK_TOLERANCE_S``); ``POST /webhooks/shop/{integration}``
takes TikTok Shop webhooks for a ``shop`` integration (``Authorization``: the HMAC of app key
and body). Both verify the raw body bytes, then:

* an unknown integration, or one of the other kind, is a 404 ``integration_not_found``
  (the sender, not authenticated yet, learns nothing about which integrations exist);
* a missing or wrong signature is a 401 ``invalid_signature`` with the verdict's reason
  (never the expected MAC), and nothing is queued;
* a verified body that is not a JSON object is a 400, and nothing is queued;
* else the CloudEvent (``signer.partner.cloudevents``) is queued in the store's outbox,
  keyed per integration by :func:`~signer.partner.webhooks.dedupe_key` (the Shop's
  ``tts_notification_id``, else the signature header), and the answer is 200 at once:
  ``{"status": "accepted", "id": <CloudEvent id>}``, or ``{"status": "duplicate"}`` for
  an event queued before (TikTok's retry), which is not queued again.

The outbox keeps the event in structured mode (the CloudEvent's JSON) and delivers it in
the configured mode (``signer.partner.outbox``); nothing is sent during the request. Log
lines carry the integration and the event id, never a secret, a signature or a body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from signer.app_keys import METRICS
from signer.errors import (
    BadRequest,
    EmptyBody,
    IntegrationNotFound,
    InvalidWebhookSignature,
    WrongIntegrationKind,
)
from signer.inputs import read_body
from signer.partner import outbox
from signer.partner.cloudevents import (
    WebhookPayloadError,
    developers_event,
    shop_event,
    to_http,
)
from signer.partner.common import integration_of, json_response, log_fields
from signer.partner.runtime import PARTNER
from signer.partner.webhooks import (
    SHOP_SIGNATURE_HEADER,
    TIKTOK_SIGNATURE_HEADER,
    dedupe_key,
    verify_shop_signature,
    verify_tiktok_signature,
)

if TYPE_CHECKING:
    from signer.partner.cloudevents import WebhookKind
    from signer.partner.runtime import Partner
    from signer.partner.verdict import Verdict
    from signer.store import Integration

log = structlog.get_logger("signer.partner.inbox")

routes = web.RouteTableDef()


async def _integration(partner: Partner, request: web.Request, kind: WebhookKind) -> Integration:
    """The integration the path names; of the other kind it is as unknown (404)."""
    integration_id = request.match_info["integration"]
    try:
        return await integration_of(partner, integration_id, kind)
    except WrongIntegrationKind:
        raise IntegrationNotFound(f"no {kind} integration {integration_id!r}") from None


async def _raw_body(partner: Partner, request: web.Request) -> bytes:
    """The exact bytes TikTok signed, within the body limit and the read timeout."""
    settings = partner.settings
    if not request.body_exists:
        raise EmptyBody("the webhook has no body: TikTok signs and sends its event as the body")
    return await read_body(request, settings.max_body_bytes, settings.read_timeout_s)


async def _queue(
    request: web.Request,
    integration: Integration,
    kind: WebhookKind,
    raw: bytes,
    signature: str | None,
    verdict: Verdict,
) -> web.Response:
    """Refuse what did not verify; queue the CloudEvent of what did, once per dedupe key."""
    partner = request.app[PARTNER]
    metrics = request.app[METRICS]
    log_fields(request, integration=integration.id, webhook=kind)
    if not verdict.valid:
        metrics.webhook_received(kind, "rejected")
        log.info("webhook_rejected", integration=integration.id, kind=kind, reason=verdict.reason)
        raise InvalidWebhookSignature(verdict.reason or "the signature does not verify")
    build = shop_event if kind == "shop" else developers_event
    try:
        event = build(raw, new_id=partner.new_id, clock=partner.clock)
    except WebhookPayloadError as exc:
        metrics.webhook_received(kind, "invalid")
        log.info("webhook_invalid", integration=integration.id, kind=kind)
        raise BadRequest(str(exc)) from None
    event_id = event.get_id()
    store = await partner.store()
    queued = await store.enqueue(
        integration.id, dedupe_key(raw, signature or ""), to_http(event, "structured").body
    )
    if queued is None:
        metrics.webhook_received(kind, "duplicate")
        log.info("webhook_duplicate", integration=integration.id, kind=kind)
        log_fields(request, duplicate=True)
        return json_response({"status": "duplicate"})
    metrics.webhook_received(kind, "accepted")
    log.info(
        "webhook_queued",
        integration=integration.id,
        kind=kind,
        event_id=event_id,
        outbox_id=queued.id,
    )
    log_fields(request, event_id=event_id)
    partner.wake(outbox.Outbox.name)
    return json_response({"status": "accepted", "id": event_id})


@routes.post("/webhooks/tiktok/{integration}")
async def tiktok_webhook(request: web.Request) -> web.Response:
    """Take a TikTok for Developers webhook (``TikTok-Signature``) for the sink."""
    partner = request.app[PARTNER]
    integration = await _integration(partner, request, "developers")
    raw = await _raw_body(partner, request)
    signature = request.headers.get(TIKTOK_SIGNATURE_HEADER)
    verdict = verify_tiktok_signature(
        signature,
        raw,
        integration.app_secret.reveal(),
        tolerance_s=partner.settings.webhook_tolerance_s,
        clock=partner.clock,
    )
    return await _queue(request, integration, "developers", raw, signature, verdict)


@routes.post("/webhooks/shop/{integration}")
async def shop_webhook(request: web.Request) -> web.Response:
    """Take a TikTok Shop webhook (``Authorization``: HMAC of app key + body) for the sink."""
    partner = request.app[PARTNER]
    integration = await _integration(partner, request, "shop")
    raw = await _raw_body(partner, request)
    signature = request.headers.get(SHOP_SIGNATURE_HEADER)
    verdict = verify_shop_signature(
        signature, raw, integration.app_key, integration.app_secret.reveal()
    )
    return await _queue(request, integration, "shop", raw, signature, verdict)
