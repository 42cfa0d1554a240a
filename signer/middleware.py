"""The edge of every request: request id, errors as JSON, metrics, one log line.

It is one middleware, not three: each layer costs a coroutine frame on the hot path.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from aiohttp import web

from providers.errors import ProvidersError
from signer.errors import SignerError, provider_error_status
from signer.logs import REQUEST_ID as CURRENT_REQUEST_ID

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from aiohttp.typedefs import Middleware

    from signer.metrics import Metrics

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
    #: Renders an error: (HTTP status, code, message, details) -> body bytes.
    Envelope = Callable[[int, str, str, Mapping[str, Any]], bytes]
    #: Shapes an error's headers for a route group: (HTTP status, the headers the error
    #: carries, its details) -> the headers to answer with.
    ErrorHeaders = Callable[[int, Mapping[str, str], Mapping[str, Any]], Mapping[str, str]]

log = structlog.get_logger("signer.http")

REQUEST_ID = "X-Request-Id"
_VALID_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
#: Where handlers leave fields for the request's log line (provider, attempts, ...).
LOG_FIELDS = web.RequestKey("log_fields", dict[str, Any])

#: The Server header of every answer (no versions: they only help an attacker).
SERVER = "tiktok-signer"
_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)


def next_id() -> str:
    """A new request id: a random per-process prefix and a counter (unique, cheap)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


@dataclass(slots=True)
class Drain:
    """Requests in flight, and how far a shutdown has gone (kept by the edge middleware)."""

    inflight: set[asyncio.Task[Any]] = field(default_factory=set)
    #: SIGTERM came: answers close their connection, /health says "draining".
    draining: bool = False
    #: The deadline came: requests still running are answered 503 at once.
    deadline_passed: bool = False


def standard_envelope(_status: int, code: str, message: str, details: Mapping[str, Any]) -> bytes:
    """The error body of most routes: ``{"status": "error", "error": {"code", "message"}}``."""
    error: dict[str, Any] = {"code": code, "message": message}
    error.update(details)
    return orjson.dumps({"status": "error", "error": error})


def error_response(
    status: int,
    code: str,
    message: str,
    envelope: Envelope = standard_envelope,
    **details: Any,
) -> web.Response:
    """A JSON error response in ``envelope``."""
    response = web.Response(
        status=status,
        body=envelope(status, code, message, details),
        content_type="application/json",
    )
    response.headers["Server"] = SERVER  # also for answers made before the edge runs
    return response


def _from_http_exception(exc: web.HTTPException, envelope: Envelope) -> web.Response:
    status = exc.status
    code = _HTTP_CODES.get(status, "http_error")
    if status == 404:
        message = "no such route"
    elif status == 405:
        message = f"method not allowed here; allowed: {exc.headers.get('Allow', '')}"
    elif status == 413:
        message = "the body is over the size limit"
    else:
        message = exc.reason
    response = error_response(status, code, message, envelope)
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


def expect_continue(limit: int) -> Callable[[web.Request], Awaitable[web.StreamResponse | None]]:
    """An ``Expect: 100-continue`` handler that refuses an over-limit body before it comes.

    aiohttp's own handler says "100 Continue" to any declared length; this one answers the
    JSON 413 first when the declared length is over ``limit`` (the client never sends it).
    """

    async def handle(request: web.Request) -> web.StreamResponse | None:
        expect = request.headers.get("Expect", "").lower()
        if expect != "100-continue":
            return error_response(
                417, "expectation_failed", "only Expect: 100-continue is understood"
            )
        declared = request.content_length
        if declared is not None and declared > limit:
            response = error_response(
                413,
                "body_too_large",
                f"body of {declared} bytes is over the limit of {limit} bytes",
            )
            response.force_close()
            return response
        if request.version >= (1, 1):
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0
        return None

    return handle


