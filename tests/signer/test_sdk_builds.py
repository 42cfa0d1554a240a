"""The API with TikTok's 2026 SDK (1.0.0.417): every shared vector case, socket URLs, inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from providers import selfcheck
from providers.urls import parse_signed, parse_socket
from signer.errors import ConfigError
from signer.settings import Settings, load_settings
from signer.wiring import persona_from
from tests.support import REPO, load_vectors

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from tests.conftest import MakeClient

    Client = TestClient[Any, Any]

WWW = "https://www.tiktok.com"
HTTP = load_vectors("sdk-1.0.0.417-http.json")
SOCKET = load_vectors("sdk-1.0.0.417-ws.json")
HTTP_VECTORS = HTTP["vectors"]
SOCKET_VECTORS = SOCKET["vectors"]
NATIVE = Settings(providers=("native",))
DEFAULTS = Settings(sdk_cache_dir=REPO / "data" / "sdk")
SOCKET_BASE = "wss://webcast-ws.tiktok.com/webcast/im/ws_proxy/ws_reuse_supplement/"


def absolute(url: str) -> str:
    """A vector's request URL as a caller sends it (a relative one on the web origin)."""
    return url if url.startswith("https://") else WWW + url


def http_request(vector: dict[str, Any]) -> dict[str, Any]:
    """The /sign request of a vector: its URL on the TikTok origin, method, body, UA, token."""
    request: dict[str, Any] = {
        "url": absolute(vector["request_url"]),
        "method": vector["method"],
        "user_agent": vector["user_agent"],
        "ms_token": vector["localstorage_xmst"] or "",
    }
    if vector["body"]:
        request["body"] = vector["body"]
    return request


async def check_http(client: Client, vector: dict[str, Any]) -> dict[str, Any]:
    """Sign one HTTP vector case; its tokens must verify as the SDK's would."""
    response = await client.post("/sign", json=http_request(vector))
    assert response.status == 200, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    assert data["sdk_version"] == "1.0.0.417"
    assert data["X-Bogus"] == data["x-bogus"] == "1"
    assert data["X-Dynosaur"] == data["x-dynosaur"]
    signed = parse_signed(data["signed_url"])
    assert signed is not None
    assert signed.base == absolute(vector["request_url"]).split("?", 1)[0]
    # The SDK's rewriting rule: the query it signs is the vector's.
    assert signed.base_query == vector["base_query"]
    assert signed.signed_query == (
        f"{vector['base_query']}&X-Dynosaur={data['X-Dynosaur']}&msToken={vector['ms_token']}"
        if vector["base_query"]
        else f"X-Dynosaur={data['X-Dynosaur']}&msToken={vector['ms_token']}"
    )
    assert (signed.x_dynosaur, signed.x_gnarly) == (data["X-Dynosaur"], data["X-Gnarly"])
    verified = selfcheck.verify_http(signed, vector["body"], vector["user_agent"])
    assert verified.known
    assert verified.build == "1.0.0.417"
    assert data["msToken"] == vector["ms_token"]
    assert data["navigator"]["user_agent"] == vector["user_agent"]
    return data


async def check_socket(client: Client, vector: dict[str, Any], *, spaces: str = " ") -> None:
    """Sign one socket vector case: the wire form back, the token verifying."""
    query = vector["X-MS-Q"].replace(" ", spaces)
    response = await client.post(
        "/sign", json={"url": f"{SOCKET_BASE}?{query}", "user_agent": vector["user_agent"]}
    )
    assert response.status == 200, await response.text()
    data = (await response.json())["data"]
    assert data["X-Bogus"] is None
    assert data["X-Dynosaur"] is None
    assert data["x-tt-params"] is None
    assert data["sdk_version"] == "1.0.0.417"
    wire = vector["X-MS-Q"].replace(" ", "%20")
    assert data["signed_url"].startswith(f"{SOCKET_BASE}?{wire}&X-Gnarly=")
    parsed = parse_socket(data["signed_url"])
    assert parsed is not None
    assert parsed.query == vector["X-MS-Q"]
    assert parsed.x_gnarly == data["X-Gnarly"]
    verified = selfcheck.verify_ws(vector["X-MS-Q"], vector["user_agent"], data["X-Gnarly"])
    assert verified.known


