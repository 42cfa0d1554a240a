"""Bad input: each case answers a clear 4xx JSON error, never a traceback or HTML."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    Client = TestClient[Any, Any]

GOOD = "https://www.tiktok.com/api/post/item_list/?aid=1988"
TEXT = {"Content-Type": "text/plain"}
JSON = {"Content-Type": "application/json"}


async def expect_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert the JSON error shape and return the error object."""
    assert response.status == status
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["status"] == "error"
    assert body["error"]["code"] == code
    message = body["error"]["message"]
    assert message
    assert "Traceback" not in message
    assert "<html" not in (await response.text()).lower()
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize("route", ["/signature", "/sign"])
async def test_empty_body(client: Client, route: str) -> None:
    """No body at all is a 400 empty_body."""
    headers = TEXT if route == "/signature" else JSON
    await expect_error(await client.post(route, data=b"", headers=headers), 400, "empty_body")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("not a url", "invalid_url"),
        ("www.tiktok.com/api/x", "invalid_url"),
        ("ftp://www.tiktok.com/api/x", "invalid_url"),
        ("javascript:alert(1)", "invalid_url"),
        ("https:///api/x", "invalid_url"),
        ("https://[::1/api", "invalid_url"),
    ],
)
async def test_not_a_url(client: Client, payload: str, code: str) -> None:
    """Text that is not an absolute http(s) URL is a 400 invalid_url."""
    response = await client.post("/signature", data=payload, headers=TEXT)
    await expect_error(response, 400, code)


async def test_other_scheme_says_which(client: Client) -> None:
    """A non-http scheme is named in the message."""
    response = await client.post("/signature", data="ftp://www.tiktok.com/x", headers=TEXT)
    error = await expect_error(response, 400, "invalid_url")
    assert "'ftp'" in error["message"]


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/api/?a=1",
        "https://tiktok.com.evil.example/api/",
        "https://nottiktok.com/api/",
        "http://127.0.0.1/api/",
    ],
)
async def test_host_not_on_allowlist(client: Client, url: str) -> None:
    """A host outside the allowlist is a 403 host_not_allowed."""
    response = await client.post("/sign", json={"url": url})
    await expect_error(response, 403, "host_not_allowed")


async def test_subdomains_of_allowed_hosts_pass(client: Client) -> None:
    """Subdomains of an allowed host are signed."""
    url = "https://webcast.us.tiktok.com/webcast/room/info/?aid=1988"
    assert (await client.post("/sign", json={"url": url})).status == 200


async def test_body_over_limit(client: Client) -> None:
    """A body over max_body_bytes is a 413 before it is read."""
    big = GOOD + "&x=" + "a" * (70 * 1024)
    response = await client.post("/signature", data=big, headers=TEXT)
    await expect_error(response, 413, "body_too_large")


async def test_chunked_body_over_limit(client: Client) -> None:
    """A chunked body without Content-Length is cut off at the limit too."""

    async def chunks() -> Any:
        for _ in range(80):
            yield b"a" * 1024

    response = await client.post("/signature", data=chunks(), headers=TEXT)
    await expect_error(response, 413, "body_too_large")


@pytest.mark.parametrize("content_type", ["application/xml", "multipart/form-data; boundary=x"])
async def test_unsupported_content_type(client: Client, content_type: str) -> None:
    """/signature reads text/plain and JSON only: anything else is a 415."""
    response = await client.post("/signature", data=GOOD, headers={"Content-Type": content_type})
    await expect_error(response, 415, "unsupported_media_type")


async def test_sign_needs_json(client: Client) -> None:
    """/sign is JSON only."""
    response = await client.post("/sign", data=GOOD, headers=TEXT)
    await expect_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("route", ["/signature", "/sign"])
async def test_malformed_json(client: Client, route: str) -> None:
    """JSON that does not parse is a 400 invalid_json."""
    response = await client.post(route, data='{"url": ', headers=JSON)
    await expect_error(response, 400, "invalid_json")


