"""Fixtures for the service tests: the production app factory on loopback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from signer.app import make_app
from signer.settings import Settings
from signer.wiring import persona_from

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiohttp.test_utils import TestClient

    from providers.typing import Persona, Provider

    MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


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
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    """The app on embedded defaults."""
    return await make_client()
