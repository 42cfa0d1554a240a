"""Handlers of the public routes: ``/health``, ``/signature``, ``/sign``, ``/metrics``."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from signer import __version__
from signer.app_keys import CHAIN, CONTROL, METRICS, PARSER, STARTED_AT
from signer.errors import Maintenance
from signer.inputs import read_body
from signer.middleware import LOG_FIELDS
from signer.render import signature_answer

if TYPE_CHECKING:
    from providers.typing import SignRequest, SignResult
    from signer.chain import Signed

routes = web.RouteTableDef()


def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


def check_maintenance(request: web.Request) -> None:
    """Raise the 503 of maintenance mode (with Retry-After) while an operator has it on."""
    maintenance = request.app[CONTROL].maintenance
    if maintenance.enabled:
        message = "the service is in maintenance" + (
            f": {maintenance.reason}" if maintenance.reason else ""
        )
        raise Maintenance(message, headers={"Retry-After": str(maintenance.retry_after_s)})


async def _sign(
    request: web.Request, sign_request: SignRequest, only: str | None, started: float
) -> web.Response:
    signed: Signed = await request.app[CHAIN].sign(sign_request, only)
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


@routes.post("/signature")
async def signature(request: web.Request) -> web.Response:
    """SignTok (text/plain URL) and carcabot (JSON ``{url, userAgent?}``) compatible."""
    started = time.perf_counter()
    check_maintenance(request)
    parser = request.app[PARSER]
    body = await read_body(request, parser.max_body)
    sign_request = parser.signature_body(body, request.content_type)
    return await _sign(request, sign_request, None, started)


@routes.post("/sign")
async def sign(request: web.Request) -> web.Response:
    """Our own JSON API: URL, method, body, user agent, msToken, optional provider."""
    started = time.perf_counter()
    check_maintenance(request)
    parser = request.app[PARSER]
    body = await read_body(request, parser.max_body)
    sign_request, only = parser.sign_body(body, request.content_type)
    return await _sign(request, sign_request, only, started)


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """Overall status and each provider's state; 503 when nothing can sign."""
    chain = request.app[CHAIN]
    control = request.app[CONTROL]
    entries = chain.entries
    states = [entry.provider.health() for entry in entries]
    usable = [
        state.state in {"ready", "degraded"} and entry.enabled and entry.breaker.state != "open"
        for entry, state in zip(entries, states, strict=True)
    ]
    if all(usable) and all(state.state == "ready" for state in states):
        status = "ok"
    elif any(usable):
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
                    "name": state.name,
                    "state": state.state,
                    "enabled": entry.enabled,
                    "breaker": entry.breaker.state,
                    "last_error": state.last_error,
                    **state.details,
                }
                for entry, state in zip(entries, states, strict=True)
            ],
            "maintenance": control.maintenance.enabled,
            "maintenance_reason": control.maintenance.reason,
            "changes": list(control.changes)[-10:],
            "pid": os.getpid(),
        },
        status=503 if status == "down" else 200,
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of this app's registry."""
    app_metrics = request.app[METRICS]
    chain = request.app[CHAIN]
    app_metrics.set_provider_states(chain.health())
    app_metrics.set_breaker_states({e.provider.name: e.breaker.state for e in chain.entries})
    app_metrics.maintenance.set(1 if request.app[CONTROL].maintenance.enabled else 0)
    response = web.Response(body=app_metrics.exposition())
    response.content_type = CONTENT_TYPE_LATEST.split(";", 1)[0]
    response.charset = "utf-8"
    return response
