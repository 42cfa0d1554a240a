"""Three replicas of the service as one: real processes, HAProxy, PostgreSQL (and Redis).

Native-only replicas on loopback ports (no Chromium), Debian's haproxy in front, a
throwaway PostgreSQL as the partner store. Time bounds are generous: CI has 2 cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import psycopg
import pytest

from tests.fakes.sink import CloudEventsSink
from tests.fakes.tiktok_shop import FakeTikTokShop, Seller
from tests.support.replicas import get_json, haproxy, replicas

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping
    from pathlib import Path

    from tests.support.postgres import PostgresServer
    from tests.support.redis import RedisServer
    from tests.support.replicas import HAProxy, Replicas

ADMIN_KEY = "replicas-admin-key-0123456789"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
APP_KEY = "replica-app-key"
APP_SECRET = "replica-app-secret"
URL = "https://www.tiktok.com/api/post/item_list/?aid=1988&count=30"


@pytest.fixture
def database(postgres: PostgresServer) -> Iterator[str]:
    """A fresh database on the session's PostgreSQL server, dropped after the test."""
    name = f"replicas_{secrets.token_hex(4)}"
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres.url(name)
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.asynccontextmanager
async def started(count: int, directory: Path, env: Mapping[str, str]) -> AsyncIterator[Replicas]:
    """``replicas(...)`` started and stopped off the event loop (the fakes serve on it)."""
    manager = replicas(count, directory, env)
    group = await asyncio.to_thread(manager.__enter__)
    try:
        yield group
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


@contextlib.asynccontextmanager
async def balanced(ports: list[int], directory: Path) -> AsyncIterator[HAProxy]:
    """HAProxy in front of ``ports``, started off the event loop."""
    manager = haproxy(ports, directory)
    front = await asyncio.to_thread(manager.__enter__)
    try:
        yield front
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


async def until(condition: Any, timeout_s: float, what: str) -> None:
    """Wait (really) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def signing_load(
    session: aiohttp.ClientSession,
    origin: str,
    *,
    clients: int,
    seconds: float,
    headers: Mapping[str, str] | None = None,
) -> list[int]:
    """``clients`` clients POST /sign to ``origin`` for ``seconds``: every answer's status."""
    statuses: list[int] = []
    stop_at = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < stop_at:
            async with session.post(
                f"{origin}/sign", json={"url": URL}, headers=headers
            ) as response:
                await response.read()
                statuses.append(response.status)

    await asyncio.gather(*(client() for _ in range(clients)))
    return statuses


async def _admin_add(session: aiohttp.ClientSession, origin: str, **fields: Any) -> None:
    body = {"app_key": APP_KEY, "app_secret": APP_SECRET, **fields}
    async with session.post(
        f"{origin}/admin/partner/integrations", json=body, headers=ADMIN
    ) as response:
        assert response.status == 201, await response.text()


# -- rolling restarts


async def test_sigterm_under_load_through_haproxy_fails_no_request(tmp_path: Path) -> None:
    """One replica of three is stopped while load goes through HAProxy: every request 200."""
    env = {"SIGNER_DRAIN_DELAY_S": "1.0", "SIGNER_SHUTDOWN_TIMEOUT_S": "5"}
    async with (
        started(3, tmp_path, env) as group,
        balanced(group.ports, tmp_path) as front,
        aiohttp.ClientSession() as session,
    ):
        load = asyncio.create_task(signing_load(session, front.origin, clients=6, seconds=4.0))
        await asyncio.sleep(1.0)
        group[1].terminate()
        code = await asyncio.to_thread(group[1].wait_exit, 20)
        statuses = await load
        assert code == 0
        assert len(statuses) > 100
        assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        log = group[1].log_path.read_text()
        assert "server_draining" in log


# -- the partner workers with PostgreSQL as the store


def _shop_webhook(n: int) -> tuple[bytes, str]:
    body = json.dumps(
        {"type": 1, "tts_notification_id": f"replica-event-{n}", "shop_id": "7001",
         "timestamp": int(time.time()), "data": {"order_id": str(9000 + n)}},
        separators=(",", ":"),
    ).encode()  # fmt: skip
    signature = hmac.new(APP_SECRET.encode(), APP_KEY.encode() + body, hashlib.sha256)
    return body, signature.hexdigest()


