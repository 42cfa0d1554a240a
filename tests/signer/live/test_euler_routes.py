"""The Euler routes' shapes, keys, limits and maintenance, as the LIVE clients read them."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from EulerApiSdk.models.sign_tik_tok_url_response import SignTikTokUrlResponse

from providers.selfcheck import verify_http
from providers.urls import parse_signed
from tests.signer.live.tiny_tiktok import USERS

if TYPE_CHECKING:
    from tests.signer.live.conftest import Live
    from tests.signer.live.tiny_tiktok import TinyTikTok

ALICE_KEY = "alice-live-0f5c2d7e9b1a4c6d8e0f2a4b"
BOB_KEY = "bob-live-9e8d7c6b5a4f3e2d1c0b9a8f7e"
ADMIN_KEY = "admin-live-7a6b5c4d3e2f1a0b9c8d"
ROOM = USERS["streamer"][0]
UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36"
)
ROOM_INFO = "/webcast/room/info/?aid=1988&room_id=" + ROOM


def keys() -> tuple[str, ...]:
    return tuple(
        f"{name}:{hashlib.sha256(key.encode()).hexdigest()}"
        for name, key in (("alice", ALICE_KEY), ("bob", BOB_KEY))
    )


def euler_error(body: dict[str, Any], status: int) -> None:
    assert body["code"] == status
    assert isinstance(body["message"], str)
    assert body["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/webcast/fetch?room_id=" + ROOM),
        ("GET", f"/webcast/rooms/{ROOM}/connect"),
        ("POST", "/webcast/sign_url"),
        ("POST", "/tiktok/sign_url"),
        ("GET", "/webcast/room_id?unique_id=streamer"),
        ("GET", "/webcast/anchors/streamer/room_id"),
        ("GET", "/webcast/rate_limits"),
        ("GET", "/accounts/me/rate_limits"),
        ("POST", "/webcast/chat"),
        ("POST", f"/webcast/rooms/{ROOM}/chat"),
    ],
)
async def test_every_route_needs_a_key_in_the_header_or_apikey(
    live: Live, tiktok: TinyTikTok, method: str, path: str
) -> None:
    """No key or a wrong one: 401 in the envelope; X-Api-Key or apiKey: served."""
    client = await live(api_keys=keys())
    missing = await client.request(method, path)
    assert missing.status == 401
    euler_error(await missing.json(), 401)
    wrong = await client.request(method, path, headers={"X-Api-Key": "not-a-key"})
    assert wrong.status == 401
    euler_error(await wrong.json(), 401)
    body = {"url": tiktok.url(ROOM_INFO)} if path.endswith("sign_url") else None
    by_header = await client.request(method, path, headers={"X-Api-Key": ALICE_KEY}, json=body)
    separator = "&" if "?" in path else "?"
    by_query = await client.request(method, f"{path}{separator}apiKey={BOB_KEY}", json=body)
    expected = 501 if path.endswith("chat") else 200
    assert (by_header.status, by_query.status) == (expected, expected)


async def test_an_euler_429_carries_the_clients_headers(live: Live, tiktok: TinyTikTok) -> None:
    """RateLimit-Remaining and Retry-After are seconds, the resets a Unix time."""
    client = await live(api_keys=keys(), rate_limit_per_minute=1)
    headers = {"X-Api-Key": ALICE_KEY}
    assert (await client.get("/webcast/room_id?unique_id=streamer", headers=headers)).status == 200
    before = int(time.time())
    refused = await client.get("/webcast/fetch", params={"room_id": ROOM}, headers=headers)
    assert refused.status == 429
    body = await refused.json()
    euler_error(body, 429)
    assert body["limit_label"] == "rate_limit_account_minute"
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 60
    assert refused.headers["RateLimit-Remaining"] == str(wait)
    assert refused.headers["RateLimit-Limit"] == "1"
    reset = int(refused.headers["RateLimit-Reset"])
    assert refused.headers["X-RateLimit-Reset"] == str(reset)
    assert before + wait <= reset <= int(time.time()) + wait + 1
    # The rest of the service keeps the standard meanings.
    sign = await client.post("/sign", json={"url": tiktok.url("/api/x/?a=1")}, headers=headers)
    assert sign.status == 429
    assert sign.headers["RateLimit-Remaining"] == "0"
    assert int(sign.headers["RateLimit-Reset"]) <= 60
    assert "X-RateLimit-Reset" not in sign.headers
    assert (await sign.json())["error"]["limit"] == "minute"


async def test_reading_the_limits_spends_nothing(live: Live) -> None:
    """Both spellings; minute, hour and day; reading leaves ``remaining`` as it was."""
    client = await live(api_keys=keys(), rate_limit_per_minute=2, rate_limit_per_hour=10)
    headers = {"X-Api-Key": ALICE_KEY}
    for path in ["/webcast/rate_limits", "/accounts/me/rate_limits"] * 3:
        answer = await client.get(path, headers=headers)
        assert answer.status == 200
        body = await answer.json()
        assert (body["code"], body["message"]) == (200, "ok")
        assert (body["minute"]["max"], body["minute"]["remaining"]) == (2, 2)
        assert (body["hour"]["max"], body["hour"]["remaining"]) == (10, 10)
        assert body["day"] == {"max": None, "remaining": None, "reset_at": None}
        assert body["minute"]["reset_at"] > time.time()
    await client.get("/webcast/room_id?unique_id=streamer", headers=headers)
    after = await (await client.get("/webcast/rate_limits", headers=headers)).json()
    assert after["minute"]["remaining"] == 1
    other = await (await client.get("/webcast/rate_limits?apiKey=" + BOB_KEY)).json()
    assert other["minute"]["remaining"] == 2


async def test_maintenance_is_a_503_in_the_envelope(live: Live, tiktok: TinyTikTok) -> None:
    """Clients get 503 + Retry-After; the admin key is still served."""
    client = await live(admin_key=ADMIN_KEY)
    admin = {"X-Admin-Key": ADMIN_KEY}
    on = await client.post(
        "/admin/maintenance", json={"enabled": True, "retry_after_s": 30}, headers=admin
    )
    assert on.status == 200
    answer = await client.get("/webcast/fetch", params={"room_id": ROOM})
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "30"
    euler_error(await answer.json(), 503)
    assert "maintenance" in (await answer.json())["message"]
    served = await client.get("/webcast/fetch", params={"room_id": ROOM}, headers=admin)
    assert served.status == 200


async def test_guest_sessions_are_never_shared_between_keys(live: Live, tiktok: TinyTikTok) -> None:
    """Same user agent, two keys: two visits, two ttwids; each key reuses its own."""
    client = await live(api_keys=keys())
    seen: dict[str, str] = {}
    for _ in range(2):
        for name, key in (("alice", ALICE_KEY), ("bob", BOB_KEY)):
            answer = await client.get(
                "/webcast/fetch", params={"room_id": ROOM, "user_agent": UA, "apiKey": key}
            )
            assert answer.status == 200
            cookie = answer.headers["X-Set-TT-Cookie"]
            assert seen.setdefault(name, cookie) == cookie
    assert seen["alice"] != seen["bob"]
    assert tiktok.paths.count("/live") == 2


@pytest.mark.parametrize(
    "path",
    [
        "/webcast/room_id?unique_id=streamer",
        "/webcast/room_id?uniqueId=streamer",
        "/webcast/anchors/streamer/room_id",
        "/webcast/anchors/@streamer/room_id",
    ],
)
async def test_room_id_routes(live: Live, path: str) -> None:
    client = await live()
    answer = await client.get(path)
    assert answer.status == 200
    assert await answer.json() == {"code": 200, "ok": True, "room_id": ROOM, "is_live": True}


async def test_room_id_of_users_offline_unknown_or_invalid(live: Live, tiktok: TinyTikTok) -> None:
    client = await live()
    sleeper = await (await client.get("/webcast/anchors/sleeper/room_id")).json()
    assert (sleeper["room_id"], sleeper["is_live"]) == (USERS["sleeper"][0], False)
    nolive = await (await client.get("/webcast/room_id?unique_id=nolive")).json()
    assert (nolive["room_id"], nolive["is_live"]) == (None, False)
    unknown = await client.get("/webcast/anchors/nobody_here/room_id")
    assert unknown.status == 404
    euler_error(await unknown.json(), 404)
    for bad in ("/webcast/room_id", "/webcast/room_id?unique_id=a%2Fb"):
        refused = await client.get(bad)
        assert refused.status == 400
        euler_error(await refused.json(), 400)


@pytest.mark.parametrize("path", ["/webcast/sign_url", "/tiktok/sign_url"])
async def test_sign_url_answers_the_euler_shape(live: Live, tiktok: TinyTikTok, path: str) -> None:
    """2026 build: msToken, X-Bogus "1", X-Gnarly and X-Dynosaur; the tokens verify."""
    client = await live()
    body = {
        "url": tiktok.url(ROOM_INFO),
        "userAgent": UA,
        "method": "GET",
        "type": "xhr",
        "session_id": "ignored",
        "tt_target_idc": "useast5",
        "include_browser_params": True,
    }
    answer = await client.post(path, json=body, params={"client": "ttlive-python"})
    assert answer.status == 200, await answer.text()
    data = await answer.json()
    assert (data["code"], data["message"]) == (200, "ok")
    response = data["response"]
    assert set(response) == {
        "signedUrl",
        "userAgent",
        "browserName",
        "browserVersion",
        "tokens",
        "requestHeaders",
        "cookies",
    }
    assert (response["userAgent"], response["browserName"]) == (UA, "Mozilla")
    assert response["browserVersion"] == UA.removeprefix("Mozilla/")
    assert (response["requestHeaders"], response["cookies"]) == ({}, [])
    tokens = response["tokens"]
    assert set(tokens) == {"msToken", "X-Bogus", "X-Gnarly", "X-Dynosaur"}
    signed_url = response["signedUrl"]
    assert signed_url.startswith(tiktok.url("/webcast/room/info/?aid=1988&room_id="))
    assert "&msToken=" in signed_url
    assert tokens["X-Bogus"] == "1"
    signed = parse_signed(signed_url)
    assert signed is not None
    verify_http(signed, "", UA)


async def test_sign_url_of_a_2025_build_and_a_post(live: Live, tiktok: TinyTikTok) -> None:
    """5.1.3: no X-Dynosaur; a POST's payload is signed as its body; msToken as given."""
    client = await live(sdk_version="5.1.3")
    url = tiktok.url("/webcast/room/chat/?aid=1988&msToken=abc")
    answer = await client.post(
        "/webcast/sign_url",
        json={"url": url, "user_agent": UA, "method": "post", "payload": "content=hi"},
    )
    assert answer.status == 200, await answer.text()
    response = (await answer.json())["response"]
    assert set(response["tokens"]) == {"msToken", "X-Bogus", "X-Gnarly"}
    assert response["tokens"]["msToken"] == "abc"
    signed = parse_signed(response["signedUrl"])
    assert signed is not None
    verify_http(signed, "content=hi", UA)
    query = dict(parse_qsl(urlsplit(response["signedUrl"]).query))
    assert query["msToken"] == "abc"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"url": "https://evil.example/webcast/room/info/"}, 403),
        ({"url": "ROOM_INFO", "method": "GET", "payload": "x=1"}, 400),
        ({"url": "ROOM_INFO", "method": "TRACE"}, 400),
        ({"url": "ROOM_INFO", "userAgent": "Mozilla/5.0 \u00e9"}, 400),
    ],
)
async def test_sign_url_refusals_are_in_the_envelope(
    live: Live, tiktok: TinyTikTok, body: dict[str, str], status: int
) -> None:
    client = await live()
    if body.get("url") == "ROOM_INFO":
        body = {**body, "url": tiktok.url(ROOM_INFO)}
    answer = await client.post("/tiktok/sign_url", json=body)
    assert answer.status == status
    euler_error(await answer.json(), status)


