"""``/webcast/fetch`` and ``/connect`` in both transports, against the small TikTok."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
import structlog

from providers.selfcheck import verify_ws
from providers.urls import parse_socket
from signer.live import proto
from signer.live.transport import PAD, SOCKET_PATH
from tests.signer.live.tiny_tiktok import USERS, fetch_body

if TYPE_CHECKING:
    from aiohttp import ClientResponse

    from tests.signer.live.conftest import Live
    from tests.signer.live.tiny_tiktok import TinyTikTok

MAC_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36 Edg/128.0.2739.79"
)
FIREFOX_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:150.0) Gecko/20100101 Firefox/150.0"
ROOM = USERS["streamer"][0]


async def decoded(answer: ClientResponse) -> Any:
    assert answer.status == 200, await answer.text()
    assert answer.content_type == "application/x-protobuf"
    return proto.ProtoMessageFetchResult.FromString(await answer.read())


def check_cookies(answer: ClientResponse, tiktok: TinyTikTok) -> None:
    """``ttwid`` first (the one this TikTok issued), then the visit's other cookies."""
    pairs = [pair.split("=", 1) for pair in answer.headers["X-Set-TT-Cookie"].split("; ")]
    assert pairs[0] == ["ttwid", tiktok.issued[-1]]
    assert dict(pairs) == {
        "ttwid": tiktok.issued[-1],
        "tt_chain_token": "chain-token==",
        "odin_tt": "odin",
    }


async def test_direct_answers_a_signed_socket_prefix(live: Live, tiktok: TinyTikTok) -> None:
    """TikTokLive's fetch: push_server is the signed player query, its token verifies."""
    client = await live()
    answer = await client.get(
        "/webcast/fetch",
        params={"client": "ttlive-python", "room_id": ROOM, "user_agent": MAC_UA},
    )
    result = await decoded(answer)
    check_cookies(answer, tiktok)
    assert answer.headers["X-Room-Id"] == ROOM
    assert (result.cursor, result.is_first, result.need_ack) == ("0", True, True)
    assert result.heartbeat_duration == 10000
    assert len(result.messages) == 0
    push_server = result.push_server
    assert push_server.startswith(tiktok.ws_origin + SOCKET_PATH + "?version_code=180800&")
    assert push_server.endswith(PAD)
    socket = parse_socket(push_server.removesuffix(PAD))
    assert socket is not None
    assert " " not in push_server  # spaces go on the wire as %20
    verify_ws(socket.query, MAC_UA, socket.x_gnarly)  # raises when it does not verify
    params = dict(pair.split("=", 1) for pair in reversed(socket.query.split("&")))
    assert dict(result.route_params) == params | {"version_code": "180800"}
    assert "X-Gnarly" not in result.route_params
    assert params["browser_platform"] == "MacIntel"
    assert params["browser_version"] == MAC_UA.removeprefix("Mozilla/")
    assert (params["browser_name"], params["tz_name"]) == ("Mozilla", "America/New_York")
    assert (params["room_id"], params["did_rule"]) == (ROOM, "0")
    assert len(params["device_id"]) == 19
    assert params["device_id"].isdigit()


async def test_connect_takes_the_room_from_the_path(live: Live, tiktok: TinyTikTok) -> None:
    """tiktok-live-connector's route; its user agent signs the token."""
    client = await live()
    answer = await client.get(
        f"/webcast/rooms/{ROOM}/connect",
        params={"client": "ttlive-node", "cursor": "", "user_agent": FIREFOX_UA},
        headers={"Accept": "application/protobuf,application/json"},
    )
    result = await decoded(answer)
    assert answer.headers["X-Room-Id"] == ROOM
    assert answer.headers["X-Set-TT-Cookie"].startswith("ttwid=")
    socket = parse_socket(result.push_server.removesuffix(PAD))
    assert socket is not None
    verify_ws(socket.query, FIREFOX_UA, socket.x_gnarly)
    assert result.route_params["browser_platform"] == "Win32"


async def test_a_unique_id_is_resolved(live: Live, tiktok: TinyTikTok) -> None:
    """``unique_id`` goes through TikTok's room lookup; X-Room-Id says the room."""
    client = await live()
    answer = await client.get("/webcast/fetch", params={"unique_id": "@streamer"})
    result = await decoded(answer)
    assert answer.headers["X-Room-Id"] == ROOM
    assert result.route_params["room_id"] == ROOM
    assert "/api-live/user/room/" in tiktok.paths


