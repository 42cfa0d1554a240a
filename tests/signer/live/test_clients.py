"""Acceptance: the real LIVE clients connect through the service and get chat, gifts and likes.

TikTokLive 7.0.1 (in this process) and tiktok-live-connector 2.5.0 (in Node, ``node``
marker) each connect by room id and by unique id, in both transports, to the fake TikTok
on loopback: ``direct`` with the default build (1.0.0.417, a signed socket in prefix mode),
``fetch`` with build 5.1.3 (the signed ``im/fetch`` relayed). Then the failures a user
meets: a missing or wrong key, the service's rate limit, TikTok refusing or hanging, each
reaching the client as its own error, in time.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from TikTokLive.client.errors import SignAPIError, SignatureRateLimitError, WebcastBlockedError
from TikTokLive.client.web.web_settings import WebDefaults

from signer.access.keys import hash_key
from signer.app import make_app
from signer.settings import Settings
from tests.fakes.tiktok_live import (
    CHAT_TEXT,
    GIFT,
    LIKES,
    STREAMER,
    VIEWER,
    FakeTikTokLive,
)
from tests.fakes.tls import LoopbackCertificate, loopback_certificate
from tests.signer.live.clients import (
    Live,
    NodeClient,
    NodeRun,
    find_node_client,
    run_node_client,
    run_python_client,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiohttp.test_utils import TestServer

    from tests.conftest import ServeFake

    StartLive = Callable[..., Awaitable[Live]]

#: The key the clients send (the service knows only its hash).
KEY = "a-client-key-for-the-live-acceptance-tests"
#: How long the service waits for TikTok in these tests: a hang must end well before.
TIKTOK_TIMEOUT_S = 1.0
TRANSPORTS = ("direct", "fetch")
WAYS = ("room_id", "unique_id")


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCertificate:
    """The fake's TLS certificate (tiktok-live-connector calls loopback hosts over https)."""
    return loopback_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def node_client() -> NodeClient:
    """The connector and a Node that runs it, as ``scripts/setup`` installed them."""
    return find_node_client()


