"""A run full of bad input, wrong keys and an echoing upstream leaks no secret anywhere.

The captured log, ``/health`` and ``/admin/state`` are searched for the admin key, both
client keys, the upstream's API key and planted msTokens: none may be there.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from providers.config import RemoteConfig
from signer.app import make_app
from signer.logs import LibraryLogBridge
from signer.settings import Settings
from tests.fakes.server import LoopbackServer
from tests.signer.test_hostile import raw

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from tests.conftest import ServeFake

    Client = TestClient[Any, Any]

ADMIN_KEY = "admin-key-that-must-stay-secret"
ALICE_KEY = "alice-key-that-must-stay-secret"
BOB_KEY = "bob-key-that-must-stay-secret"
UPSTREAM_KEY = "upstream-key-that-must-stay-secret"
PLANTED = "planted-msToken-in-the-url-0123"
PLANTED_FIELD = "planted-msToken-in-the-field-4567"
URL = f"https://www.tiktok.com/api/post/item_list/?aid=1988&msToken={PLANTED}"
SECRETS = (ADMIN_KEY, ALICE_KEY, BOB_KEY, UPSTREAM_KEY, PLANTED, PLANTED_FIELD)


class Echo(LoopbackServer):
    """An upstream that fails, quoting back everything it was sent (URL, body and key)."""

    async def fallback(self, request: web.Request) -> web.StreamResponse:
        """A 500 whose message echoes the request."""
        body = await request.text()
        key = request.headers.get("X-Api-Key", "")
        message = f"cannot sign {request.url} {body} with key {key}"
        return web.json_response({"status": "error", "message": message}, status=500)


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def test_no_secret_reaches_the_log_or_a_public_answer(
    serve_fake: ServeFake, aiohttp_client: Any
) -> None:
    """Keys and other clients' msTokens appear in no log line, /health or /admin/state."""
    echo = await serve_fake(Echo())
    settings = Settings(
        providers=("echo", "native"),
        remotes={"echo": RemoteConfig(url=echo.url(), format="carcabot", api_key=UPSTREAM_KEY)},
        admin_key=ADMIN_KEY,
        api_keys=(f"alice:{sha(ALICE_KEY)}", f"bob:{sha(BOB_KEY)}"),
    )
    client: Client = await aiohttp_client(make_app(settings))
    alice = {"X-Api-Key": ALICE_KEY}
    bridge = LibraryLogBridge()
    logging.getLogger().addHandler(bridge)
    try:
        with structlog.testing.capture_logs() as logs:
            signed = await client.post("/sign", json={"url": URL}, headers=alice)
            assert (await signed.json())["data"]["provider"] == "native"
            field = {"url": URL, "ms_token": PLANTED_FIELD}
            assert (await client.post("/sign", json=field, headers=alice)).status == 200
            for body in (b"{", b'{"url": 1}', b'{"url": "x", "ms_token": "' + ALICE_KEY.encode()):
                await client.post(
                    "/sign", data=body, headers={**alice, "Content-Type": "application/json"}
                )
            await client.post("/sign", json={"url": URL}, headers={"X-Api-Key": BOB_KEY[:-1]})
            await client.post("/sign", json={"url": URL}, headers={"X-Admin-Key": ADMIN_KEY[:-1]})
            await client.get("/admin/state", headers={"Authorization": f"Bearer {ALICE_KEY}"})
            await raw(
                client, b"GET /health HTTP/1.1\r\nX-Api-Key: " + BOB_KEY.encode() + b"\x01\r\n\r\n"
            )
            health = await (await client.get("/health")).text()
            state = await (
                await client.get("/admin/state", headers={"X-Admin-Key": ADMIN_KEY})
            ).text()
    finally:
        logging.getLogger().removeHandler(bridge)
    assert len(echo.seen) == 2  # the upstream was asked, and echoed, twice
    assert "cannot sign" in state  # the operator sees what the upstream said...
    seen = {"log": repr(logs), "/health": health, "/admin/state": state}
    for where, text in seen.items():
        for secret in SECRETS:
            assert secret not in text, (where, secret)  # ...without any secret in it