def make_edge_middleware(
    metrics: Metrics,
    envelopes: Mapping[str, Envelope] | None = None,
    drain: Drain | None = None,
    error_headers: Mapping[str, ErrorHeaders] | None = None,
) -> Middleware:
    """Build the middleware bound to one app's metrics, its routes' envelopes, its drain.

    ``error_headers`` holds, by canonical path, the routes whose group shapes the headers
    of its error answers (the Euler routes' 429); the others answer an error's headers as
    it carries them.
    """
    envelopes = envelopes if envelopes is not None else {}
    shapers = error_headers if error_headers is not None else {}
    drain = drain if drain is not None else Drain()
    inflight = drain.inflight

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get(REQUEST_ID)
        request_id = incoming if incoming and _VALID_ID.fullmatch(incoming) else next_id()
        started = time.perf_counter()
        token = CURRENT_REQUEST_ID.set(request_id)
        task = asyncio.current_task()
        if task is not None:
            inflight.add(task)
        try:
            response: web.StreamResponse
            try:
                response = await handler(request)
            # The edge is the one place that catches broadly: no error leaves as a traceback.
            except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001
                response = _error_answer(request, exc, envelopes, drain, shapers)
            if drain.draining:
                response.force_close()  # the client reconnects to a worker that stays
            headers = response.headers
            headers[REQUEST_ID] = request_id
            headers["Server"] = SERVER
            seconds = time.perf_counter() - started
            route = _route(request)
            metrics.observe_request(route, request.method, response.status, seconds)
            fields = request.get(LOG_FIELDS, {})
            log.info(
                "request",
                request_id=request_id,
                method=request.method,
                route=route,
                status=response.status,
                duration_ms=round(seconds * 1000, 3),
                **fields,
            )
        finally:
            inflight.discard(task)
            CURRENT_REQUEST_ID.reset(token)
        return response

    return edge


def _error_answer(
    request: web.Request,
    exc: BaseException,
    envelopes: Mapping[str, Envelope],
    drain: Drain,
    shapers: Mapping[str, ErrorHeaders],
) -> web.StreamResponse:
    """The JSON answer to what a handler raised, in the route group's envelope."""
    route = _route(request)
    if route == "unmatched" and isinstance(exc, web.HTTPMethodNotAllowed):
        route = _resource_of_path(request) or route  # the path's group answers its 405
    envelope = envelopes.get(route, standard_envelope)
    if isinstance(exc, SignerError):
        response = error_response(exc.status, exc.code, exc.message, envelope, **exc.details)
        shape = shapers.get(route)
        headers = exc.headers if shape is None else shape(exc.status, exc.headers, exc.details)
        response.headers.update(headers)
        causes = exc.details.get("causes")
        if causes:  # a 503 of the chain: the log line names each provider's cause
            request[LOG_FIELDS] = {**request.get(LOG_FIELDS, {}), "failed": causes}
        return response
    if isinstance(exc, ProvidersError):  # e.g. an operator's restart that cannot start
        return error_response(provider_error_status(exc.code), exc.code, exc.message, envelope)
    if isinstance(exc, web.HTTPException):
        return _from_http_exception(exc, envelope)
    if isinstance(exc, asyncio.CancelledError):
        if not drain.deadline_passed:
            raise exc
        # The shutdown's deadline came: answer rather than drop the connection.
        response = error_response(
            503, "shutting_down", "the service is shutting down; retry", envelope
        )
        response.headers["Retry-After"] = "1"
        return response
    log.error("unhandled_error", path=request.path, exc_info=exc)
    return error_response(500, "internal_error", "the service failed; see its log", envelope)


def _resource_of_path(request: web.Request) -> str | None:
    """The canonical path of the route whose path matches a request no method matched."""
    path = request.path
    for resource in request.app.router.resources():
        info = resource.get_info()
        pattern = info.get("pattern")
        if info.get("path") == path or (pattern is not None and pattern.fullmatch(path)):
            return resource.canonical
    return None


def _route(request: web.Request) -> str:
    """The canonical path of the route that matched (``unmatched`` for none)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"