async def test_webhooks_delivered_once_by_three_replicas(tmp_path: Path, database: str) -> None:
    """Accepted while the sink is down, then delivered exactly once, all three draining."""
    async with CloudEventsSink() as sink:
        await sink.down()
        env = {
            "SIGNER_DATABASE_URL": database,
            "SIGNER_SECRET_KEY": "replicas-secret-key-0123456789",
            "SIGNER_ADMIN_KEY": ADMIN_KEY,
            "SIGNER_SINK_URL": sink.origin + "/events",
            "SIGNER_OUTBOX_RETRY_BASE_S": "0.2",
            "SIGNER_OUTBOX_RETRY_MAX_S": "0.5",
        }
        async with (
            started(3, tmp_path, env) as group,
            balanced(group.ports, tmp_path) as front,
            aiohttp.ClientSession() as session,
        ):
            await _admin_add(session, group[0].origin, id="shop", kind="shop")
            sent = []
            for n in range(30):
                body, signature = _shop_webhook(n)
                async with session.post(
                    f"{front.origin}/webhooks/shop/shop", data=body,
                    headers={"Authorization": signature, "Content-Type": "application/json"},
                ) as response:  # fmt: skip
                    assert response.status == 200, await response.text()
                    sent.append((await response.json())["id"])
            await asyncio.sleep(1.0)  # every replica tries, fails and backs off meanwhile
            await sink.up()
            await until(lambda: len(sink.accepted) >= len(sent), 20, "every delivery")
            await asyncio.sleep(1.5)  # a second delivery of anything would come now
            ids = [delivery.event_id for delivery in sink.accepted]
            assert sorted(ids) == sorted(sent)
            delivered_by = {
                replica.index
                for replica in group
                if "outbox_delivered" in replica.log_path.read_text()
            }
            failed_by = {
                replica.index
                for replica in group
                if "outbox_delivery_failed" in replica.log_path.read_text()
            }
            assert len(failed_by) >= 2, "the replicas that took webhooks all tried the sink"
            assert delivered_by, "someone delivered"


async def test_a_token_due_is_refreshed_once_by_three_replicas(
    tmp_path: Path, database: str
) -> None:
    """Three refreshers on one PostgreSQL store: the advisory lock lets one refresh."""
    shop = FakeTikTokShop(APP_KEY, APP_SECRET, time.time, access_ttl_s=63)
    shop_entry = {"id": "7001", "name": "Shop", "region": "GB", "seller_type": "LOCAL",
              "cipher": "ROW_c", "code": "X"}  # fmt: skip
    seller = Seller("open-replica", "Replica Seller", [shop_entry])

    async def slow_down_later_refreshes() -> None:
        shop.access_ttl_s = 7 * 86400  # the new pair is not due for a week

    shop.on_refresh = slow_down_later_refreshes
    async with shop:
        env = {
            "SIGNER_DATABASE_URL": database,
            "SIGNER_SECRET_KEY": "replicas-secret-key-0123456789",
            "SIGNER_ADMIN_KEY": ADMIN_KEY,
            "SIGNER_SHOP_AUTH_URL": shop.origin,
            "SIGNER_SHOP_API_URL": shop.origin,
            "SIGNER_SHOP_AUTHORIZE_URL": shop.url("/open/authorize"),
            "SIGNER_SHOP_REFRESH_BEFORE_S": "60",
            "SIGNER_SHOP_REFRESH_INTERVAL_S": "1",
        }
        async with started(3, tmp_path, env) as group, aiohttp.ClientSession() as session:
            await _admin_add(session, group[0].origin, id="shop", kind="shop", service_id="7")
            async with session.get(
                f"{group[1].origin}/partner/shop/oauth/authorize?integration=shop",
                allow_redirects=False,
            ) as response:
                state = parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]
            code = shop.issue_code(seller)
            callback = f"{group[2].origin}/partner/shop/oauth/callback?code={code}&state={state}"
            async with session.get(callback) as response:
                assert response.status == 200, await response.text()
            # Due 3 s from now (63 s of life, refreshed 60 s before): wait past it.
            await asyncio.sleep(6.0)
            assert shop.count("/api/v2/token/refresh") == 1
            status, listed = await asyncio.to_thread(
                get_json, f"{group[0].origin}/partner/shop/accounts"
            )
            (account,) = listed["accounts"]
            assert status == 200
            assert account["state"] == "active"
            assert account["access_token_expires_at"] > time.time() + 86400


# -- shared state in Redis

CLIENT_KEY = "alice-client-key-0123456789"
KEYED = {
    "SIGNER_API_KEYS": f"alice:{hashlib.sha256(CLIENT_KEY.encode()).hexdigest()}",
    "SIGNER_ADMIN_KEY": ADMIN_KEY,
    "SIGNER_TRUSTED_PROXIES": "127.0.0.1",
}


