"""The server loop: slow, idle and surplus clients, unparsable requests, a bounded shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Self

import pytest
import structlog

from providers.fake import FakeProvider
from signer.app import make_app
from signer.app_keys import DRAIN
from signer.logs import LibraryLogBridge
from signer.runner import serve_app
from signer.settings import Settings
from signer.wiring import persona_from
from tests.support import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from providers.fake import Behaviour

URL = "https://www.tiktok.com/api/post/item_list/?aid=1988"


class Running:
    """serve_app on a free loopback port, stopped by the test (as SIGTERM would)."""

    def __init__(self, behaviour: Behaviour = "ok", **settings: Any) -> None:
        self.settings = Settings(providers=("native",), port=free_port(), **settings)
        self.provider = FakeProvider("fake", persona_from(self.settings), behaviour)
        self.app = make_app(self.settings, [self.provider])
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        """Start serving and wait until the port answers."""
        self.task = asyncio.create_task(
            serve_app(self.app, self.settings, self.app[DRAIN], stop=self.stop)
        )
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.settings.port)
                writer.close()
                return self
            await asyncio.sleep(0.01)
        pytest.fail("the server did not start")

    async def __aexit__(self, *_exc: object) -> None:
        """Stop, as SIGTERM would, and wait for the drain to end."""
        self.stop.set()
        assert self.task is not None
        await self.task

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A new connection to the server."""
        return await asyncio.open_connection("127.0.0.1", self.settings.port)


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP answer: status, headers, body (by Content-Length)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


def sign_request(body: bytes = b'{"url": "' + URL.encode() + b'"}') -> bytes:
    return (
        b"POST /sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


@pytest.fixture
async def bridge() -> AsyncIterator[None]:
    """Aiohttp's log records through the structlog bridge, as configure_logging sets it up."""
    handler = LibraryLogBridge()
    root = logging.getLogger()
    root.addHandler(handler)
    yield
    root.removeHandler(handler)


async def test_a_slow_request_head_gets_408_and_is_closed() -> None:
    """A head still incomplete after SIGNER_READ_TIMEOUT_S gets a 408 JSON, then EOF."""
    async with Running(read_timeout_s=0.3) as server:
        reader, writer = await server.connect()
        writer.write(b"POST /sign HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        status, headers, body = await read_answer(reader)
        assert (status, headers["content-type"]) == (408, "application/json")
        assert json.loads(body)["error"]["code"] == "request_timeout"
        assert await reader.read() == b""
        assert 0.25 < time.monotonic() - started < 2
        writer.close()


async def test_a_slow_body_gets_408(bridge: None) -> None:
    """A body that stops arriving is answered 408 request_timeout within the read timeout."""
    async with Running(read_timeout_s=0.3) as server:
        reader, writer = await server.connect()
        writer.write(sign_request(b'{"url": "https://www.tiktok.com/api/x/?a=1"}')[:-10])
        status, _, body = await read_answer(reader)
        assert (status, json.loads(body)["error"]["code"]) == (408, "request_timeout")
        writer.close()


async def test_an_idle_connection_is_closed() -> None:
    """A connection that sends nothing is closed after SIGNER_KEEPALIVE_TIMEOUT_S."""
    async with Running(keepalive_timeout_s=0.3) as server:
        reader, writer = await server.connect()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_connections_past_the_cap_get_503() -> None:
    """The connection past SIGNER_MAX_CONNECTIONS gets a 503 JSON; those before it work."""
    async with Running(max_connections=2) as server:
        first = await server.connect()
        second = await server.connect()
        await asyncio.sleep(0.05)
        reader, writer = await server.connect()
        status, headers, body = await read_answer(reader)
        assert status == 503
        assert headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "too_many_connections"
        writer.close()
        first[1].write(sign_request())
        assert (await read_answer(first[0]))[0] == 200
        for _, opened in (first, second):
            opened.close()


async def test_an_unparsable_request_gets_json_and_quotes_nothing(bridge: None) -> None:
    """A malformed header is a 400 in the JSON envelope; neither answer nor log quote it."""
    secret = b"alice-key-0123456789"
    async with Running() as server:
        reader, writer = await server.connect()
        with structlog.testing.capture_logs() as logs:
            writer.write(
                b"GET /health HTTP/1.1\r\nHost: x\r\nX-Api-Key: " + secret + b"\x01\r\n\r\n"
            )
            status, headers, body = await read_answer(reader)
        writer.close()
    assert (status, headers["content-type"]) == (400, "application/json")
    assert json.loads(body)["error"]["code"] == "bad_request"
    assert headers["server"] == "tiktok-signer"
    assert secret not in body
    assert secret.decode() not in repr(logs)
    assert [event["event"] for event in logs] == ["library_error"]


async def test_shutdown_answers_what_is_still_running_and_ends_by_the_deadline() -> None:
    """On stop, /health says draining; a request that outlives the deadline gets a 503."""
    server = Running("hang", shutdown_timeout_s=1.0, sign_timeout_s=60)
    async with server:
        kept_reader, kept_writer = await server.connect()
        kept_writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        # The hanging provider reports itself failed: "down" until the drain begins.
        assert json.loads((await read_answer(kept_reader))[2])["status"] == "down"
        reader, writer = await server.connect()
        writer.write(sign_request())
        await asyncio.sleep(0.1)
        server.stop.set()
        started = time.monotonic()
        await asyncio.sleep(0.1)
        kept_writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = await read_answer(kept_reader)
        assert (status, json.loads(body)["status"], headers["connection"]) == (
            503,
            "draining",
            "close",
        )
        status, headers, body = await read_answer(reader)
        assert (status, json.loads(body)["error"]["code"]) == (503, "shutting_down")
        assert headers["retry-after"] == "1"
        assert server.task is not None
        await server.task
        assert time.monotonic() - started < 1.0
        writer.close()
        kept_writer.close()


async def test_drain_delay_keeps_serving_while_health_says_draining() -> None:
    """SIGNER_DRAIN_DELAY_S: /health 503 at once, signs still served, then the port closes."""
    server = Running(drain_delay_s=0.6, shutdown_timeout_s=1.0)
    async with server:
        server.stop.set()
        await asyncio.sleep(0.1)
        reader, writer = await server.connect()  # still accepting during the delay
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = await read_answer(reader)
        assert (status, json.loads(body)["status"]) == (503, "draining")
        writer.close()
        reader, writer = await server.connect()
        writer.write(sign_request())
        status, _, body = await read_answer(reader)
        assert status == 200, body
        writer.close()
        await asyncio.sleep(0.8)  # the delay is over: no new connection is taken
        with pytest.raises(ConnectionRefusedError):
            await server.connect()
