"""The public route groups: ``/signature`` and ``/sign`` (guarded), ``/health`` and ``/metrics``."""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from signer import __version__
from signer.access.guard import ADMIN
from signer.app_keys import CHAIN, DRAIN, METRICS, PARSER, SETTINGS, STARTED_AT, STATE
from signer.groups import RouteGroup
from signer.inputs import read_body
from signer.middleware import LOG_FIELDS
from signer.render import signature_answer

if TYPE_CHECKING:
    from providers.typing import SignRequest, SignResult
    from signer.chain import Signed

sign_routes = web.RouteTableDef()
public_routes = web.RouteTableDef()


def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


async def _sign(
    request: web.Request, sign_request: SignRequest, only: str | None, started: float
) -> web.Response:
    pin_any = request.get(ADMIN, False)
    signed: Signed = await request.app[CHAIN].sign(sign_request, only, pin_any=pin_any)
    result = signed.result
    attempts = signed.attempts
    fields: dict[str, Any] = {"provider": result.provider, "attempts": len(attempts)}
    if len(attempts) > 1:  # a fallback happened: say what failed first, and why
        fields["failed"] = [a for a in attempts if not a.ok]
    if signed.cached:
        fields["cached"] = True
    request[LOG_FIELDS] = fields
    return render_signed(result, started)


def render_signed(result: SignResult, started: float) -> web.Response:
    """The answer of /signature and /sign (see :mod:`signer.render`)."""
    return _json(signature_answer(result, started))


@sign_routes.post("/signature")
async def signature(request: web.Request) -> web.Response:
    """SignTok (text/plain URL) and carcabot (JSON ``{url, userAgent?}``) compatible."""
    started = time.perf_counter()
    parser = request.app[PARSER]
    body = await read_body(request, parser.max_body, parser.read_timeout_s)
    sign_request = parser.signature_body(body, request.content_type)
    return await _sign(request, sign_request, None, started)


@sign_routes.post("/sign")
async def sign(request: web.Request) -> web.Response:
    """Our own JSON API: URL, method, body, user agent, msToken, optional provider."""
    started = time.perf_counter()
    parser = request.app[PARSER]
    body = await read_body(request, parser.max_body, parser.read_timeout_s)
    sign_request, only = parser.sign_body(body, request.content_type)
    return await _sign(request, sign_request, only, started)


@public_routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """Overall status and each provider's state; 503 when nothing can sign."""
    statuses = request.app[CHAIN].status()
    operator = request.app[STATE].operator
    enabled = [s for s in statuses if s.enabled]  # a standby that is off is no fault
    if request.app[DRAIN].draining:
        status = "draining"  # after SIGTERM: a balancer stops sending here
    elif all(s.usable and s.health.state == "ready" for s in enabled):
        status = "ok"
    elif any(s.usable for s in enabled):
        status = "degraded"
    else:
        status = "down"
    return _json(
        {
            "status": status,
            "version": __version__,
            "uptime_s": round(time.monotonic() - request.app[STARTED_AT], 3),
            "providers": [
                {
                    "name": s.name,
                    "state": s.health.state,
                    "enabled": s.enabled,
                    "breaker": s.breaker["state"],
                    "last_error": s.health.last_error,
                    **s.health.details,
                }
                for s in statuses
            ],
            "maintenance": operator.maintenance.enabled,
            "maintenance_reason": operator.maintenance.reason,
            "changes": list(operator.changes[-10:]),
            "pid": os.getpid(),
            "replica": request.app[SETTINGS].replica_id or socket.gethostname(),
        },
        status=503 if status in {"down", "draining"} else 200,
    )


@public_routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of this app's registry."""
    app_metrics = request.app[METRICS]
    app_metrics.set_status(request.app[CHAIN].status(), request.app[STATE].operator)
    response = web.Response(body=app_metrics.exposition())
    response.content_type = CONTENT_TYPE_LATEST.split(";", 1)[0]
    response.charset = "utf-8"
    return response


SIGN = RouteGroup("sign", sign_routes, guarded=True)
PUBLIC = RouteGroup("public", public_routes)
