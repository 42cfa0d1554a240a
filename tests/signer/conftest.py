"""Fixtures for the service tests (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from providers.fake import FakeProvider
from signer.settings import Settings
from signer.wiring import persona_from

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from tests.conftest import MakeClient

#: The admin key of ``operated``: send it as ``{"X-Admin-Key": OPERATOR_KEY}``.
OPERATOR_KEY = "an-operators-key-of-some-length"


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    """The app on embedded defaults."""
    return await make_client()


@pytest.fixture
async def operated(make_client: MakeClient) -> TestClient[Any, Any]:
    """The app with an admin key and two fake providers, ``one`` then ``two``."""
    persona = persona_from(Settings())
    fakes = [FakeProvider("one", persona), FakeProvider("two", persona)]
    return await make_client(Settings(providers=("native",), admin_key=OPERATOR_KEY), fakes)
