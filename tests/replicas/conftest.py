"""Fixtures of the replica tests: the PostgreSQL server their store runs on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.postgres import PostgresServer, postgres_server

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session (started on first use, then stopped)."""
    with postgres_server() as server:
        yield server