async def test_sign_url_of_a_body_that_is_no_json(live: Live) -> None:
    client = await live()
    answer = await client.post("/webcast/sign_url", data=b"not json")
    assert answer.status == 400
    euler_error(await answer.json(), 400)


@pytest.mark.parametrize("path", ["/webcast/chat", f"/webcast/rooms/{ROOM}/chat"])
async def test_chat_is_not_built(live: Live, path: str) -> None:
    client = await live()
    answer = await client.post(path, json={"content": "hello"})
    assert answer.status == 501
    body = await answer.json()
    assert set(body) == {"code", "message"}
    euler_error(body, 501)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/webcast/sign_url"),
        ("GET", f"/webcast/rooms/{ROOM}/chat"),
        ("POST", "/webcast/fetch"),
    ],
)
async def test_a_wrong_method_is_a_405_in_the_envelope(live: Live, method: str, path: str) -> None:
    client = await live()
    answer = await client.request(method, path)
    assert answer.status == 405
    assert "Allow" in answer.headers
    euler_error(await answer.json(), 405)
    other = await client.get("/sign")
    assert (other.status, (await other.json())["status"]) == (405, "error")


async def test_tiktoklives_sdk_reads_the_sign_url_answer(live: Live, tiktok: TinyTikTok) -> None:
    """EulerApiSdk (TikTokLive's client) parses the answer; the signed URL has msToken."""
    client = await live()
    answer = await client.post(
        "/webcast/sign_url", json={"url": tiktok.url(ROOM_INFO), "userAgent": UA}
    )
    parsed = SignTikTokUrlResponse.from_dict(await answer.json())
    assert parsed.code == 200
    signed_url = parsed.response.signed_url  # type: ignore[union-attr]
    assert isinstance(signed_url, str)
    assert "msToken" in signed_url
