"""The fake TikTok LIVE: it serves what real TikTok would, and refuses what TikTok would refuse."""

from __future__ import annotations

import asyncio
import gzip
import re
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from TikTokLive.client.web.routes.fetch_room_id_live_html import FetchRoomIdLiveHTMLRoute
from yarl import URL

from providers.native import NativeProvider
from providers.typing import PersonaStore, SignRequest
from signer.live import proto
from signer.settings import Settings
from signer.wiring import persona_from
from tests.fakes.tiktok_live import (
    CHAT_TEXT,
    GIFT,
    LIKES,
    OFFLINE,
    PUSH_PATH,
    SOCKET_PATH,
    STREAMER,
    VIEWER,
    FakeTikTokLive,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.conftest import ServeFake

UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36"
)
#: The player's socket query (sdk-2026.md's order), raw: spaces as spaces.
PLAYER_QUERY = (
    "version_code=180800&device_platform=web&cookie_enabled=true&screen_width=1920"
    "&screen_height=1080&browser_language=en-US&browser_platform=Win32&browser_name=Mozilla"
    f"&browser_version={UA.removeprefix('Mozilla/')}&browser_online=true"
    "&tz_name=America/New_York&app_name=tiktok_web&sup_ws_ds_opt=1&update_version_code=2.0.0"
    "&compress=gzip&webcast_language=en&aid=1988&live_id=12&version_code=270000"
    f"&app_language=en&ws_direct=1&client_enter=1&room_id={STREAMER.room_id}"
    "&identity=audience&last_rtt=-1&heartbeat_duration=10000&resp_content_type=protobuf"
    "&did_rule=3&device_id="
)


@pytest.fixture
async def fake(serve_fake: ServeFake) -> FakeTikTokLive:
    """The fake in direct mode (the 2026 player)."""
    return await serve_fake(FakeTikTokLive())


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps no cookies of its own: each test sends what it means to."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


def native(sdk_version: str = "1.0.0.417") -> NativeProvider:
    """The native provider imitating ``sdk_version``."""
    return NativeProvider(PersonaStore(persona_from(Settings(sdk_version=sdk_version))))


async def guest_cookies(http: aiohttp.ClientSession, fake: FakeTikTokLive) -> str:
    """Visit ``/live`` as a browser; the Cookie header the guest then sends."""
    async with http.get(fake.url("/live"), headers={"User-Agent": UA}) as response:
        return "; ".join(f"{name}={morsel.value}" for name, morsel in response.cookies.items())


def signed_socket_url(fake: FakeTikTokLive, query: str = PLAYER_QUERY, ua: str = UA) -> str:
    """The player's socket URL signed by the native provider, as it goes on the wire."""
    url = fake.ws_origin + SOCKET_PATH + "?" + query
    return native().sign_now(SignRequest(url, user_agent=ua, kind="ws")).signed_url


def enter_room_frame(room_id: str) -> bytes:
    """The frame a client sends after the upgrade."""
    enter = proto.WebcastImEnterRoomMessage(room_id=int(room_id), live_id=12, identity="audience")
    return proto.WebcastPushFrame(
        payload_type="im_enter_room", payload_encoding="pb", payload=enter.SerializeToString()
    ).SerializeToString()


async def read_events(socket: aiohttp.ClientWebSocketResponse) -> list[tuple[str, Any]]:
    """Read frames up to the third ``msg``; each message decoded, acked as the clients do."""
    events: list[tuple[str, Any]] = []
    kinds: dict[
        str, type[proto.WebcastChatMessage | proto.WebcastGiftMessage | proto.WebcastLikeMessage]
    ] = {
        "WebcastChatMessage": proto.WebcastChatMessage,
        "WebcastGiftMessage": proto.WebcastGiftMessage,
        "WebcastLikeMessage": proto.WebcastLikeMessage,
    }
    while len(events) < 3:
        frame = proto.WebcastPushFrame.FromString(await socket.receive_bytes(timeout=5))
        if frame.payload_type != "msg":
            continue
        assert frame.headers["compress_type"] == "gzip"
        result = proto.ProtoMessageFetchResult.FromString(gzip.decompress(frame.payload))
        await socket.send_bytes(
            proto.WebcastPushFrame(
                payload_type="ack", log_id=frame.log_id, payload=result.internal_ext.encode()
            ).SerializeToString()
        )
        events.extend((m.method, kinds[m.method].FromString(m.payload)) for m in result.messages)
    return events


async def test_guest_visit_issues_cookies_to_a_browser(
    fake: FakeTikTokLive, http: aiohttp.ClientSession
) -> None:
    """A browser gets ttwid, tt_chain_token and odin_tt; the ttwid is remembered."""
    async with http.get(fake.url("/live"), headers={"User-Agent": UA}) as response:
        cookies = {name: morsel.value for name, morsel in response.cookies.items()}

    assert set(cookies) == {"ttwid", "tt_chain_token", "odin_tt"}
    assert fake.issued_ttwids == {cookies["ttwid"]}


