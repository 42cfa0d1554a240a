"""The partner routes: Shop signing and proxy, accounts, Business Plugin, OAuth, webhooks, admin.

Three route groups. The partner API (``/partner/shop/sign``, ``/partner/shop/proxy/{path}``,
``/partner/shop/accounts``, ``/partner/business/external-data`` and its ``/verify``) is
guarded by client keys like the sign routes. The OAuth pair (``/partner/shop/oauth/authorize``
and ``/callback``, opened by a seller's browser, protected by the single-use ``state``) and
the webhook receivers (``/webhooks/tiktok/{integration}``, ``/webhooks/shop/{integration}``,
authenticated by TikTok's signatures) are not. The integrations themselves are managed under
``/admin/partner/integrations`` (the admin key). No answer carries a secret: app secrets and
tokens are read from the store only to sign or to call TikTok.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from signer.app_keys import METRICS, SETTINGS
from signer.errors import (
    BadRequest,
    IntegrationExists,
    IntegrationNotFound,
)
from signer.groups import RouteGroup
from signer.inputs import METHODS, read_body
from signer.partner import business, inbox, oauth, outbox, shop
from signer.partner.common import (
    ID,
    call_shop,
    integration_of,
    json_body,
    json_response,
    log_fields,
    text_field,
    usable_account,
)
from signer.partner.runtime import PARTNER, Partner, PartnerOptions, partner_lifecycle
from signer.store import ENVIRONMENTS, KINDS, Integration, Secret

if TYPE_CHECKING:
    from signer.store import Account

partner_routes = web.RouteTableDef()
admin_routes = web.RouteTableDef()

#: A Shop API path the proxy forwards to: segments of letters, digits, ``_ - .``, no ``..``.
_API_PATH = re.compile(r"(?:/[A-Za-z0-9_\-][A-Za-z0-9_.\-]*)+")
#: Request headers the proxy passes on to TikTok (nothing else: no client key, no cookie).
_FORWARDED_HEADERS = ("Content-Type", "Accept", "Accept-Language")
#: Answer headers passed back from TikTok.
_RETURNED_HEADERS = ("Content-Type", "X-Tt-Logid", "Retry-After")
#: The proxy's request header naming the integration, and the one naming the shop.
INTEGRATION_HEADER = "X-Partner-Integration"
SHOP_HEADER = "X-Partner-Shop-Id"


# -- TikTok Shop


def _query(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    raise BadRequest("'query' must be an object or a list of [key, value] pairs")


def _sign(  # noqa: PLR0913 - the request's parts, all keyword
    partner: Partner,
    integration: Integration,
    account: Account | None,
    *,
    method: str,
    path: str,
    query: Any,
    content_type: str | None,
    body: str | bytes | None,
    shop_id: str | None,
) -> shop.SignedRequest:
    """One Shop request signed with the integration's secret and the seller's token."""
    try:
        return shop.sign_request(
            app_key=integration.app_key,
            app_secret=integration.app_secret.reveal(),
            method=method,
            path=path,
            query=query,
            content_type=content_type,
            body=body,
            access_token=None if account is None else account.tokens.access_token.reveal(),
            shop_cipher=None if account is None else account.shop_cipher,
            shop_id=shop_id,
            base_url=partner.settings.shop_api_url,
            clock=partner.clock,
        )
    except shop.ShopSignError as exc:
        raise BadRequest(str(exc)) from None


@partner_routes.post("/partner/shop/sign")
async def shop_sign(request: web.Request) -> web.Response:
    """Sign one Shop API request: ``{"integration", "method", "path", "query", "body"?, ...}``."""
    partner = request.app[PARTNER]
    data = await json_body(request)
    integration = await integration_of(partner, data.get("integration"), "shop")
    method = data.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise BadRequest(f"'method' must be one of {', '.join(sorted(METHODS))}")
    path = text_field(data, "path", limit=1024)
    content_type = text_field(data, "content_type", required=False) or None
    body = data.get("body")
    if body is not None and not isinstance(body, str):
        raise BadRequest("'body' must be a string: the exact body to send")
    shop_id = data.get("shop_id")
    if shop_id is not None and (not isinstance(shop_id, str | int) or isinstance(shop_id, bool)):
        raise BadRequest("'shop_id' must be a string")
    account = None
    if shop_id is not None:
        account = await usable_account(await partner.store(), integration, str(shop_id))
    signed = _sign(
        partner,
        integration,
        account,
        method=method.upper(),
        path=path,
        query=_query(data.get("query")),
        content_type=content_type,
        body=body,
        shop_id=None if shop_id is None else str(shop_id),
    )
    log_fields(request, integration=integration.id)
    return json_response(signed.as_json())


@partner_routes.route("*", "/partner/shop/proxy/{path:.+}")
async def shop_proxy(request: web.Request) -> web.StreamResponse:
    """Forward a request to the Shop API, signed, with the seller's token; TikTok's answer back.

    The integration comes in ``X-Partner-Integration`` and the seller's shop in
    ``X-Partner-Shop-Id`` (optional: without it no token is sent); the query and the body
    go to TikTok as sent, the body signed over its exact bytes.
    """
    partner = request.app[PARTNER]
    if request.method not in METHODS:
        raise BadRequest(f"the proxy forwards {', '.join(sorted(METHODS))}")
    integration = await integration_of(partner, request.headers.get(INTEGRATION_HEADER), "shop")
    path = "/" + request.match_info["path"]
    if not _API_PATH.fullmatch(path) or "/../" in f"{path}/" or "/./" in f"{path}/":
        raise BadRequest("the Shop API path holds characters the proxy does not forward")
    shop_id = request.headers.get(SHOP_HEADER, "").strip() or None
    store = await partner.store()
    account = None if shop_id is None else await usable_account(store, integration, shop_id)
    settings = partner.settings
    body = (
        await read_body(request, settings.max_body_bytes, settings.read_timeout_s)
        if request.body_exists
        else b""
    )
    content_type = request.headers.get("Content-Type")
    signed = _sign(
        partner,
        integration,
        account,
        method=request.method,
        path=path,
        query=list(request.query.items()),
        content_type=content_type,
        body=body,
        shop_id=shop_id,
    )
    headers = {
        name: request.headers[name] for name in _FORWARDED_HEADERS if name in request.headers
    }
    headers.update(signed.headers)
    log_fields(request, integration=integration.id, upstream_path=path)
    reply = await call_shop(
        partner,
        request.method,
        signed.signed_url,
        "Open API",
        headers=headers,
        data=body or None,
        keep_headers=_RETURNED_HEADERS,
    )
    if account is not None:
        await oauth.note_api_answer(store, account, reply.body)
    log_fields(request, upstream_status=reply.status)
    return web.Response(status=reply.status, body=reply.body, headers=reply.headers)


@partner_routes.get("/partner/shop/accounts")
async def shop_accounts(request: web.Request) -> web.Response:
    """Every seller account (``?integration=ID``: of one), its token state, no secret."""
    partner = request.app[PARTNER]
    wanted = request.query.get("integration")
    store = await partner.store()
    if wanted is not None:
        await integration_of(partner, wanted, "shop")
    accounts = await store.list_accounts(wanted)
    now = partner.clock()
    return json_response({"accounts": [oauth.account_view(account, now) for account in accounts]})


# -- Business Plugin


@partner_routes.post("/partner/business/external-data")
async def external_data(request: web.Request) -> web.Response:
    """Build ``external_data`` from ``fields`` with the integration's key, and its URL."""
    partner = request.app[PARTNER]
    data = await json_body(request)
    integration = await integration_of(partner, data.get("integration"), "business")
    fields = data.get("fields")
    if not isinstance(fields, dict):
        raise BadRequest("'fields' must be an object")
    try:
        built = business.build_external_data(
            fields, integration.app_secret.reveal(), clock=partner.clock
        )
    except business.ExternalDataError as exc:
        raise BadRequest(str(exc)) from None
    log_fields(request, integration=integration.id)
    return json_response(
        {
            "external_data": built,
            "authorization_url": business.authorization_url(
                built, base_url=partner.settings.business_authorization_url
            ),
        }
    )


