"""The real app on Redis: two instances (replicas) share limits and operator state."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import TYPE_CHECKING, Any

import pytest

from signer.app import make_app
from signer.app_keys import STATE
from signer.settings import Settings
from signer.state.redis import RedisState
from tests.signer.conftest import OPERATOR_KEY
from tests.support.redis import RedisServer, redis_server

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from aiohttp.test_utils import TestClient

    Client = TestClient[Any, Any]

CLIENT_KEY = "alice-client-key-0123456789"
URL = "https://www.tiktok.com/api/post/item_list/?aid=1988&count=30"


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    """One Redis server for this module's tests (each uses its own key prefix)."""
    with redis_server() as server:
        yield server


@pytest.fixture
def replicas(
    redis: RedisServer, aiohttp_client: Any
) -> Callable[..., Awaitable[tuple[Client, Client]]]:
    """Start the app twice on one Redis and one prefix: two replicas of one service."""

    async def start(**limits: Any) -> tuple[Client, Client]:
        prefix = redis.prefix()
        clients = []
        for name in ("replica-a", "replica-b"):
            settings = Settings(
                providers=("native",),
                redis_url=redis.url(),
                redis_prefix=prefix,
                admin_key=OPERATOR_KEY,
                api_keys=(f"alice:{hashlib.sha256(CLIENT_KEY.encode()).hexdigest()}",),
                replica_id=name,
                **limits,
            )
            clients.append(await aiohttp_client(make_app(settings)))
        return clients[0], clients[1]

    return start


async def sign(client: Client) -> int:
    response = await client.post("/sign", json={"url": URL}, headers={"X-Api-Key": CLIENT_KEY})
    return response.status


async def test_the_app_chooses_redis_when_a_url_is_set(
    replicas: Callable[..., Awaitable[tuple[Client, Client]]],
) -> None:
    """SIGNER_REDIS_URL set: the app's shared state is the Redis backend."""
    one, _ = await replicas()
    assert isinstance(one.app[STATE], RedisState)


async def test_a_limit_spent_on_one_replica_refuses_on_the_other(
    replicas: Callable[..., Awaitable[tuple[Client, Client]]],
) -> None:
    """The bucket is one: two requests through replica a, the third through b is a 429."""
    one, two = await replicas(rate_limit_rps=0.5, rate_limit_burst=2)
    assert [await sign(one), await sign(one)] == [200, 200]
    response = await two.post("/sign", json={"url": URL}, headers={"X-Api-Key": CLIENT_KEY})
    assert response.status == 429
    assert response.headers["Retry-After"] == "2"
    assert (await response.json())["error"]["code"] == "rate_limited"


async def test_maintenance_on_one_replica_holds_on_the_other_within_a_second(
    replicas: Callable[..., Awaitable[tuple[Client, Client]]],
) -> None:
    """POST /admin/maintenance through a: b's sign routes answer 503 within a second."""
    one, two = await replicas()
    assert await sign(two) == 200
    response = await one.post(
        "/admin/maintenance",
        json={"enabled": True, "reason": "sdk changed", "retry_after_s": 30},
        headers={"X-Admin-Key": OPERATOR_KEY},
    )
    assert response.status == 200
    started = time.monotonic()
    while await sign(two) != 503:
        assert time.monotonic() - started < 1.0, "replica b still signs after 1 s"
        await asyncio.sleep(0.01)
    health = await (await two.get("/health")).json()
    assert health["maintenance"] is True
    assert health["maintenance_reason"] == "sdk changed"


async def test_health_names_the_replica(
    replicas: Callable[..., Awaitable[tuple[Client, Client]]],
) -> None:
    """/health says which replica answered."""
    one, two = await replicas()
    assert (await (await one.get("/health")).json())["replica"] == "replica-a"
    assert (await (await two.get("/health")).json())["replica"] == "replica-b"