# -- native alone (no Chromium)


@pytest.mark.parametrize("vector", HTTP_VECTORS, ids=[v["id"] for v in HTTP_VECTORS])
async def test_native_signs_every_http_vector_case(
    make_client: MakeClient, vector: dict[str, Any]
) -> None:
    """Each shared case, signed natively, verifies and hashes what the SDK hashed."""
    data = await check_http(await make_client(NATIVE), vector)
    assert data["provider"] == "native"


@pytest.mark.parametrize("vector", SOCKET_VECTORS, ids=[v["id"] for v in SOCKET_VECTORS])
async def test_native_signs_every_socket_vector_case(
    make_client: MakeClient, vector: dict[str, Any]
) -> None:
    """Raw spaces or %20: the same query is signed, and comes back as on the wire."""
    client = await make_client(NATIVE)
    await check_socket(client, vector)
    await check_socket(client, vector, spaces="%20")


# -- the default chain, browser first (real Chromium)


@pytest.mark.chromium
async def test_default_chain_signs_every_shared_case(make_client: MakeClient) -> None:
    """Browser then native, on embedded defaults: every case verifies against the codecs.

    The browser signs what its page can: its own (empty) msToken, and the persona's UA,
    which its SDK read at load and hashes into X-Dynosaur. A case asking for another
    msToken or UA is declined by the browser and signed by native, as a client would see.
    """
    client = await make_client(DEFAULTS)
    persona_ua = persona_from(DEFAULTS).user_agent
    providers = set()
    for vector in HTTP_VECTORS:
        data = await check_http(client, vector)
        providers.add(data["provider"])
        if not vector["localstorage_xmst"] and vector["user_agent"] == persona_ua:
            assert data["provider"] == "browser", vector["id"]
    for vector in SOCKET_VECTORS:
        await check_socket(client, vector)
    assert providers == {"browser", "native"}


# -- inputs


async def test_socket_urls_are_checked(make_client: MakeClient) -> None:
    """Host allowlist, ws:// only for the configured origin, a query, GET without body."""
    client = await make_client(NATIVE)
    query = SOCKET_VECTORS[0]["X-MS-Q"]
    cases = [
        ({"url": f"wss://evil.example/ws/?{query}"}, 403, "host_not_allowed"),
        ({"url": f"ws://webcast-ws.tiktok.com/ws/?{query}"}, 403, "host_not_allowed"),
        ({"url": "wss://webcast-ws.tiktok.com/webcast/im/push/"}, 400, "invalid_url"),
        ({"url": f"wss://webcast-ws.tiktok.com:444/ws/?{query}"}, 403, "host_not_allowed"),
        ({"url": f"{SOCKET_BASE}?{query}", "method": "POST", "body": "x"}, 400, "bad_request"),
    ]
    for payload, status, code in cases:
        response = await client.post("/sign", json=payload)
        assert response.status == status, payload
        assert (await response.json())["error"]["code"] == code


async def test_ws_is_signed_for_the_configured_socket_origin(make_client: MakeClient) -> None:
    """Tests point SIGNER_TIKTOK_WS_URL at a fake: plain ws:// is signed there only."""
    client = await make_client(Settings(providers=("native",), tiktok_ws_url="ws://127.0.0.1:9"))
    vector = SOCKET_VECTORS[0]
    response = await client.post("/sign", json={"url": f"ws://127.0.0.1:9/ws/?{vector['X-MS-Q']}"})
    assert response.status == 200, await response.text()
    signed = (await response.json())["data"]["signed_url"]
    assert signed.startswith("ws://127.0.0.1:9/ws/?" + vector["X-MS-Q"].replace(" ", "%20"))