async def test_guest_visit_gives_a_script_no_cookies(
    fake: FakeTikTokLive, http: aiohttp.ClientSession
) -> None:
    """A non-browser User-Agent, or a cookie-less answer the test asked for: no cookies."""
    fake.cookieless_visits = 1
    async with http.get(fake.url("/live"), headers={"User-Agent": "curl/8"}) as script:
        assert not script.cookies
    async with http.get(fake.url("/live"), headers={"User-Agent": UA}) as unlucky:
        assert not unlucky.cookies
    assert not fake.issued_ttwids


async def test_room_api_answers_as_tiktok(
    fake: FakeTikTokLive, http: aiohttp.ClientSession
) -> None:
    """Live, offline and unknown users, in TikTok's shapes."""
    answers = {}
    for unique_id in (STREAMER.unique_id, OFFLINE.unique_id, "nobody"):
        url = fake.url(f"/api-live/user/room/?aid=1988&sourceType=54&uniqueId={unique_id}")
        async with http.get(url) as response:
            answers[unique_id] = await response.json()

    live = answers[STREAMER.unique_id]["data"]
    assert (live["user"]["roomId"], live["user"]["status"], live["liveRoom"]["status"]) == (
        STREAMER.room_id,
        2,
        2,
    )
    assert answers[OFFLINE.unique_id]["data"]["liveRoom"]["status"] == 4
    assert answers["nobody"]["message"] == "user_not_found"


async def test_room_page_reads_with_the_clients_parser(
    fake: FakeTikTokLive, http: aiohttp.ClientSession
) -> None:
    """The page's SIGI_STATE gives TikTokLive's own parser the room id."""
    fake.room_api_fails = True
    async with http.get(fake.url(f"/@{STREAMER.unique_id}/live")) as page:
        html = await page.text()
    async with http.get(fake.url("/api-live/user/room/?aid=1988&sourceType=54&uniqueId=x")) as api:
        assert api.status == 403

    assert FetchRoomIdLiveHTMLRoute.parse_room_id(html) == STREAMER.room_id


async def test_direct_socket_pushes_the_events_after_enter_room(
    fake: FakeTikTokLive, http: aiohttp.ClientSession
) -> None:
    """A signed socket with an issued ttwid: chat, gift and likes, gzip-compressed."""
    cookie = await guest_cookies(http, fake)
    url = URL(signed_socket_url(fake) + "&_=?room_id=1&compress=gzip", encoded=True)
    headers = {"User-Agent": UA, "Cookie": cookie}

    async with http.ws_connect(url, headers=headers, protocols=("echo-protocol",)) as socket:
        await socket.send_bytes(enter_room_frame(STREAMER.room_id))
        events = await read_events(socket)
        await asyncio.sleep(0.05)  # the last ack reaches the fake

    (_, chat), (_, gift), (_, likes) = events
    assert [method for method, _ in events] == [
        "WebcastChatMessage",
        "WebcastGiftMessage",
        "WebcastLikeMessage",
    ]
    assert (chat.content, chat.user.nickname, chat.user.display_id) == (
        CHAT_TEXT,
        VIEWER.nickname,
        VIEWER.unique_id,
    )
    assert (gift.gift_id, gift.gift.name, gift.repeat_count) == (
        GIFT.gift_id,
        GIFT.name,
        GIFT.repeat_count,
    )
    assert (likes.count, likes.total) == (LIKES.count, LIKES.total)
    (visit,) = fake.sockets
    assert (visit.accepted, visit.build, visit.entered_room) == (
        True,
        "1.0.0.417",
        int(STREAMER.room_id),
    )
    assert len(visit.acks) == 3


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("no ttwid", "no ttwid issued here"),
        ("other user agent", "bad X-Gnarly"),
        ("query changed", "bad X-Gnarly"),
        ("stale token", "stale"),
        ("unsigned", "no X-Gnarly"),
    ],
)
async def test_direct_socket_refuses_what_tiktok_refuses(
    fake: FakeTikTokLive, http: aiohttp.ClientSession, change: str, reason: str
) -> None:
    """Each broken condition is a 400 with the reason in Handshake-Msg; nothing upgrades."""
    cookie = await guest_cookies(http, fake)
    url = signed_socket_url(fake)
    headers = {"User-Agent": UA, "Cookie": cookie}
    if change == "no ttwid":
        headers["Cookie"] = "ttwid=1%7Cmade-up"
    elif change == "other user agent":
        headers["User-Agent"] = UA.replace("129", "130")
    elif change == "query changed":
        url = url.replace("room_id=", "room_id=1", 1)
    elif change == "stale token":
        fake.clock = lambda: 10_000_000_000.0
    else:
        url = url.partition("&X-Gnarly=")[0]

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(URL(url, encoded=True), headers=headers)

    assert refused.value.status == 400
    assert refused.value.headers is not None
    assert reason in refused.value.headers["Handshake-Msg"]
    assert not fake.accepted_sockets


