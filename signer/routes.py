"""Handlers of the public routes: ``/health``, ``/signature``, ``/sign``, ``/metrics``."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from signer import __version__
from signer.app_keys import CHAIN, METRICS, PARSER, STARTED_AT
from signer.inputs import read_body
from signer.middleware import LOG_FIELDS

if TYPE_CHECKING:
    from providers.typing import SignRequest
    from signer.chain import Signed

routes = web.RouteTableDef()


def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


async def _sign(
    request: web.Request, sign_request: SignRequest, only: str | None, started: float
) -> web.Response:
    signed: Signed = await request.app[CHAIN].sign(sign_request, only)
    result = signed.result
    request[LOG_FIELDS] = {"provider": result.provider, "attempts": signed.attempts}
    return _json(
        {
            "status": "ok",
            "data": {
                "signature": result.signature,
                "signed_url": result.signed_url,
                "X-Bogus": result.x_bogus,
                "x-bogus": result.x_bogus,
                "X-Gnarly": result.x_gnarly,
                "x-gnarly": result.x_gnarly,
                "x-tt-params": result.x_tt_params,
                "msToken": result.ms_token,
                "navigator": result.navigator,
                "provider": result.provider,
            },
            "response_time_ms": round((time.perf_counter() - started) * 1000, 3),
        }
    )


@routes.post("/signature")
async def signature(request: web.Request) -> web.Response:
    """SignTok (text/plain URL) and carcabot (JSON ``{url, userAgent?}``) compatible."""
    started = time.perf_counter()
    parser = request.app[PARSER]
    body = await read_body(request, parser.max_body)
    sign_request = parser.signature_body(body, request.content_type)
    return await _sign(request, sign_request, None, started)


@routes.post("/sign")
async def sign(request: web.Request) -> web.Response:
    """Our own JSON API: URL, method, body, user agent, msToken, optional provider."""
    started = time.perf_counter()
    parser = request.app[PARSER]
    body = await read_body(request, parser.max_body)
    sign_request, only = parser.sign_body(body, request.content_type)
    return await _sign(request, sign_request, only, started)


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """Overall status and each provider's state; 503 when nothing can sign."""
    states = request.app[CHAIN].health()
    ready = sum(1 for state in states if state.state == "ready")
    if ready == len(states):
        status = "ok"
    elif ready or any(state.state == "degraded" for state in states):
        status = "degraded"
    else:
        status = "down"
    return _json(
        {
            "status": status,
            "version": __version__,
            "uptime_s": round(time.monotonic() - request.app[STARTED_AT], 3),
            "providers": [
                {"name": s.name, "state": s.state, "last_error": s.last_error, **s.details}
                for s in states
            ],
            "maintenance": False,
            "pid": os.getpid(),
        },
        status=503 if status == "down" else 200,
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of this app's registry."""
    app_metrics = request.app[METRICS]
    app_metrics.set_provider_states(request.app[CHAIN].health())
    response = web.Response(body=app_metrics.exposition())
    response.content_type = CONTENT_TYPE_LATEST.split(";", 1)[0]
    response.charset = "utf-8"
    return response