@pytest.fixture
def start_live(
    serve_fake: ServeFake,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    certificate: LoopbackCertificate,
    monkeypatch: pytest.MonkeyPatch,
) -> StartLive:
    """Start the fake TikTok (playing ``transport``'s player) and the service in front of it."""
    # TikTokLive reads its sign server from the environment, and httpx a proxy.
    for name in ("SIGN_API_URL", "SIGN_API_KEY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    # TikTokLive keeps its hosts in a global; run_python_client sets them.
    for name in ("tiktok_sign_url", "tiktok_sign_api_key", "tiktok_app_url", "tiktok_webcast_url"):
        monkeypatch.setattr(WebDefaults, name, getattr(WebDefaults, name))

    async def _start(transport: str = "direct", **changes: Any) -> Live:
        fake = await serve_fake(
            FakeTikTokLive(
                mode="fetch" if transport == "fetch" else "direct", tls=certificate.server_context()
            )
        )
        values: dict[str, Any] = {
            "providers": ("native",),
            "tiktok_www_url": fake.origin,
            "tiktok_webcast_url": fake.origin,
            "tiktok_ws_url": fake.ws_origin,
            "live_transport": transport,
            "sdk_version": "5.1.3" if transport == "fetch" else "1.0.0.417",
            "api_keys": (f"live-tests:{hash_key(KEY)}",),
            "sign_timeout_s": TIKTOK_TIMEOUT_S,
        }
        values.update(changes)
        server = await aiohttp_server(make_app(Settings(**values)))
        return Live(str(server.make_url("")).rstrip("/"), fake, certificate)

    return _start


def assert_through_the_service(live: Live, transport: str) -> None:
    """The socket was TikTok's own, opened with an issued ttwid; the key never reached TikTok."""
    (visit,) = live.fake.accepted_sockets
    assert visit.cookies["ttwid"] in live.fake.issued_ttwids
    assert visit.pushed == ["WebcastChatMessage", "WebcastGiftMessage", "WebcastLikeMessage"]
    if transport == "direct":
        assert visit.build == "1.0.0.417"
    else:
        assert [fetch.status for fetch in live.fake.fetches] == [200]
    for seen in live.fake.seen:
        assert KEY not in f"{seen.path} {seen.query} {seen.headers} {seen.body}"
        assert "x-api-key" not in {name.lower() for name in seen.headers}


def connect_args(way: str) -> dict[str, Any]:
    """Connect by room id (given) or by unique id (resolved)."""
    if way == "room_id":
        return {"unique_id": STREAMER.unique_id, "room_id": STREAMER.room_id}
    return {"unique_id": "@" + STREAMER.unique_id}


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_python_client_receives_chat_gift_and_likes(
    start_live: StartLive, transport: str, way: str
) -> None:
    """TikTokLive gets a CommentEvent, a GiftEvent and a LikeEvent with their content."""
    live = await start_live(transport)

    run = await run_python_client(live, key=KEY, **connect_args(way))

    comment, gift, like = (run.events[name] for name in ("CommentEvent", "GiftEvent", "LikeEvent"))
    assert run.events["ConnectEvent"].room_id == int(STREAMER.room_id)
    assert (comment.comment, comment.user.nickname, comment.user.unique_id) == (
        CHAT_TEXT,
        VIEWER.nickname,
        VIEWER.unique_id,
    )
    assert (gift.gift.id, gift.gift.name, gift.repeat_count) == (
        GIFT.gift_id,
        GIFT.name,
        GIFT.repeat_count,
    )
    assert (like.count, like.total, like.user.nickname) == (
        LIKES.count,
        LIKES.total,
        VIEWER.nickname,
    )
    assert_through_the_service(live, transport)


def assert_node_events(run: NodeRun) -> None:
    """The connector printed the chat, the gift and the likes with their content."""
    assert run.returncode == 0, (run.records, run.stderr[-2000:])
    assert run.first("connected")["roomId"] == STREAMER.room_id
    chat, gift, like = run.first("chat"), run.first("gift"), run.first("like")
    assert (chat["comment"], chat["nickname"], chat["uniqueId"]) == (
        CHAT_TEXT,
        VIEWER.nickname,
        VIEWER.unique_id,
    )
    assert (gift["giftId"], gift["giftName"], gift["repeatCount"]) == (
        str(GIFT.gift_id),
        GIFT.name,
        GIFT.repeat_count,
    )
    assert (like["likeCount"], like["totalLikeCount"]) == (LIKES.count, str(LIKES.total))


@pytest.mark.node
@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_node_client_receives_chat_gift_and_likes(
    start_live: StartLive, node_client: NodeClient, transport: str, way: str
) -> None:
    """tiktok-live-connector emits chat, gift and like; by unique id it asks the service."""
    live = await start_live(transport)

    run = await run_node_client(node_client, live, key=KEY, **connect_args(way))

    assert_node_events(run)
    assert_through_the_service(live, transport)


@pytest.mark.node
async def test_node_client_resolves_from_the_page_when_the_room_api_is_blocked(
    start_live: StartLive, node_client: NodeClient
) -> None:
    """The service falls back to the /@id/live page; the connector still connects."""
    live = await start_live("direct")
    live.fake.room_api_fails = True

    run = await run_node_client(node_client, live, key=KEY, unique_id=STREAMER.unique_id)

    assert_node_events(run)
    assert f"/@{STREAMER.unique_id}/live" in live.fake.paths


@pytest.mark.node
async def test_node_client_resolving_on_tiktok_itself(
    start_live: StartLive, node_client: NodeClient
) -> None:
    """With its defaults the connector scrapes the room id from TikTok (the fake), then connects."""
    live = await start_live("direct")

    run = await run_node_client(
        node_client, live, key=KEY, unique_id=STREAMER.unique_id, resolve_via="tiktok"
    )

    assert_node_events(run)


# -- failures, in the clients' own terms


@pytest.mark.parametrize("key", [None, "not-the-key"])
async def test_python_client_without_a_valid_key_is_refused(
    start_live: StartLive, key: str | None
) -> None:
    """A missing or wrong key: SignAPIError carrying the service's 401 envelope."""
    live = await start_live()

    with pytest.raises(SignAPIError) as refused:
        await run_python_client(live, key=key, **connect_args("room_id"))

    assert refused.value.response is not None
    assert refused.value.response.status_code == 401
    assert refused.value.response.json()["code"] == 401
    assert not live.fake.sockets


@pytest.mark.node
@pytest.mark.parametrize("key", [None, "not-the-key"])
async def test_node_client_without_a_valid_key_is_refused(
    start_live: StartLive, node_client: NodeClient, key: str | None
) -> None:
    """A missing or wrong key: the connector's SignAPIError naming the 401 and the envelope."""
    live = await start_live()

    run = await run_node_client(node_client, live, key=key, **connect_args("room_id"))

    error = run.first("connect_error")
    assert run.returncode == 1
    assert error["name"] == "SignAPIError"
    assert "status 401" in error["message"]
    assert '"code":401' in error["message"].replace(" ", "")
    assert not live.fake.sockets


async def spend_the_minute(live: Live) -> None:
    """Use the key's one request of this minute, as another connection would."""
    url = f"{live.service_url}/webcast/fetch"
    params = {"room_id": STREAMER.room_id, "client": "ttlive-python"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, params=params, headers={"X-Api-Key": KEY}) as response,
    ):
        assert response.status == 200


