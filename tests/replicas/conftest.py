"""Fixtures of the replica tests: the PostgreSQL server of their store, a Redis of their own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.postgres import PostgresServer, postgres_server
from tests.support.redis import RedisServer, redis_server

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session (started on first use, then stopped)."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A throwaway Redis server of the test's own (a test may stop and restart it)."""
    with redis_server() as server:
        yield server
