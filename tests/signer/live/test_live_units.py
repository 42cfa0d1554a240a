"""The LIVE API's parts alone: envelope, 429 headers, room parsing, player query, pool."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
import pytest

from signer.errors import BadRequest, TikTokRefused
from signer.live import euler
from signer.live.session import GuestSessions, TikTokAnswer, merge_cookies
from signer.live.transport import player_query, raw_query
from signer.live.webcast import (
    Room,
    room_from_lookup,
    room_from_page,
    room_id_of,
    unique_id_of,
)
from tests.signer.live.tiny_tiktok import TinyTikTok
from tests.support import load_vectors

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from providers.typing import Persona
    from tests.conftest import ServeFake
    from tests.fakes.clock import FakeClock

WS_VECTORS: list[dict[str, Any]] = load_vectors("sdk-1.0.0.417-ws.json")["vectors"]


def test_the_envelope_is_code_and_message() -> None:
    body = orjson.loads(euler.envelope(400, "bad_request", "no", {"x": 1}))
    assert body == {"code": 400, "message": "no"}


@pytest.mark.parametrize(
    ("details", "label"),
    [
        ({"limit": "minute", "retry_after_s": 3}, "rate_limit_account_minute"),
        ({"limit": "second", "retry_after_s": 1}, "rate_limit_account_second"),
        ({"limit": "day", "retry_after_s": 1}, "rate_limit_account_day"),
        ({}, "rate_limit_auth_failures"),
    ],
)
def test_a_429_names_its_limit(details: dict[str, Any], label: str) -> None:
    body = orjson.loads(euler.envelope(429, "rate_limited", "slow down", details))
    assert body == {"code": 429, "message": "slow down", "limit_label": label}


def test_429_headers_as_the_clients_read_them() -> None:
    shape = euler.make_error_headers(clock=lambda: 1_800_000_000.5)
    standard = {
        "RateLimit-Limit": "5",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "40",
        "Retry-After": "40",
    }
    shaped = shape(429, standard, {"retry_after_s": 40, "limit": "minute"})
    assert shaped == {
        "RateLimit-Limit": "5",
        "RateLimit-Remaining": "40",
        "RateLimit-Reset": "1800000040",
        "X-RateLimit-Reset": "1800000040",
        "Retry-After": "40",
    }
    throttled = shape(429, {"Retry-After": "7"}, {})
    assert throttled["RateLimit-Remaining"] == "7"
    other = {"Retry-After": "30"}
    assert shape(503, other, {}) is other


def lookup(payload: object, status: int = 200) -> TikTokAnswer:
    return TikTokAnswer(status, orjson.dumps(payload), (), "application/json")


LIVE_USER = {"roomId": "71", "status": 2}
OFF_USER = {"roomId": "71", "status": 4}


@pytest.mark.parametrize(
    ("payload", "room"),
    [
        ({"data": {"user": LIVE_USER}}, Room("71", is_live=True)),
        ({"data": {"user": OFF_USER, "liveRoom": {"status": 2}}}, Room("71", is_live=True)),
        ({"data": {"user": {**OFF_USER, "roomId": 71}}}, Room("71", is_live=False)),
        ({"data": {"user": {"roomId": "", "status": 2}}}, Room(None, is_live=False)),
        ({"data": {"user": {"roomId": "0"}}}, Room(None, is_live=False)),
        ({"data": {}, "message": "user_not_found"}, None),
        ({"data": None}, None),
        ([1, 2], None),
    ],
)
def test_the_room_lookup_is_read(payload: object, room: Room | None) -> None:
    assert room_from_lookup(lookup(payload)) == room


def test_a_failed_lookup_says_nothing() -> None:
    assert room_from_lookup(lookup({"data": {"user": {"roomId": "7"}}}, status=403)) is None
    bad = TikTokAnswer(200, b"<html>", (), "text/html")
    assert room_from_lookup(bad) is None


def test_the_live_page_state_is_read() -> None:
    state = {"LiveRoom": {"liveRoomUserInfo": {"user": {"roomId": "72", "status": 2}}}}
    page = (
        b"<html><script src='x.js'></script><script type=\"application/json\" "
        b'id="SIGI_STATE">' + orjson.dumps(state) + b"</script></html>"
    )
    assert room_from_page(page) == Room("72", is_live=True)
    assert room_from_page(b"<html>nothing</html>") is None
    empty = b'<script id="SIGI_STATE" type="application/json">{"LiveRoom":{}}</script>'
    assert room_from_page(empty) is None


def test_ids_are_checked() -> None:
    assert room_id_of("7123") == "7123"
    assert unique_id_of(" @some.user_1 ") == "some.user_1"
    for bad in ("", "12a", "-1"):
        with pytest.raises(BadRequest):
            room_id_of(bad)
    for bad in ("", "@", "a b", "a/b", "x" * 65):
        with pytest.raises(BadRequest):
            unique_id_of(bad)


@pytest.mark.parametrize(
    "vector",
    [v for v in WS_VECTORS if "device_id=757" in v["X-MS-Q"] and v["X-MS-Q"].count("&") == 28],
    ids=lambda v: v["id"],
)
def test_the_player_query_is_the_sdks(persona: Persona, vector: dict[str, Any]) -> None:
    """Byte for byte the query of the shared socket vectors (the player's order)."""
    query = dict(pair.split("=", 1) for pair in vector["X-MS-Q"].split("&"))
    player = dataclasses.replace(
        persona,
        language=query["browser_language"],
        screen_width=int(query["screen_width"]),
        screen_height=int(query["screen_height"]),
    )
    pairs = player_query(
        vector["user_agent"], query["room_id"], player, query["tz_name"], query["device_id"]
    )
    assert raw_query(pairs) == vector["X-MS-Q"]


def test_cookies_merge_with_ttwid_first() -> None:
    merged = merge_cookies((("a", "1"), ("ttwid", "t")), (("b", "2"), ("a", "3")))
    assert merged == (("ttwid", "t"), ("a", "3"), ("b", "2"))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def test_the_pool_is_bounded_and_ages(
    serve_fake: ServeFake, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """At most max_sessions kept (least recently used go); an old one is visited again."""
    tiktok = await serve_fake(TinyTikTok())
    pool = GuestSessions(tiktok.origin, timeout_s=2, max_sessions=2, max_age_s=60, clock=clock)
    first = await pool.get(http, "alice", "UA 1")
    assert first.header.startswith("ttwid=")
    assert await pool.get(http, "alice", "UA 1") is first
    await pool.get(http, "alice", "UA 2")
    await pool.get(http, "bob", "UA 1")
    assert (pool.size, pool.visits) == (2, 3)
    again = await pool.get(http, "alice", "UA 1")  # evicted: a new visit, a new ttwid
    assert again.cookies[0] != first.cookies[0]
    assert pool.visits == 4
    clock.advance(61)
    await pool.get(http, "alice", "UA 1")
    assert pool.visits == 5


async def test_concurrent_requests_share_one_visit(
    serve_fake: ServeFake, http: aiohttp.ClientSession
) -> None:
    tiktok = await serve_fake(TinyTikTok())
    pool = GuestSessions(tiktok.origin, timeout_s=2)
    sessions = await asyncio.gather(*(pool.get(http, "", "UA") for _ in range(8)))
    assert len({id(session) for session in sessions}) == 1
    assert tiktok.paths == ["/live"]


async def test_a_failed_visit_is_not_kept(
    serve_fake: ServeFake, http: aiohttp.ClientSession
) -> None:
    tiktok = await serve_fake(TinyTikTok())
    tiktok.visit_mode = "403"
    pool = GuestSessions(tiktok.origin, timeout_s=2)
    with pytest.raises(TikTokRefused):
        await pool.get(http, "", "UA")
    tiktok.visit_mode = "ok"
    assert (await pool.get(http, "", "UA")).header.startswith("ttwid=")
    assert pool.size == 1
