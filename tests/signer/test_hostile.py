"""Hostile and careless use: secrets stay out of answers and logs, guessing is throttled."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from providers.errors import ProviderStartFailed
from providers.fake import FakeProvider
from providers.typing import ProviderHealth
from signer.app import make_app
from signer.settings import Settings
from signer.wiring import persona_from
from tests.signer.conftest import OPERATOR_KEY

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    Client = TestClient[Any, Any]

ADMIN_KEY = "my-admin-key-123-of-this-test"
URL = "https://www.tiktok.com/api/post/item_list/?aid=1988"


async def raw(client: Client, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes to the test server; the status, headers and body of its answer."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(headers.get("Content-Length", "0"))
        body = await reader.readexactly(length) if length else b""
        return int(lines[0].split()[1]), headers, body
    finally:
        writer.close()


async def test_a_non_utf8_admin_key_is_a_401_not_a_500(aiohttp_client: Any) -> None:
    """An X-Admin-Key header aiohttp cannot decode is a wrong key, and nothing leaks."""
    client: Client = await aiohttp_client(
        make_app(Settings(providers=("native",), admin_key=ADMIN_KEY))
    )
    with structlog.testing.capture_logs() as logs:
        status, _, body = await raw(
            client, b"GET /admin/state HTTP/1.1\r\nHost: x\r\nX-Admin-Key: \xff\r\n\r\n"
        )
    assert status == 401
    assert b"invalid_admin_key" in body
    assert ADMIN_KEY not in repr(logs)


async def test_guessing_the_admin_key_is_throttled(aiohttp_client: Any) -> None:
    """After ten wrong admin keys from one address, even the right one waits (429)."""
    client: Client = await aiohttp_client(
        make_app(Settings(providers=("native",), admin_key=ADMIN_KEY))
    )
    wrong = [
        await client.get("/admin/state", headers={"X-Admin-Key": f"guess-{i}"}) for i in range(10)
    ]
    assert {answer.status for answer in wrong} == {401}
    blocked = await client.get("/admin/state", headers={"X-Admin-Key": ADMIN_KEY})
    assert blocked.status == 429
    assert (await blocked.json())["error"]["code"] == "auth_throttled"
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60


async def test_guessing_client_keys_is_throttled(aiohttp_client: Any) -> None:
    """Wrong client keys count too; the sign route then answers 429 without reading the key."""
    settings = Settings(providers=("native",), api_keys=("alice:" + "0" * 64,))
    client: Client = await aiohttp_client(make_app(settings))
    for i in range(10):
        assert (
            await client.post("/sign", json={"url": URL}, headers={"X-Api-Key": f"k{i}"})
        ).status == 401
    assert (await client.post("/sign", json={"url": URL}, headers={"X-Api-Key": "k"})).status == 429


async def test_a_wrong_admin_key_on_a_sign_route_is_refused(aiohttp_client: Any) -> None:
    """A wrong X-Admin-Key does not fall back to an open sign route: it is a 401."""
    client: Client = await aiohttp_client(
        make_app(Settings(providers=("native",), admin_key=ADMIN_KEY))
    )
    answer = await client.post("/sign", json={"url": URL}, headers={"X-Admin-Key": "nope"})
    assert answer.status == 401
    assert (await client.post("/sign", json={"url": URL})).status == 200


async def test_a_rejected_provider_change_changes_nothing(operated: Client) -> None:
    """Ordering native first and disabling it is a 400, and every provider keeps signing."""
    client = operated
    admin = {"X-Admin-Key": OPERATOR_KEY}
    refused = await client.post(
        "/admin/providers", json={"order": ["one"], "disabled": ["one", "two"]}, headers=admin
    )
    assert refused.status == 400
    state = await (await client.get("/admin/state", headers=admin)).json()
    assert [(p["name"], p["enabled"]) for p in state["providers"]] == [("one", True), ("two", True)]
    assert state["changes"] == []
    assert (await client.get("/health")).status == 200


class SlowStart(FakeProvider):
    """A provider whose start takes a while and can fail; it records overlapping starts."""

    def __init__(self, name: str, *, fail: bool = False) -> None:
        super().__init__(name, persona_from(Settings()))
        self.fail = fail
        self.starting = 0
        self.most_starting = 0
        self.starts = 0
        self.start_failed = False

    async def start(self) -> None:
        """Start slowly; with ``fail``, a restart fails as a browser that will not launch."""
        self.starting += 1
        self.most_starting = max(self.most_starting, self.starting)
        try:
            await asyncio.sleep(0.05)
            self.starts += 1
            if self.fail and self.starts > 1:
                self.start_failed = True
                raise ProviderStartFailed("the browser provider could not start: exit code 21")
            await super().start()
        finally:
            self.starting -= 1

    def health(self) -> ProviderHealth:
        """Failed after a failed start, as the browser provider shows it."""
        if self.start_failed:
            return ProviderHealth(name=self.name, state="failed", last_error="could not start")
        return super().health()


async def test_concurrent_restarts_run_one_at_a_time(aiohttp_client: Any) -> None:
    """Three restarts at once each restart the provider, never two at the same time."""
    slow = SlowStart("slow")
    app = make_app(Settings(providers=("native",), admin_key=ADMIN_KEY), [slow])
    client: Client = await aiohttp_client(app)
    admin = {"X-Admin-Key": ADMIN_KEY}
    answers = await asyncio.gather(
        *(client.post("/admin/providers/slow/restart", headers=admin) for _ in range(3))
    )
    assert [answer.status for answer in answers] == [200, 200, 200]
    assert (slow.starts, slow.most_starting) == (4, 1)


async def test_a_failed_restart_is_a_503_with_the_cause(aiohttp_client: Any) -> None:
    """A start that fails answers 503 naming the cause; /health shows the provider failed."""
    broken = SlowStart("broken", fail=True)
    app = make_app(Settings(providers=("native",), admin_key=ADMIN_KEY), [broken])
    client: Client = await aiohttp_client(app)
    answer = await client.post(
        "/admin/providers/broken/restart", headers={"X-Admin-Key": ADMIN_KEY}
    )
    assert answer.status == 503
    error = (await answer.json())["error"]
    assert (error["code"], error["message"]) == (
        "start_failed",
        "the browser provider could not start: exit code 21",
    )
    health = await (await client.get("/health")).json()
    assert health["providers"][0]["state"] == "failed"
    assert health["changes"][-1]["ok"] is False


async def test_answers_name_no_server_version(client: Client) -> None:
    """The Server header says what we are, not which Python and aiohttp versions run it."""
    for response in (await client.get("/health"), await client.get("/nope")):
        assert response.headers["Server"] == "tiktok-signer"


async def test_an_over_limit_body_is_refused_before_100_continue(client: Client) -> None:
    """Expect: 100-continue with a declared 1 GiB body gets the JSON 413 at once, no 100."""
    status, headers, body = await raw(
        client,
        b"POST /sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n",
    )
    assert status == 413
    assert headers["Content-Type"].startswith("application/json")
    assert b"body_too_large" in body


async def test_a_small_body_is_continued(client: Client) -> None:
    """Within the limit, the client is told to continue and its request is signed."""
    payload = b'{"url": "' + URL.encode() + b'"}'
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(
            b"POST /sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n".encode()
            + b"Expect: 100-continue\r\n\r\n"
        )
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(payload)
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    finally:
        writer.close()
