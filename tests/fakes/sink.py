"""A CloudEvents sink on loopback: records what it is sent; can fail, hang, or be down."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web

from tests.fakes.server import HOST, LoopbackServer, Seen

if TYPE_CHECKING:
    from tests.fakes.server import Handler


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST the sink received: header names lowercased, the body's exact bytes."""

    headers: dict[str, str]
    body: bytes
    #: The status the sink answered (None: the sender gave up before the answer).
    status: int | None

    @property
    def cloudevent_headers(self) -> dict[str, str]:
        """The ``ce-*`` headers and the content type: what the CloudEvents binding sets."""
        return {
            name: value
            for name, value in self.headers.items()
            if name.startswith("ce-") or name == "content-type"
        }

    @property
    def event_id(self) -> str:
        """The CloudEvent id, from ``ce-id`` (binary mode) or the JSON body (structured)."""
        if "ce-id" in self.headers:
            return self.headers["ce-id"]
        event: dict[str, Any] = json.loads(self.body)
        return str(event["id"])


class CloudEventsSink(LoopbackServer):
    """Answers 200 to a POST on any path; 503 while ``failing``; late by ``delay_s``.

    :meth:`down` stops listening (senders get "connection refused") and :meth:`up` listens
    again on the same port, so the sender's configured URL stays right.
    """

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        self.delay_s = 0.0
        self.deliveries: list[Delivery] = []
        self._site_runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        status = 503 if self.failing else 200
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:  # the sender gave up: it was not answered
            self.deliveries.append(Delivery(headers, body, None))
            raise
        self.deliveries.append(Delivery(headers, body, status))
        return web.Response(status=status, text="ok" if status == 200 else "unavailable")

    @property
    def accepted(self) -> list[Delivery]:
        """The deliveries answered with a 2xx, in order."""
        return [d for d in self.deliveries if d.status is not None and 200 <= d.status < 300]

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``: the same port across :meth:`down` and :meth:`up`."""
        if self._bound_port is None:
            raise RuntimeError("the sink has not started")
        return f"http://{HOST}:{self._bound_port}"

    @web.middleware
    async def _record_seen(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.seen.append(
            Seen(request.method, request.path, request.query_string, dict(request.headers), "")
        )
        return await handler(request)

    async def start(self) -> Self:
        """Listen on 127.0.0.1: a free port the first time, the same one after :meth:`down`."""
        app = web.Application(middlewares=[self._record_seen])
        app.router.add_route("POST", "/{tail:.*}", self._receive)
        app.router.add_route("*", "/{tail:.*}", self.fallback)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        await web.TCPSite(runner, HOST, self._bound_port or 0).start()
        self._site_runner = runner
        self._bound_port = runner.addresses[0][1]
        return self

    async def down(self) -> None:
        """Stop listening; the port stays this sink's for :meth:`up`."""
        runner, self._site_runner = self._site_runner, None
        if runner is not None:
            await runner.cleanup()

    async def up(self) -> None:
        """Listen again, on the same port."""
        await self.start()

    async def aclose(self) -> None:
        """Stop listening for good."""
        await self.down()
        await super().aclose()