CLIENT = {"X-Api-Key": CLIENT_KEY}


async def _sign(session: aiohttp.ClientSession, origin: str) -> int:
    async with session.post(f"{origin}/sign", json={"url": URL}, headers=CLIENT) as response:
        await response.read()
        return response.status


async def test_one_rate_limit_across_three_replicas(tmp_path: Path, redis: RedisServer) -> None:
    """A client's bucket is one, whichever replica HAProxy picks: accepted <= burst + rate*t."""
    rate, burst = 4.0, 5
    env = {
        **KEYED,
        "SIGNER_REDIS_URL": redis.url(),
        "SIGNER_RATE_LIMIT_RPS": str(rate),
        "SIGNER_RATE_LIMIT_BURST": str(burst),
    }
    async with (
        started(3, tmp_path, env) as group,
        balanced(group.ports, tmp_path) as front,
        aiohttp.ClientSession() as session,
    ):
        began = time.monotonic()
        statuses = []
        while time.monotonic() - began < 3.0:
            statuses.extend(await asyncio.gather(*(_sign(session, front.origin) for _ in range(4))))
        elapsed = time.monotonic() - began
        accepted = statuses.count(200)
        assert set(statuses) <= {200, 429}
        assert accepted <= burst + rate * elapsed + 1, (accepted, elapsed)
        assert accepted >= burst  # the limit is shared, not zero
        assert statuses.count(429) > len(statuses) / 2  # three local buckets would pass more


async def test_maintenance_through_one_replica_holds_on_all_within_a_second(
    tmp_path: Path, redis: RedisServer
) -> None:
    """POST /admin/maintenance to one replica: the other two answer 503 within 1 s."""
    env = {**KEYED, "SIGNER_REDIS_URL": redis.url()}
    async with started(3, tmp_path, env) as group, aiohttp.ClientSession() as session:
        async with session.post(
            f"{group[0].origin}/admin/maintenance", json={"enabled": True}, headers=ADMIN
        ) as response:
            assert response.status == 200
        began = time.monotonic()
        pending = {group[1].origin, group[2].origin}
        while pending:
            assert time.monotonic() - began < 1.0, f"not in maintenance yet: {pending}"
            pending = {o for o in pending if await _sign(session, o) != 503}
        healths = [await asyncio.to_thread(get_json, f"{r.origin}/health") for r in group]
        assert [h["replica"] for _, h in healths] == ["replica-0", "replica-1", "replica-2"]
        assert all(h["maintenance"] for _, h in healths)


async def test_redis_restarted_under_load(tmp_path: Path, redis: RedisServer) -> None:
    """Redis dies and comes back while clients sign: no request fails, the replicas reconnect.

    Rate limits fail open meanwhile; a change made after the restart reaches every replica.
    """
    env = {
        **KEYED,
        "SIGNER_REDIS_URL": redis.url(),
        "SIGNER_RATE_LIMIT_RPS": "100000",
        "SIGNER_RATE_LIMIT_BURST": "100000",
    }
    async with (
        started(3, tmp_path, env) as group,
        balanced(group.ports, tmp_path) as front,
        aiohttp.ClientSession() as session,
    ):
        load = asyncio.create_task(
            signing_load(session, front.origin, clients=4, seconds=5.0, headers=CLIENT)
        )
        await asyncio.sleep(1.0)
        await asyncio.to_thread(redis.stop)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(redis.start)
        statuses = await load
        assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        assert len(statuses) > 100
        # Reconnected: a change through one replica reaches the others again.
        deadline = time.monotonic() + 10.0
        while True:
            async with session.post(
                f"{group[2].origin}/admin/maintenance", json={"enabled": True}, headers=ADMIN
            ) as response:
                if response.status == 200:
                    break
            assert time.monotonic() < deadline, "changes still fail after Redis came back"
            await asyncio.sleep(0.2)
        await until_all_503(session, [group[0].origin, group[1].origin])


async def until_all_503(session: aiohttp.ClientSession, origins: list[str]) -> None:
    """Every origin's sign route answers 503 (maintenance) within 3 s."""
    deadline = time.monotonic() + 3.0
    pending = set(origins)
    while pending:
        assert time.monotonic() < deadline, f"not in maintenance: {pending}"
        pending = {o for o in pending if await _sign(session, o) != 503}
        await asyncio.sleep(0.05)
