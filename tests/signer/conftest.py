"""Fixtures for the service tests (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from tests.conftest import MakeClient


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    """The app on embedded defaults."""
    return await make_client()