async def test_the_live_page_is_the_fallback(live: Live, tiktok: TinyTikTok) -> None:
    """When the JSON lookup fails, the page's SIGI_STATE gives the room."""
    tiktok.lookup_broken = True
    client = await live()
    answer = await client.get("/webcast/fetch", params={"unique_id": "streamer"})
    await decoded(answer)
    assert answer.headers["X-Room-Id"] == ROOM
    assert "/@streamer/live" in tiktok.paths


@pytest.mark.parametrize("broken", [False, True])
async def test_an_unknown_user_is_a_404(live: Live, tiktok: TinyTikTok, broken: bool) -> None:
    """Neither the lookup nor the page knows the user: 404 in the clients' envelope."""
    tiktok.lookup_broken = broken
    client = await live()
    answer = await client.get("/webcast/fetch", params={"unique_id": "nobody_here"})
    assert answer.status == 404
    body = await answer.json()
    assert body["code"] == 404
    assert "nobody_here" in body["message"]


async def test_a_user_without_a_room_is_a_404(live: Live) -> None:
    client = await live()
    answer = await client.get("/webcast/fetch", params={"unique_id": "nolive"})
    assert answer.status == 404
    assert (await answer.json())["code"] == 404


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"room_id": "12ab"},
        {"unique_id": "no/slash"},
        {"room_id": ROOM, "user_agent": "Mozilla/5.0 \u00e9"},
        {"room_id": ROOM, "user_agent": "Mozilla/5.0 (X11; Linux x86_64) a&b=c"},
    ],
)
async def test_bad_input_is_a_400(live: Live, params: dict[str, str]) -> None:
    client = await live()
    answer = await client.get("/webcast/fetch", params=params)
    assert answer.status == 400
    body = await answer.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == 400


async def test_fetch_relays_the_signed_im_fetch(live: Live, tiktok: TinyTikTok) -> None:
    """2025 build, fetch transport: TikTok's body unchanged, the session's cookies sent."""
    client = await live(sdk_version="5.1.3", live_transport="fetch")
    answer = await client.get(
        "/webcast/fetch",
        params={"room_id": ROOM, "user_agent": FIREFOX_UA, "cursor": "", "apiKey": "x"},
    )
    assert answer.status == 200, await answer.text()
    assert answer.content_type == "application/x-protobuf"
    assert await answer.read() == fetch_body()
    check_cookies(answer, tiktok)
    assert answer.headers["X-Room-Id"] == ROOM
    fetched = next(seen for seen in tiktok.seen if seen.path == "/webcast/im/fetch/")
    assert fetched.headers["User-Agent"] == FIREFOX_UA
    assert fetched.headers["Cookie"].startswith(f"ttwid={tiktok.issued[-1]}; ")
    for needed in ("room_id=" + ROOM, "resp_content_type=protobuf", "did_rule=3", "msToken="):
        assert needed in fetched.query
    assert "apiKey" not in fetched.query
    assert "browser_platform=Win32" in fetched.query


async def test_auto_is_fetch_for_a_2025_build(live: Live, tiktok: TinyTikTok) -> None:
    client = await live(sdk_version="5.1.3")
    answer = await client.get("/webcast/fetch", params={"room_id": ROOM})
    assert await answer.read() == fetch_body()


async def test_fetch_refused_by_tiktok_is_a_502(live: Live, tiktok: TinyTikTok) -> None:
    tiktok.fetch_status = 403
    client = await live(sdk_version="5.1.3", live_transport="fetch")
    answer = await client.get("/webcast/fetch", params={"room_id": ROOM})
    assert answer.status == 502
    assert (await answer.json())["code"] == 502
    tiktok.fetch_status = 200  # the refused session is dropped: the next one is new
    again = await client.get("/webcast/fetch", params={"room_id": ROOM})
    assert again.status == 200
    assert tiktok.paths.count("/live") == 2


@pytest.mark.parametrize(
    ("changes", "needs"),
    [
        ({"live_transport": "fetch"}, "SIGNER_LIVE_TRANSPORT=direct"),
        ({"live_transport": "direct", "sdk_version": "5.1.3"}, "SIGNER_LIVE_TRANSPORT=fetch"),
    ],
)
async def test_a_transport_the_build_cannot_serve_is_a_501(
    live: Live, tiktok: TinyTikTok, changes: dict[str, str], needs: str
) -> None:
    """Transport fetch with a 2026 build, direct with a 2025 one: the message says what to set."""
    client = await live(**changes)
    answer = await client.get("/webcast/fetch", params={"room_id": ROOM})
    assert answer.status == 501
    body = await answer.json()
    assert body["code"] == 501
    assert needs in body["message"]
    assert tiktok.seen == []


