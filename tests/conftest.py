"""Fixtures shared by every test package: settings, the persona, the app, the fakes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest

from signer.app import make_app
from signer.settings import Settings
from signer.wiring import persona_from
from tests.fakes.clock import FakeClock
from tests.fakes.tiktok import FakeTikTok

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from aiohttp.test_utils import TestClient

    from providers.typing import Persona, Provider
    from tests.fakes.server import LoopbackServer

    MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]

    Server = TypeVar("Server", bound=LoopbackServer)

    class ServeFake(Protocol):
        """Start a fake server for the current test (the ``serve_fake`` fixture)."""

        async def __call__(self, server: Server, /) -> Server:
            """Start ``server``; it is closed when the test ends."""


NATIVE = Settings(providers=("native",))


@pytest.fixture
def settings() -> Settings:
    """Embedded defaults with the native provider alone (browser tests opt in)."""
    return NATIVE


@pytest.fixture
def persona(settings: Settings) -> Persona:
    """The default persona."""
    return persona_from(settings)


@pytest.fixture
def make_client(aiohttp_client: Any) -> MakeClient:
    """Start the real app (optionally with injected providers) on loopback."""

    async def _make(
        settings: Settings | None = None, providers: list[Provider] | None = None
    ) -> TestClient[Any, Any]:
        app = make_app(settings or NATIVE, providers)
        client: TestClient[Any, Any] = await aiohttp_client(app)
        return client

    return _make


@pytest.fixture
def clock() -> FakeClock:
    """A monotonic clock that moves only when the test advances it."""
    return FakeClock()


@pytest.fixture
async def serve_fake() -> AsyncIterator[ServeFake]:
    """Start fake servers on loopback for one test; every one is closed after it."""
    started: list[LoopbackServer] = []

    async def _serve(server: Server) -> Server:
        started.append(server)
        return await server.start()

    yield _serve
    for server in reversed(started):
        await server.aclose()


@pytest.fixture
async def fake_tiktok(serve_fake: ServeFake) -> FakeTikTok:
    """TikTok's web origin on loopback, serving the pinned 5.1.3 SDK."""
    return await serve_fake(FakeTikTok())
