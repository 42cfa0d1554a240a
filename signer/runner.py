"""Serving one app: connection limits, JSON for aiohttp's own errors, a bounded shutdown.

aiohttp's ``run_app`` holds slow and idle clients forever, answers a malformed request in
plain text, and shuts down in up to twice its timeout, dropping what is still running.
Here (as uvicorn does it: start-up, main loop, deadline-bounded shutdown):

* a request head must arrive within ``SIGNER_READ_TIMEOUT_S`` of its first byte (the
  body too, see ``signer.inputs.read_body``), an idle connection is closed after
  ``SIGNER_KEEPALIVE_TIMEOUT_S``, and past ``SIGNER_MAX_CONNECTIONS`` a new connection gets
  a 503 and is closed;
* a request aiohttp cannot parse gets the JSON error envelope, never its own text;
* on SIGTERM ``/health`` answers 503 ``draining`` at once and the service keeps serving for
  ``SIGNER_DRAIN_DELAY_S`` (a balancer's health check takes it out of rotation meanwhile);
  then the listening socket closes, requests in flight get until
  ``SIGNER_SHUTDOWN_TIMEOUT_S`` to finish, those still running are answered 503
  ``shutting_down`` just before the deadline, and the process is gone by it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from signer import __version__
from signer.middleware import SERVER, Drain, standard_envelope

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiohttp.web_request import BaseRequest

    from signer.settings import Settings

log = structlog.get_logger("signer.server")

#: What an error aiohttp answers before any route runs says, by status (never its text,
#: which may quote the bytes of the request).
_PARSER_ERRORS = {
    400: ("bad_request", "the request is not valid HTTP"),
    417: ("expectation_failed", "only Expect: 100-continue is understood"),
    408: ("request_timeout", "the request did not arrive in time"),
    413: ("body_too_large", "the request is too large"),
    431: ("headers_too_large", "the request's headers are too large"),
    500: ("internal_error", "the service failed; see its log"),
}


@dataclass(frozen=True, slots=True)
class Limits:
    """How long a client may take, and how many may be connected at once."""

    read_timeout_s: float = 10.0
    keepalive_timeout_s: float = 15.0
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """``SIGNER_READ_TIMEOUT_S``, ``SIGNER_KEEPALIVE_TIMEOUT_S``, ``SIGNER_MAX_CONNECTIONS``."""
        return cls(settings.read_timeout_s, settings.keepalive_timeout_s, settings.max_connections)


def raw_error(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 error answer in the JSON envelope, for a connection with no request."""
    body = standard_envelope(status, code, message, {})
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nServer: {SERVER}\r\n"
        "Retry-After: 1\r\n\r\n"
    )
    return head.encode() + body