@partner_routes.post("/partner/business/external-data/verify")
async def verify_external_data(request: web.Request) -> web.Response:
    """Check an ``external_data``: its HMAC with the integration's key, then its age."""
    partner = request.app[PARTNER]
    data = await json_body(request)
    integration = await integration_of(partner, data.get("integration"), "business")
    given = data.get("external_data")
    if not isinstance(given, str) or not given:
        raise BadRequest("'external_data' must be a non-empty string")
    verdict = business.verify_external_data(
        given, integration.app_secret.reveal(), clock=partner.clock
    )
    log_fields(request, integration=integration.id, valid=verdict.valid)
    return json_response(verdict.as_json())


# -- the operator's integrations (mounted in the /admin sub-application)


def integration_view(integration: Integration) -> dict[str, Any]:
    """An integration as the admin routes show it: never its secret."""
    return {
        "id": integration.id,
        "kind": integration.kind,
        "app_key": integration.app_key,
        "environment": integration.environment,
        "service_id": integration.service_id,
        "created_at": integration.created_at,
        "webhook_path": (
            f"/webhooks/{'shop' if integration.kind == 'shop' else 'tiktok'}/{integration.id}"
            if integration.kind in {"shop", "developers"}
            else None
        ),
    }


def _integration_from(data: dict[str, Any]) -> Integration:
    integration_id = data.get("id")
    if not isinstance(integration_id, str) or not ID.fullmatch(integration_id):
        raise BadRequest("'id' must be 1-64 letters, digits, '_', '.' or '-'")
    kind = data.get("kind")
    if kind not in KINDS:
        raise BadRequest(f"'kind' must be one of {', '.join(KINDS)}")
    environment = data.get("environment", "production")
    if environment not in ENVIRONMENTS:
        raise BadRequest(f"'environment' must be one of {', '.join(ENVIRONMENTS)}")
    service_id = data.get("service_id")
    if service_id is not None and (not isinstance(service_id, str) or not service_id):
        raise BadRequest("'service_id' must be a non-empty string")
    return Integration(
        id=integration_id,
        kind=kind,
        app_key=text_field(data, "app_key"),
        app_secret=Secret(text_field(data, "app_secret", limit=1024)),
        environment=environment,
        service_id=service_id,
    )


