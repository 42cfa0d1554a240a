"""The base of every fake server: an aiohttp app on 127.0.0.1 that records its requests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from aiohttp import web

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable
    from types import TracebackType

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Seen:
    """One request a fake received, as it arrived."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str


class LoopbackServer:
    """An aiohttp app on 127.0.0.1 and a free port; every request is recorded in ``seen``.

    A fake registers its routes in ``__init__`` with :meth:`add_route`; a test may add or
    override routes the same way before :meth:`start` (the first route that matches wins).
    Whatever no route matches goes to :meth:`fallback`. Use it as an async context manager,
    or call :meth:`start` and :meth:`aclose`. With ``tls``, the same app also listens with
    TLS on a second free port (:attr:`tls_origin`), for clients that insist on ``https``.
    """

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.seen: list[Seen] = []
        self._routes: list[tuple[str, str, Handler]] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._tls = tls
        self._tls_port: int | None = None
        self._closing = asyncio.Event()

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        """Answer ``method`` (or ``*``) on ``path`` with ``handler``; only before start."""
        if self._runner is not None:
            raise RuntimeError("routes are fixed once the server has started")
        self._routes.append((method, path, handler))

    async def fallback(self, request: web.Request) -> web.StreamResponse:
        """Answer what no route matches: 404, as a real server would."""
        raise web.HTTPNotFound(text=f"no route for {request.method} {request.path}")

    async def until_closed(self) -> None:
        """Wait until the server closes (what a hanging handler awaits)."""
        await self._closing.wait()

    @property
    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [seen.path for seen in self.seen]

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        if self._port is None:
            raise RuntimeError("the server has not started")
        return f"http://{HOST}:{self._port}"

    @property
    def tls_origin(self) -> str:
        """``https://127.0.0.1:PORT`` of the TLS listener (only when built with ``tls``)."""
        if self._tls_port is None:
            raise RuntimeError("the server has no TLS listener, or has not started")
        return f"https://{HOST}:{self._tls_port}"

    def url(self, path: str = "") -> str:
        """The absolute URL of ``path`` on this server."""
        return self.origin + path

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.text()
        self.seen.append(
            Seen(request.method, request.path, request.query_string, dict(request.headers), body)
        )
        return await handler(request)

    async def start(self) -> Self:
        """Listen on 127.0.0.1 (a free port); the routes are fixed from now on."""
        app = web.Application(middlewares=[self._record])
        for method, path, handler in self._routes:
            app.router.add_route(method, path, handler)
        app.router.add_route("*", "/{tail:.*}", self.fallback)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        await web.TCPSite(runner, HOST, 0).start()
        if self._tls is not None:
            await web.TCPSite(runner, HOST, 0, ssl_context=self._tls).start()
            self._tls_port = runner.addresses[1][1]
        self._runner = runner
        self._port = runner.addresses[0][1]
        return self

    async def aclose(self) -> None:
        """Release hanging handlers and stop listening."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        """Start the server."""
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the server."""
        await self.aclose()
