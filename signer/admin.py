"""The operator API under ``/admin``: present only when ``SIGNER_ADMIN_KEY`` is set.

The key comes in ``X-Admin-Key`` or ``Authorization: Bearer <key>``; a client key is
never enough. Every change goes through the shared state (so it holds on every worker and
replica before the call answers), is logged and listed in ``/admin/state`` and ``/health``.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from signer.access.guard import client_address, presented_key
from signer.access.keys import key_bytes
from signer.app_keys import CHAIN, GUARD, SETTINGS, STATE
from signer.errors import AdminUnauthorized, BadRequest
from signer.inputs import parse_json_object, read_body
from signer.middleware import expect_continue
from signer.partner.routes import admin_routes as partner_admin_routes
from signer.state.operator import Note, SetMaintenance, SetProviders

if TYPE_CHECKING:
    from pydantic import SecretStr

    from signer.access.throttle import AuthThrottle
    from signer.middleware import Handler

MAX_ADMIN_BODY = 16 * 1024


def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


class AdminGroup:
    """The /admin routes, a sub-application behind the admin key (absent without one)."""

    name = "admin"

    def __init__(self, admin_key: SecretStr | None) -> None:
        self._admin_key = admin_key

    def register(self, app: web.Application) -> None:
        """Mount /admin when an admin key is configured."""
        if self._admin_key is not None:
            app.add_subapp("/admin", make_admin_app(self._admin_key, app[GUARD].throttle))


def make_admin_app(admin_key: SecretStr, throttle: AuthThrottle) -> web.Application:
    """The /admin sub-application, guarded by the admin key (wrong keys throttled)."""
    expected = key_bytes(admin_key.get_secret_value())

    @web.middleware
    async def require_admin(request: web.Request, handler: Handler) -> web.StreamResponse:
        address = client_address(request.remote)
        throttle.check(address)
        key = presented_key(request, "X-Admin-Key")
        if key is None or not hmac.compare_digest(key_bytes(key), expected):
            throttle.failed(address)
            raise AdminUnauthorized(
                "send the admin key in X-Admin-Key or Authorization: Bearer"
                if key is None
                else "wrong admin key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await handler(request)

    admin = web.Application(middlewares=[require_admin])
    expect = expect_continue(MAX_ADMIN_BODY)
    admin.add_routes(
        [
            web.get("/state", state),
            web.post("/maintenance", maintenance, expect_handler=expect),
            web.post("/providers", providers, expect_handler=expect),
            web.post("/providers/{name}/restart", restart, expect_handler=expect),
        ]
    )
    for route in partner_admin_routes:
        assert isinstance(route, web.RouteDef)  # noqa: S101 - a route table holds RouteDefs
        admin.router.add_route(route.method, route.path, route.handler, expect_handler=expect)
    return admin


def state_view(request: web.Request) -> dict[str, Any]:
    """Providers in order with their switch and breaker, maintenance, recent changes."""
    operator = request.config_dict[STATE].operator
    return {
        "providers": [
            {
                "name": status.name,
                "enabled": status.enabled,
                "breaker": status.breaker,
                "state": status.health.state,
                "last_error": status.health.error_detail or status.health.last_error,
                "details": status.health.details,
            }
            for status in request.config_dict[CHAIN].status()
        ],
        "maintenance": operator.maintenance.view(),
        "changes": list(operator.changes),
    }


async def state(request: web.Request) -> web.Response:
    """GET /admin/state."""
    return _json(state_view(request))


async def _body(request: web.Request) -> dict[str, Any]:
    timeout_s = request.config_dict[SETTINGS].read_timeout_s
    return parse_json_object(await read_body(request, MAX_ADMIN_BODY, timeout_s))


async def maintenance(request: web.Request) -> web.Response:
    """POST /admin/maintenance {"enabled", "reason"?, "retry_after_s"?}."""
    data = await _body(request)
    enabled = data.get("enabled")
    if not isinstance(enabled, bool):
        raise BadRequest("'enabled' must be true or false")
    reason = data.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        raise BadRequest("'reason' must be a string of at most 500 characters")
    retry_after = data.get("retry_after_s", 60)
    if (
        not isinstance(retry_after, int)
        or isinstance(retry_after, bool)
        or not 1 <= retry_after <= 86400
    ):
        raise BadRequest("'retry_after_s' must be a whole number of seconds, 1 to 86400")
    await request.config_dict[STATE].change(
        SetMaintenance(enabled=enabled, reason=reason, retry_after_s=retry_after)
    )
    return _json(state_view(request))


async def providers(request: web.Request) -> web.Response:
    """POST /admin/providers {"order": [names], "disabled"?: [names]}: checked whole first."""
    data = await _body(request)
    order = _names(data, "order", None)
    disabled = _names(data, "disabled", [])
    await request.config_dict[STATE].change(SetProviders(tuple(order), tuple(disabled)))
    return _json(state_view(request))


def _names(data: dict[str, Any], key: str, default: list[str] | None) -> list[str]:
    value = data.get(key, default)
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise BadRequest(f"{key!r} must be a list of provider names")
    return [str(name) for name in value]


async def restart(request: web.Request) -> web.Response:
    """POST /admin/providers/{name}/restart: close and start it again (e.g. the browser).

    Restarts of one provider run one at a time. A start that fails answers 503 with its
    cause (the edge maps the provider's error), and the provider shows as failed.
    """
    entry = request.config_dict[CHAIN].entry(request.match_info["name"])
    provider = entry.provider
    async with entry.restarting:
        await provider.aclose()
        try:
            await provider.start()
        finally:
            await request.config_dict[STATE].change(
                Note(
                    "restart",
                    (("provider", provider.name), ("ok", provider.health().state != "failed")),
                )
            )
        entry.breaker.reset()
    return _json(state_view(request))
