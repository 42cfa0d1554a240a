"""A run through every partner route, good and bad, leaks no secret into a log or an answer.

The app secrets, the seller's tokens, an OAuth code, webhook signatures and the secret key
are searched for in every captured log line (structlog's and the libraries' through the
bridge) and in every answer body: none may be there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from signer.app import make_app
from signer.logs import LibraryLogBridge
from signer.partner.runtime import PARTNER, PartnerOptions
from signer.settings import Settings
from signer.store import Account, Secret, TokenPair
from tests.fakes.clock import FakeClock
from tests.fakes.server import LoopbackServer

if TYPE_CHECKING:
    from pathlib import Path

    from aiohttp.test_utils import TestClient

    from tests.conftest import ServeFake

ADMIN_KEY = "partner-admin-key-0123456789"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
SECRET_KEY = "the-store-secret-key-must-stay-secret"
SHOP_SECRET = "shop-secret-must-stay-secret"
BIZ_SECRET = "business-secret-must-stay-secret"
DEV_SECRET = "developers-secret-must-stay-secret"
ACCESS = "access-token-must-stay-secret"
REFRESH = "refresh-token-must-stay-secret"
CODE = "oauth-code-must-stay-secret"
NOW = 1_700_000_000.0
SECRETS = (SECRET_KEY, SHOP_SECRET, BIZ_SECRET, DEV_SECRET, ACCESS, REFRESH, CODE)


class Echo(LoopbackServer):
    """TikTok, failing, and quoting back everything it was sent (URL with query, body)."""

    async def fallback(self, request: web.Request) -> web.StreamResponse:
        """A 500 whose message echoes the request."""
        body = await request.text()
        message = f"cannot serve {request.url} {body} {dict(request.headers)}"
        return web.json_response({"code": 105001, "message": message}, status=500)


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


async def test_no_secret_in_any_log_line_or_answer(  # noqa: PLR0915 - one long scenario
    serve_fake: ServeFake, aiohttp_client: Any, tmp_path: Path
) -> None:
    """Every partner route, with good and bad input and an echoing TikTok."""
    echo = await serve_fake(Echo())
    settings = Settings(
        providers=("native",),
        data_dir=tmp_path,
        admin_key=ADMIN_KEY,
        secret_key=SECRET_KEY,
        shop_api_url=echo.origin,
        shop_auth_url=echo.origin,
        shop_authorize_url=echo.url("/open/authorize"),
        shop_legacy_authorize_url=echo.url("/oauth/authorize"),
    )
    clock = FakeClock(NOW)
    app = make_app(settings, partner=PartnerOptions(clock=clock, run_workers=False))
    client: TestClient[Any, Any] = await aiohttp_client(app)
    answers: list[str] = []

    async def call(method: str, path: str, **kwargs: Any) -> None:
        response = await client.request(method, path, allow_redirects=False, **kwargs)
        # What was asked (its path may carry a code) and what came back, kept apart.
        answers.append(
            f"{method} {path.split('?', maxsplit=1)[0]} {response.status} {await response.text()}"
        )

    bridge = LibraryLogBridge()
    logging.getLogger().addHandler(bridge)
    try:
        with structlog.testing.capture_logs() as logs:
            for kind, secret in (("shop", SHOP_SECRET), ("business", BIZ_SECRET),
                                 ("developers", DEV_SECRET)):  # fmt: skip
                body = {"id": kind, "kind": kind, "app_key": f"{kind}-key", "app_secret": secret}
                await call("POST", "/admin/partner/integrations", json=body, headers=ADMIN)
                await call("POST", "/admin/partner/integrations", json=body, headers=ADMIN)
            await call("POST", "/admin/partner/integrations", headers=ADMIN,
                       json={"id": "x", "kind": "nope", "app_secret": SHOP_SECRET})  # fmt: skip
            await call("POST", "/admin/partner/integrations", headers=ADMIN,
                       data=f'{{"app_secret": "{SHOP_SECRET}"')  # fmt: skip
            await call("GET", "/admin/partner/integrations", headers=ADMIN)
            store = await app[PARTNER].store()
            await store.upsert_account(
                Account(
                    integration_id="shop",
                    shop_id="7001",
                    shop_cipher="cipher",
                    tokens=TokenPair(Secret(ACCESS), NOW + 60, Secret(REFRESH), NOW + 86400),
                )
            )
            sign = {"integration": "shop", "method": "POST", "path": "/order/202309/orders",
                    "body": "{}", "shop_id": "7001"}  # fmt: skip
            await call("POST", "/partner/shop/sign", json={**sign, "query": {"a": "b"}})
            await call("POST", "/partner/shop/sign", json={**sign, "query": {"timestamp": "x"}})
            await call("GET", "/partner/shop/accounts")
            proxy = {"X-Partner-Integration": "shop", "X-Partner-Shop-Id": "7001"}
            await call("POST", "/partner/shop/proxy/order/202309/orders", data=b"{}",
                       headers={**proxy, "Content-Type": "application/json"})  # fmt: skip
            await call("GET", "/partner/shop/accounts")  # the echo's 105001 marked the account
            await call("GET", "/partner/shop/oauth/authorize?integration=shop")
            state = await store.create_state("shop", 600)
            await call("GET", f"/partner/shop/oauth/callback?code={CODE}&state={state.state}")
            await call("GET", f"/partner/shop/oauth/callback?code={CODE}&state=unknown")
            clock.advance(86400)
            await app[PARTNER].workers["shop-token-refresher"].run_once()
            fields = {"version": "1.0", "locale": "en", "business_platform": "P",
                      "external_business_id": "shop-1"}  # fmt: skip
            await call("POST", "/partner/business/external-data",
                       json={"integration": "business", "fields": fields})  # fmt: skip
            await call("POST", "/partner/business/external-data/verify",
                       json={"integration": "business", "external_data": "bad"})  # fmt: skip
            await call("POST", "/partner/business/external-data",
                       json={"integration": "business", "fields": {"x": BIZ_SECRET}})  # fmt: skip
            shop_body = json.dumps({"type": 1, "tts_notification_id": "n-1", "shop_id": "7001",
                                    "timestamp": int(NOW), "data": {}}).encode()  # fmt: skip
            shop_signature = _hmac(SHOP_SECRET, b"shop-key" + shop_body)
            for signature in (shop_signature, shop_signature[::-1]):
                await call("POST", "/webhooks/shop/shop", data=shop_body,
                           headers={"Authorization": signature})  # fmt: skip
            dev_body = json.dumps({"client_key": "developers-key", "event": "video.upload.failed",
                                   "create_time": int(NOW), "user_openid": "o",
                                   "content": "{}"}).encode()  # fmt: skip
            dev_signature = _hmac(DEV_SECRET, f"{int(NOW)}.".encode() + dev_body)
            for signature in (dev_signature, dev_signature[::-1]):
                await call("POST", "/webhooks/tiktok/developers", data=dev_body,
                           headers={"TikTok-Signature": f"t={int(NOW)},s={signature}"})  # fmt: skip
            await call("DELETE", "/admin/partner/integrations/business", headers=ADMIN)
    finally:
        logging.getLogger().removeHandler(bridge)
    assert echo.seen, "TikTok (the echo) was called"
    assert any(SHOP_SECRET in seen.query for seen in echo.seen)  # the token URL carries it
    rendered = repr(logs)
    signatures = (shop_signature, dev_signature)
    for secret in (*SECRETS, *signatures):
        assert secret not in rendered, secret
    for answer in answers:
        # The sign route answers the seller's token to its client, by design (DESIGN.md);
        # the proxy answers TikTok's words as they are (this TikTok echoes what it got).
        handed_out = (
            (ACCESS,)
            if answer.startswith(("POST /partner/shop/sign 200", "POST /partner/shop/proxy/"))
            else ()
        )
        for secret in SECRETS:
            assert secret in handed_out or secret not in answer, (answer[:80], secret)
    assert sum(ACCESS in answer for answer in answers) == 2