@pytest.mark.parametrize("mode", ["403", "429"])
async def test_a_refused_guest_visit_is_a_502(live: Live, tiktok: TinyTikTok, mode: str) -> None:
    tiktok.visit_mode = mode  # type: ignore[assignment]
    client = await live()
    answer = await client.get("/webcast/fetch", params={"room_id": ROOM})
    assert answer.status == 502
    body = await answer.json()
    assert body["code"] == 502
    assert f"HTTP {mode}" in body["message"]
    assert tiktok.paths == ["/live"]  # a refusal is not retried


async def test_a_hanging_tiktok_is_a_504_within_the_timeout(live: Live, tiktok: TinyTikTok) -> None:
    tiktok.visit_mode = "hang"
    client = await live(sign_timeout_s=0.3)
    started = time.monotonic()
    answer = await client.get("/webcast/fetch", params={"room_id": ROOM})
    assert answer.status == 504
    assert (await answer.json())["code"] == 504
    assert time.monotonic() - started < 2.0


async def test_a_hanging_room_lookup_is_a_504_without_fallback(
    live: Live, tiktok: TinyTikTok
) -> None:
    tiktok.lookup_hangs = True
    client = await live(sign_timeout_s=0.3)
    started = time.monotonic()
    answer = await client.get("/webcast/anchors/streamer/room_id")
    assert answer.status == 504
    assert "room lookup" in (await answer.json())["message"]
    assert time.monotonic() - started < 2.0
    assert "/@streamer/live" not in tiktok.paths


async def test_cookie_less_visits_are_retried_a_bounded_number_of_times(
    live: Live, tiktok: TinyTikTok
) -> None:
    """Two answers without ttwid, then one with: served; always without: 502 after 3."""
    tiktok.cookie_less_visits = 2
    client = await live()
    answer = await client.get("/webcast/fetch", params={"room_id": ROOM})
    assert answer.status == 200
    assert tiktok.paths.count("/live") == 3
    tiktok.visit_mode = "no_cookie"
    other = await client.get("/webcast/fetch", params={"room_id": ROOM, "user_agent": MAC_UA})
    assert other.status == 502
    assert "ttwid" in (await other.json())["message"]
    assert tiktok.paths.count("/live") == 6


async def test_one_visit_serves_many_fetches(live: Live, tiktok: TinyTikTok) -> None:
    """The guest session is reused for the same user agent; another one gets its own."""
    client = await live()
    for _ in range(3):
        assert (await client.get("/webcast/fetch", params={"room_id": ROOM})).status == 200
    assert tiktok.paths.count("/live") == 1
    other = await client.get("/webcast/fetch", params={"room_id": ROOM, "user_agent": MAC_UA})
    assert other.status == 200
    assert tiktok.paths.count("/live") == 2


async def test_the_fetches_are_counted_by_transport_and_outcome(
    live: Live, tiktok: TinyTikTok
) -> None:
    client = await live()
    await client.get("/webcast/fetch", params={"room_id": ROOM})
    await client.get("/webcast/fetch", params={"room_id": "x"})
    text = await (await client.get("/metrics")).text()
    assert 'signer_live_fetches_total{outcome="ok",transport="direct"} 1.0' in text
    assert 'signer_live_fetches_total{outcome="bad_request",transport="direct"} 1.0' in text


async def test_logs_hold_no_cookie_token_or_url(live: Live, tiktok: TinyTikTok) -> None:
    """The request's log line names the route and transport, never what was signed."""
    client = await live()
    with structlog.testing.capture_logs() as logs:
        answer = await client.get(
            "/webcast/fetch", params={"room_id": ROOM, "user_agent": MAC_UA, "apiKey": "k3y"}
        )
        result = await decoded(answer)
    text = repr(logs)
    socket = parse_socket(result.push_server.removesuffix(PAD))
    assert socket is not None
    for secret in (tiktok.issued[-1], "chain-token", socket.x_gnarly, "k3y", "device_id"):
        assert secret not in text
    line = next(entry for entry in logs if entry.get("event") == "request")
    assert (line["route"], line["transport"]) == ("/webcast/fetch", "direct")