async def test_a_2025_build_signs_no_socket_url(make_client: MakeClient) -> None:
    """No socket signer in the selected build: a clear 400, not a 503 from every provider."""
    client = await make_client(Settings(providers=("native",), sdk_version="5.1.3"))
    response = await client.post("/sign", json={"url": f"{SOCKET_BASE}?room_id=1"})
    assert response.status == 400
    assert "socket signer" in (await response.json())["error"]["message"]


async def test_malformed_percent_is_refused_for_2026_builds(make_client: MakeClient) -> None:
    """TikTok's 2026 SDK throws on a '%' that starts no escape; 2025 builds sign it."""
    url = f"{WWW}/api/search/general/full/?aid=1988&keyword=100%&count=10"
    client = await make_client(NATIVE)
    response = await client.post("/sign", json={"url": url})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_url"
    old = await make_client(Settings(providers=("native",), sdk_version="5.1.3"))
    response = await old.post("/sign", json={"url": url})
    assert response.status == 200
    data = (await response.json())["data"]
    assert data["X-Dynosaur"] is None
    assert len(data["X-Bogus"]) == 28
    assert data["sdk_version"] == "5.1.3"


async def test_spaces_are_allowed_in_the_query_only(make_client: MakeClient) -> None:
    """The SDK encodes a query's spaces; a space before the query is no URL."""
    client = await make_client(NATIVE)
    good = await client.post("/sign", json={"url": f"{WWW}/api/search/?keyword=a b"})
    assert good.status == 200
    assert "keyword=a%20b&X-Dynosaur=" in (await good.json())["data"]["signed_url"]
    bad = await client.post("/sign", json={"url": f"{WWW}/api/se arch/?keyword=a"})
    assert bad.status == 400


# -- settings


def test_default_build_and_profile_persona() -> None:
    """1.0.0.417 by default; the persona takes the profile's values unless overridden."""
    settings = Settings()
    assert settings.sdk_version == "1.0.0.417"
    persona = persona_from(settings)
    assert (persona.gnarly_version, persona.gnarly_build, persona.sdk_build) == (
        "5.3.2",
        "1.0.0.417",
        "1.0.0.417",
    )
    assert persona.flags == settings.profile.flags
    old = persona_from(Settings(sdk_version="2.0.0.485"))
    assert (old.gnarly_version, old.gnarly_build, old.sdk_build) == (
        "5.1.3-ZTCA",
        "2.0.0.485",
        "2.0.0.485",
    )
    custom = persona_from(Settings(sdk_flags=(1, 2, 3), gnarly_sdk_build="", sdk_canvas=7))
    assert (custom.flags, custom.gnarly_build, custom.canvas) == ((1, 2, 3), None, 7)


def test_an_unknown_build_is_a_settings_error() -> None:
    """SIGNER_SDK_VERSION must name a profile; the message lists the known builds."""
    with pytest.raises(ConfigError, match=r"sdk_version .*1\.0\.0\.417"):
        load_settings({"SIGNER_SDK_VERSION": "9.9.9"})
    with pytest.raises(ConfigError, match="tiktok_ws_url"):
        load_settings({"SIGNER_TIKTOK_WS_URL": "https://webcast-ws.tiktok.com"})


async def test_a_path_the_build_does_not_sign_is_a_400(make_client: MakeClient) -> None:
    """2026 pages do not sign the LIVE fetch: a clear 400, not a 503 from every provider."""
    client = await make_client(NATIVE)
    url = "https://webcast.tiktok.com/webcast/im/fetch/?aid=1988&room_id=1"
    response = await client.post("/sign", json={"url": url})
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "path_not_signed"
    assert "/webcast/im/fetch" in error["message"]
    response = await client.post("/sign", json={"url": f"{WWW}/@someone/video/1?lang=en"})
    assert (await response.json())["error"]["code"] == "path_not_signed"


def test_the_persona_platform_follows_the_user_agent() -> None:
    """Unset, navigator.platform is what a real browser of the UA reports (the SDK checks it)."""
    assert persona_from(Settings()).platform == "Win32"
    mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/156.0.0.0"
    assert persona_from(Settings(user_agent=mac)).platform == "MacIntel"
    assert persona_from(Settings(user_agent=mac, browser_platform="Win32")).platform == "Win32"