async def test_python_client_rate_limited(start_live: StartLive) -> None:
    """Past the limit: SignatureRateLimitError with the seconds to wait and the reset time."""
    live = await start_live(rate_limit_per_minute=1)
    await spend_the_minute(live)

    with pytest.raises(SignatureRateLimitError) as limited:
        await run_python_client(live, key=KEY, **connect_args("room_id"))

    assert 0 < limited.value.retry_after <= 60
    assert 0 < limited.value.reset_time - time.time() <= 61
    assert "Too many connections started" in str(limited.value)


@pytest.mark.node
async def test_node_client_rate_limited(start_live: StartLive, node_client: NodeClient) -> None:
    """Past the limit: the connector's SignatureRateLimitError with its retry time."""
    live = await start_live(rate_limit_per_minute=1)
    await spend_the_minute(live)

    run = await run_node_client(node_client, live, key=KEY, **connect_args("room_id"))

    error = run.first("connect_error")
    assert error["name"] == "SignatureRateLimitError"
    assert 0 < error["retryAfter"] <= 60_000
    assert 0 < error["resetTime"] / 1000 - time.time() <= 61


TIKTOK_FAILURES = [
    pytest.param({"refuse": 403}, 502, id="tiktok-403"),
    pytest.param({"refuse": 429}, 502, id="tiktok-429"),
    pytest.param({"hang": True}, 504, id="tiktok-hangs"),
]


@pytest.mark.parametrize(("failure", "status"), TIKTOK_FAILURES)
async def test_python_client_sees_tiktok_failing_in_time(
    start_live: StartLive, failure: dict[str, Any], status: int
) -> None:
    """TikTok refusing or hanging: a SignAPIError with the service's status, no hang."""
    live = await start_live()
    for name, value in failure.items():
        setattr(live.fake, name, value)
    started = time.monotonic()

    with pytest.raises(SignAPIError) as failed:
        await run_python_client(live, key=KEY, **connect_args("room_id"))

    assert time.monotonic() - started < TIKTOK_TIMEOUT_S + 4
    assert failed.value.response is not None
    assert failed.value.response.status_code == status
    assert failed.value.response.json()["code"] == status


@pytest.mark.node
@pytest.mark.parametrize(("failure", "status"), TIKTOK_FAILURES)
async def test_node_client_sees_tiktok_failing_in_time(
    start_live: StartLive, node_client: NodeClient, failure: dict[str, Any], status: int
) -> None:
    """TikTok refusing or hanging: the connector's SignAPIError with the status, no hang."""
    live = await start_live()
    for name, value in failure.items():
        setattr(live.fake, name, value)
    started = time.monotonic()

    run = await run_node_client(node_client, live, key=KEY, **connect_args("room_id"))

    assert time.monotonic() - started < TIKTOK_TIMEOUT_S + 6
    error = run.first("connect_error")
    assert error["name"] == "SignAPIError"
    assert f"status {status}" in error["message"]


@pytest.mark.node
async def test_node_client_asking_for_an_unknown_user(
    start_live: StartLive, node_client: NodeClient
) -> None:
    """TikTok knows no such user: the connector's room-id error carries the service's reason."""
    live = await start_live()

    run = await run_node_client(node_client, live, key=KEY, unique_id="nobody_at_all")

    error = run.first("connect_error")
    assert error["name"] == "InvalidResponseCompositeError"
    (cause,) = error["causes"]
    assert "Failed to retrieve Room ID from Euler due to an error" in cause
    assert not live.fake.sockets


#: The fake's clock an hour ahead: every socket token looks stale to it.
HOUR_AHEAD = 3600.0


async def test_python_client_sees_tiktok_refusing_the_socket(start_live: StartLive) -> None:
    """TikTok turning the signed socket down: WebcastBlockedError with TikTok's reason."""
    live = await start_live()
    live.fake.clock = lambda: time.time() + HOUR_AHEAD

    with pytest.raises(WebcastBlockedError, match="X-Gnarly is stale"):
        await run_python_client(live, key=KEY, **connect_args("room_id"))


@pytest.mark.node
async def test_node_client_sees_tiktok_refusing_the_socket(
    start_live: StartLive, node_client: NodeClient
) -> None:
    """TikTok turning the signed socket down: connect() fails with TikTok's reason."""
    live = await start_live()
    live.fake.clock = lambda: time.time() + HOUR_AHEAD

    run = await run_node_client(node_client, live, key=KEY, **connect_args("room_id"))

    error = run.first("connect_error")
    assert "Error connecting to WebSocket with message: X-Gnarly is stale" in error["message"]