@pytest.mark.parametrize(
    ("payload", "code", "fragment"),
    [
        ("[1, 2]", "bad_request", "must be an object"),
        ('{"uri": "x"}', "bad_request", "unknown field"),
        ("{}", "bad_request", "exactly one of 'url' and 'room_url'"),
        ('{"url": 5}', "invalid_url", "must be a string"),
        (f'{{"url": "{GOOD}", "room_url": "{GOOD}"}}', "bad_request", "exactly one"),
        (f'{{"url": "{GOOD}", "method": "TRACE"}}', "bad_request", "'method'"),
        (f'{{"url": "{GOOD}", "body": {{"a": 1}}}}', "bad_request", "'body' must be a string"),
        (f'{{"url": "{GOOD}", "body": "x"}}', "bad_request", "GET request has no body"),
        (f'{{"url": "{GOOD}", "user_agent": ""}}', "bad_request", "'user_agent'"),
        (f'{{"url": "{GOOD}", "ms_token": "a b"}}', "bad_request", "'ms_token'"),
        (f'{{"url": "{GOOD}", "provider": "nope"}}', "unknown_provider", "not configured"),
    ],
)
async def test_json_of_the_wrong_shape(
    client: Client, payload: str, code: str, fragment: str
) -> None:
    """/sign names what is wrong with a JSON body."""
    response = await client.post("/sign", data=payload, headers=JSON)
    error = await expect_error(response, 400, code)
    assert fragment in error["message"]


async def test_signature_json_without_url(client: Client) -> None:
    """The carcabot JSON without a url is a 400."""
    response = await client.post("/signature", json={"userAgent": "x"})
    await expect_error(response, 400, "invalid_url")


@pytest.mark.parametrize(
    ("method", "route"), [("GET", "/signature"), ("PUT", "/sign"), ("POST", "/health")]
)
async def test_wrong_method(client: Client, method: str, route: str) -> None:
    """A wrong method is a 405 JSON error with an Allow header."""
    response = await client.request(method, route)
    await expect_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"]


async def test_unknown_route(client: Client) -> None:
    """An unknown route is a 404 JSON error."""
    await expect_error(await client.get("/nope"), 404, "not_found")


async def test_invalid_utf8_body(client: Client) -> None:
    """A text body that is not UTF-8 is a 400, not a crash."""
    response = await client.post("/signature", data=b"\xff\xfe\x00", headers=TEXT)
    await expect_error(response, 400, "invalid_url")


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("https://evil.example\\@www.tiktok.com/api/x/", 400, "invalid_url"),
        ("https://evil.example\\.tiktok.com/api/x/", 400, "invalid_url"),
        ("https://user:pw@www.tiktok.com/api/x/", 400, "invalid_url"),
        ("https://www.tiktok.com:abc/api/x/", 400, "invalid_url"),
        ("https://www.tiktok.com:99999/api/x/", 400, "invalid_url"),
        ("https://www.tiktok.com:0/api/x/", 403, "host_not_allowed"),
        ("https://www.tiktok.com:8443/api/x/", 403, "host_not_allowed"),
        ("https://www.tiktok.com:/api/x/", 403, "host_not_allowed"),
    ],
)
async def test_hosts_are_read_as_a_browser_reads_them(
    client: Client, url: str, status: int, code: str
) -> None:
    """Backslashes and userinfo in the authority, and ports not of a TikTok origin, are refused."""
    await expect_error(await client.post("/sign", json={"url": url}), status, code)


async def test_a_configured_origin_port_is_signed(make_client: Any) -> None:
    """The port of a configured TikTok origin (a fake on loopback) is allowed, no other."""
    from signer.settings import Settings  # noqa: PLC0415

    settings = Settings(providers=("native",), tiktok_www_url="http://127.0.0.1:8999")
    client = await make_client(settings)
    good = await client.post("/sign", json={"url": "http://127.0.0.1:8999/api/x/?a=1"})
    assert good.status == 200
    other = await client.post("/sign", json={"url": "http://127.0.0.1:9000/api/x/?a=1"})
    await expect_error(other, 403, "host_not_allowed")


async def test_a_url_over_the_limit_is_refused(client: Client) -> None:
    """A URL longer than SIGNER_MAX_URL_BYTES (8192) is a 400 url_too_long."""
    long_url = GOOD + "&x=" + "a" * 8200
    await expect_error(
        await client.post("/signature", data=long_url, headers=TEXT), 400, "url_too_long"
    )
    assert (
        await client.post("/signature", data=GOOD + "&x=" + "a" * 8000, headers=TEXT)
    ).status == 200


@pytest.mark.parametrize(
    "agent", ["Mozilla/5.0 (Ünïcode)", "Mozilla/5.0\u00a0x", "Mozilla/5.0 \u2603"]
)
@pytest.mark.parametrize(("route", "key"), [("/sign", "user_agent"), ("/signature", "userAgent")])
async def test_a_user_agent_must_be_printable_ascii(
    client: Client, route: str, key: str, agent: str
) -> None:
    """A user agent outside space to '~' is the caller's 400, never a provider's failure."""
    response = await client.post(route, json={"url": GOOD, key: agent})
    error = await expect_error(response, 400, "bad_request")
    assert "printable ASCII" in error["message"]