class SignerRequestHandler(RequestHandler):
    """aiohttp's protocol with a read deadline, a connection cap and JSON parser errors."""

    __slots__ = ("_limits", "_read_mark", "_read_timer")

    def __init__(self, manager: web.Server, *, limits: Limits, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._limits = limits
        self._read_timer: asyncio.TimerHandle | None = None
        self._read_mark = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Refuse the connection past the cap (503, then closed); else serve it."""
        super().connection_made(transport)
        manager = self._manager
        if manager is not None and len(manager.connections) > self._limits.max_connections:
            transport.write(  # type: ignore[attr-defined]
                raw_error(
                    503,
                    "Service Unavailable",
                    "too_many_connections",
                    "the service has as many connections as it takes; retry",
                )
            )
            self.force_close()

    def data_received(self, data: bytes) -> None:
        """Parse; a request head that started must be complete within the read timeout."""
        count = self._request_count
        super().data_received(data)
        if self._request_count != count:  # a whole head came: the common case, nothing to do
            if self._read_timer is not None:
                self._cancel_read_timer()
        elif self._read_timer is None and not self._request_in_progress and data:
            self._read_mark = count
            self._read_timer = self._loop.call_later(
                self._limits.read_timeout_s, self._read_timed_out
            )

    def connection_lost(self, exc: BaseException | None) -> None:
        """Forget the read timer with the connection."""
        self._cancel_read_timer()
        super().connection_lost(exc)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self._request_count != self._read_mark or self._request_in_progress:
            return
        if self.transport is not None:
            self.transport.write(raw_error(408, "Request Timeout", *_PARSER_ERRORS[408]))
        self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The JSON error envelope for what aiohttp refuses before any route runs."""
        del message  # may quote the request's bytes
        self.log_exception("Error handling request", exc_info=exc)  # one line, see logs.py
        if request.writer.output_size > 0:
            raise ConnectionError("the answer was already being sent")
        code, text = _PARSER_ERRORS.get(status, ("http_error", "the request was refused"))
        response = web.Response(
            status=status,
            body=standard_envelope(status, code, text, {}),
            content_type="application/json",
        )
        response.headers["Server"] = SERVER
        response.force_close()
        return response


class SignerServer(web.Server):
    """aiohttp's low-level server, making :class:`SignerRequestHandler` connections."""

    def __init__(self, handler: Any, *, limits: Limits, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._limits = limits

    def __call__(self) -> RequestHandler:
        """One connection's protocol."""
        return SignerRequestHandler(self, loop=self._loop, limits=self._limits, **self._kwargs)


class SignerRunner(web.AppRunner):
    """An AppRunner whose server is a :class:`SignerServer`."""

    __slots__ = ("_limits",)

    def __init__(self, app: web.Application, *, limits: Limits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # runs the app's start-up
        return SignerServer(
            _json_http_errors(made.request_handler),
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=asyncio.get_running_loop(),
            limits=self._limits,
            **self._kwargs,
        )


def _json_http_errors(
    handler: Callable[[BaseRequest], Awaitable[web.StreamResponse]],
) -> Callable[[BaseRequest], Awaitable[web.StreamResponse]]:
    """The app's handler, with aiohttp's own refusals before any middleware made JSON.

    An ``Expect`` header is handled before the middlewares run: on an unmatched route
    aiohttp's handler raises a plain-text 417.
    """

    async def handle(request: BaseRequest) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            code, text = _PARSER_ERRORS.get(exc.status, ("http_error", exc.reason))
            response = web.Response(
                status=exc.status,
                body=standard_envelope(exc.status, code, text, {}),
                content_type="application/json",
            )
            response.force_close()
            return response

    return handle


async def serve_app(
    app: web.Application,
    settings: Settings,
    drain: Drain,
    *,
    reuse_port: bool = False,
    stop: asyncio.Event | None = None,
) -> None:
    """Start ``app``, serve until SIGTERM/SIGINT (or ``stop``), then drain within the deadline.

    Start-up errors (a provider that cannot start, a port that is taken) propagate.
    """
    limits = Limits.from_settings(settings)
    runner = SignerRunner(
        app,
        limits=limits,
        access_log=None,
        keepalive_timeout=limits.keepalive_timeout_s,
        # What is left after the drain is idle: close it at once.
        shutdown_timeout=0.1,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port or None)
        await site.start()
        log.info(
            "server_started",
            version=__version__,
            host=settings.host,
            port=settings.port,
            providers=list(settings.providers),
            pid=os.getpid(),
        )
        if stop is None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await drain_delay(drain, settings.drain_delay_s)
        log.info("server_stopping", deadline_s=settings.shutdown_timeout_s)
        await drain_requests(drain, site, settings.shutdown_timeout_s)
    finally:
        await runner.cleanup()


async def drain_delay(drain: Drain, delay_s: float) -> None:
    """Answer /health 503 "draining" and keep serving ``delay_s`` seconds.

    A balancer checking /health stops sending here before the listening socket closes;
    nothing is refused meanwhile.
    """
    drain.draining = True
    if delay_s > 0:
        log.info("server_draining", delay_s=delay_s)
        await asyncio.sleep(delay_s)


async def drain_requests(drain: Drain, site: web.BaseSite, timeout_s: float) -> None:
    """Stop accepting; let requests in flight finish; answer the rest 503 by the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    drain.draining = True
    await site.stop()
    # A tenth of the time (at most a second) is kept to answer what is left and close.
    answer_by = deadline - min(1.0, timeout_s / 10)
    if drain.inflight:
        await asyncio.wait(set(drain.inflight), timeout=max(0.0, answer_by - loop.time()))
    if drain.inflight:
        log.warning("shutdown_deadline", requests=len(drain.inflight))
        drain.deadline_passed = True
        for task in list(drain.inflight):
            task.cancel()
        await asyncio.wait(set(drain.inflight), timeout=max(0.05, deadline - loop.time()))
