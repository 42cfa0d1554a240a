"""Fixtures of the contract suites: the PostgreSQL and Redis servers the backends run against."""

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


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    """One throwaway Redis server for the session; each test keeps to its own key prefix."""
    with redis_server() as server:
        yield server