@admin_routes.post("/partner/integrations")
async def add_integration(request: web.Request) -> web.Response:
    """Store an integration (201); its secret is encrypted and never shown again.

    One integration per app and environment: the same app key of the same kind registered
    again for the same environment is a 409 (a sandbox app gets an id of its own).
    """
    partner = request.config_dict[PARTNER]
    integration = _integration_from(await json_body(request))
    store = await partner.store()
    for known in await store.list_integrations():
        same_app = (known.kind, known.app_key) == (integration.kind, integration.app_key)
        if same_app and known.environment == integration.environment:
            raise IntegrationExists(
                f"that app is registered for {known.environment} already, as {known.id!r}"
            )
    added = await store.add_integration(integration)
    log_fields(request, integration=added.id, kind=added.kind)
    return json_response(integration_view(added), status=201)


@admin_routes.get("/partner/integrations")
async def list_integrations(request: web.Request) -> web.Response:
    """Every integration, without secrets."""
    store = await request.config_dict[PARTNER].store()
    integrations = await store.list_integrations()
    return json_response({"integrations": [integration_view(i) for i in integrations]})


@admin_routes.delete("/partner/integrations/{id}")
async def remove_integration(request: web.Request) -> web.Response:
    """Forget an integration with its accounts (its undelivered events are still sent)."""
    integration_id = request.match_info["id"]
    store = await request.config_dict[PARTNER].store()
    if not await store.remove_integration(integration_id):
        raise IntegrationNotFound(f"no integration {integration_id!r}")
    log_fields(request, integration=integration_id)
    return json_response({"removed": integration_id})


GUARDED = RouteGroup("partner", partner_routes, guarded=True)
OAUTH = RouteGroup("partner-oauth", oauth.routes)
WEBHOOKS = RouteGroup("webhooks", inbox.routes)


class PartnerGroup:
    """Every partner route group, the shared :class:`Partner` state and its workers."""

    name = "partner"

    def __init__(self, options: PartnerOptions | None = None) -> None:
        self._options = options

    def register(self, app: web.Application) -> None:
        """Add the routes and the partner state (started after the HTTP session)."""
        partner = Partner(app[SETTINGS], self._options, app[METRICS])
        partner.add_worker(outbox.Outbox)
        partner.add_worker(oauth.Refresher)
        app[PARTNER] = partner
        for group in (GUARDED, OAUTH, WEBHOOKS):
            group.register(app)


__all__ = ["PARTNER", "PartnerGroup", "PartnerOptions", "admin_routes", "partner_lifecycle"]