async def test_direct_mode_refuses_a_signed_im_fetch(
    fake: FakeTikTokLive, http: aiohttp.ClientSession
) -> None:
    """The 2026 pages do not sign im/fetch; TikTok answers one carrying X-Gnarly with 403."""
    cookie = await guest_cookies(http, fake)
    headers = {"User-Agent": UA, "Cookie": cookie}

    async with http.get(URL(signed_fetch_url(fake), encoded=True), headers=headers) as response:
        assert response.status == 403


@pytest.fixture
async def fetch_fake(serve_fake: ServeFake) -> FakeTikTokLive:
    """The fake in fetch mode (the 2025 player)."""
    return await serve_fake(FakeTikTokLive(mode="fetch"))


def signed_fetch_url(fake: FakeTikTokLive, ua: str = UA) -> str:
    """``im/fetch`` signed as build 5.1.3 signs it."""
    url = fake.url(
        "/webcast/im/fetch/?aid=1988&app_name=tiktok_web&browser_name=Mozilla"
        f"&browser_version={UA.removeprefix('Mozilla/').replace(' ', '%20')}"
        f"&cursor=&internal_ext=&room_id={STREAMER.room_id}&resp_content_type=protobuf"
    )
    return native("5.1.3").sign_now(SignRequest(url, user_agent=ua, ms_token="tok")).signed_url


async def test_fetch_mode_serves_a_signed_im_fetch_and_its_push_socket(
    fetch_fake: FakeTikTokLive, http: aiohttp.ClientSession
) -> None:
    """A 2025-signed im/fetch names the push server; its wrss and ttwid open it, unsigned."""
    cookie = await guest_cookies(http, fetch_fake)
    headers = {"User-Agent": UA, "Cookie": cookie}
    async with http.get(URL(signed_fetch_url(fetch_fake), encoded=True), headers=headers) as got:
        assert got.status == 200
        result = proto.ProtoMessageFetchResult.FromString(await got.read())
    assert result.push_server == fetch_fake.ws_origin + PUSH_PATH
    assert (result.is_first, result.need_ack, bool(result.cursor)) == (True, True, True)

    query = f"wrss={result.route_params['wrss']}&room_id={STREAMER.room_id}&compress=gzip"
    async with http.ws_connect(result.push_server + "?" + query, headers=headers) as socket:
        await socket.send_bytes(enter_room_frame(STREAMER.room_id))
        events = await read_events(socket)

    methods = [method for method, _ in events]
    assert methods == ["WebcastChatMessage", "WebcastGiftMessage", "WebcastLikeMessage"]
    assert fetch_fake.accepted_sockets[0].pushed == methods


@pytest.mark.parametrize("change", ["unsigned", "other user agent", "no ttwid"])
async def test_fetch_mode_refuses_a_bad_im_fetch(
    fetch_fake: FakeTikTokLive, http: aiohttp.ClientSession, change: str
) -> None:
    """Unsigned, signed for another User-Agent, or without an issued ttwid: 403."""
    cookie = await guest_cookies(http, fetch_fake)
    url = signed_fetch_url(fetch_fake)
    headers = {"User-Agent": UA, "Cookie": cookie}
    if change == "unsigned":
        url = re.sub(r"&msToken=.*", "", url)
    elif change == "other user agent":
        headers["User-Agent"] = UA.replace("129", "130")
    else:
        del headers["Cookie"]

    async with http.get(URL(url, encoded=True), headers=headers) as response:
        assert response.status == 403
    assert fetch_fake.fetches[-1].refused


async def test_push_socket_needs_the_issued_wrss(
    fetch_fake: FakeTikTokLive, http: aiohttp.ClientSession
) -> None:
    """Without the wrss im/fetch issued, the push server refuses the upgrade."""
    cookie = await guest_cookies(http, fetch_fake)
    url = fetch_fake.ws_origin + PUSH_PATH + f"?wrss=guess&room_id={STREAMER.room_id}"

    with pytest.raises(aiohttp.WSServerHandshakeError):
        await http.ws_connect(url, headers={"User-Agent": UA, "Cookie": cookie})


async def test_refuse_and_hang_switches(fake: FakeTikTokLive, http: aiohttp.ClientSession) -> None:
    """``refuse`` answers the service's routes with that status; ``hang`` never answers."""
    fake.refuse = 429
    async with http.get(fake.url("/live"), headers={"User-Agent": UA}) as refused:
        assert refused.status == 429
    fake.refuse = None
    fake.hang = True
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await http.get(fake.url("/live"), headers={"User-Agent": UA})
