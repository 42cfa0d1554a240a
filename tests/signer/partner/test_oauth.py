"""TikTok Shop OAuth through the real app: authorize, callback, refresher, lost grants."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import structlog

from signer.app import make_app
from signer.partner import oauth
from signer.partner.runtime import PARTNER, PartnerOptions
from signer.settings import Settings
from signer.store import open_store
from tests.fakes.clock import FakeClock
from tests.fakes.tiktok_shop import (
    INVALID_CODE,
    ORDERS_PATH,
    REFRESH_TOKEN_INVALID,
    FakeTikTokShop,
    Seller,
)

if TYPE_CHECKING:
    from pathlib import Path

    from aiohttp import web
    from aiohttp.test_utils import TestClient

    from signer.partner.runtime import Partner
    from signer.store import Account, Store
    from tests.conftest import ServeFake

ADMIN_KEY = "an-operators-key-of-some-length"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
APP_KEY = "test-app-key-oauth"
APP_SECRET = "test-app-secret-oauth-0001"
START = 1_700_000_000.0
AUTHORIZE_URL = "https://services.example.test/open/authorize"
LEGACY_URL = "https://auth.example.test/oauth/authorize"
REFRESH_BEFORE_S = 6 * 3600
INTERVAL_S = 300
TOKEN_GET = "/api/v2/token/get"
TOKEN_REFRESH = "/api/v2/token/refresh"
SHOPS = "/authorization/202309/shops"


def _shop(number: int) -> dict[str, Any]:
    return {
        "id": f"70{number:02d}",
        "name": f"Shop {number}",
        "region": "GB",
        "seller_type": "LOCAL",
        "cipher": f"GCP_cipher_{number}",
        "code": f"GB{number:04d}",
    }


def _seller(open_id: str = "open-1", shops: int = 1, first: int = 1) -> Seller:
    return Seller(open_id, f"Seller {open_id}", [_shop(first + n) for n in range(shops)])


@dataclass
class Env:
    """The app on loopback, the fake TikTok Shop behind it, and the clock they share."""

    client: TestClient[Any, Any]
    fake: FakeTikTokShop
    clock: FakeClock

    async def add_integration(self, integration: str = "shop1", **extra: Any) -> None:
        """Register a shop integration of the fake's app."""
        body = {
            "id": integration,
            "kind": "shop",
            "app_key": APP_KEY,
            "app_secret": APP_SECRET,
            "service_id": "7123",
            **extra,
        }
        response = await self.client.post("/admin/partner/integrations", json=body, headers=ADMIN)
        assert response.status == 201, await response.text()

    async def state(self, integration: str = "shop1", **query: str) -> str:
        """What the authorize redirect carries as the state."""
        response = await self.authorize(integration, **query)
        assert response.status == 302
        return parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]

    async def authorize(self, integration: str = "shop1", **query: str) -> aiohttp.ClientResponse:
        """The seller's browser opening the authorize route."""
        return await self.client.get(
            "/partner/shop/oauth/authorize",
            params={"integration": integration, **query},
            allow_redirects=False,
        )

    async def callback(self, code: str | None, state: str | None) -> aiohttp.ClientResponse:
        """TikTok sending the seller back, with the parameters it appends."""
        params = {"app_key": APP_KEY, "locale": "en-GB", "shop_region": "GB"}
        if code is not None:
            params["code"] = code
        if state is not None:
            params["state"] = state
        return await self.client.get("/partner/shop/oauth/callback", params=params)

    async def authorized(self, seller: Seller, integration: str = "shop1") -> dict[str, Any]:
        """The whole authorization of ``seller``; the callback's answer."""
        state = await self.state(integration)
        response = await self.callback(self.fake.issue_code(seller), state)
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def accounts(self) -> list[dict[str, Any]]:
        """What ``GET /partner/shop/accounts`` lists."""
        response = await self.client.get("/partner/shop/accounts")
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        accounts: list[dict[str, Any]] = body["accounts"]
        return accounts

    @property
    def partner(self) -> Partner:
        """The app's partner state."""
        app: web.Application = self.client.app
        return app[PARTNER]

    async def store(self) -> Store:
        """The app's store."""
        return await self.partner.store()

    async def account(self, shop_id: str, integration: str = "shop1") -> Account:
        """One stored account, tokens included."""
        found = await (await self.store()).get_account(integration, shop_id)
        assert found is not None
        return found

    async def refresh(self) -> float:
        """One round of the refresher."""
        await self.store()
        return await self.partner.workers["shop-token-refresher"].run_once()

    async def sign(self, shop_id: str, integration: str = "shop1") -> aiohttp.ClientResponse:
        """``POST /partner/shop/sign`` of an order search for ``shop_id``."""
        body = {"integration": integration, "method": "POST", "path": ORDERS_PATH}
        return await self.client.post(
            "/partner/shop/sign", json={**body, "shop_id": shop_id, "body": "{}"}
        )

    async def proxy(self, shop_id: str, integration: str = "shop1") -> aiohttp.ClientResponse:
        """An order search through the proxy for ``shop_id``."""
        headers = {"X-Partner-Integration": integration, "X-Partner-Shop-Id": shop_id}
        return await self.client.post(
            f"/partner/shop/proxy{ORDERS_PATH}",
            data=b"{}",
            headers={**headers, "Content-Type": "application/json"},
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def make_env(
    aiohttp_client: Any, serve_fake: ServeFake, tmp_path: Path
) -> Any:  # the factory's type is spelled by its use
    """Build an :class:`Env`; ``auth_url`` overrides where the app reaches the auth server."""

    async def _make(
        *, auth_url: str | None = None, timeout_s: float = 5.0, **fake_args: Any
    ) -> Env:
        clock = FakeClock(START)
        fake = await serve_fake(FakeTikTokShop(APP_KEY, APP_SECRET, clock, **fake_args))
        settings = Settings(
            providers=("native",),
            data_dir=tmp_path,
            admin_key=ADMIN_KEY,
            shop_auth_url=auth_url or fake.origin,
            shop_api_url=fake.origin,
            shop_authorize_url=AUTHORIZE_URL,
            shop_legacy_authorize_url=LEGACY_URL,
            shop_timeout_s=timeout_s,
            shop_refresh_before_s=REFRESH_BEFORE_S,
            shop_refresh_interval_s=INTERVAL_S,
        )
        app = make_app(settings, partner=PartnerOptions(clock=clock, run_workers=False))
        env = Env(await aiohttp_client(app), fake, clock)
        await env.add_integration()
        return env

    return _make


@pytest.fixture
async def env(make_env: Any) -> Env:
    """The app, the fake TikTok Shop and a shop integration ``shop1`` with a service id."""
    made: Env = await make_env()
    return made


# -- authorize


async def test_authorize_redirects_with_service_id(env: Env) -> None:
    """The current form: TikTok's services URL with the service id and a fresh state."""
    response = await env.authorize()
    assert response.status == 302
    assert response.headers["Cache-Control"] == "no-store"
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == AUTHORIZE_URL
    query = parse_qs(location.query)
    assert query["service_id"] == ["7123"]
    assert len(query["state"][0]) >= 32
    assert await env.state() != query["state"][0]


@pytest.mark.parametrize("with_service_id", [True, False])
async def test_authorize_legacy_form(env: Env, *, with_service_id: bool) -> None:
    """``form=legacy``, or an integration without service id: the app_key form."""
    if with_service_id:
        response = await env.authorize(form="legacy")
    else:
        await env.add_integration("old", service_id=None, environment="sandbox")
        response = await env.authorize("old")
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == LEGACY_URL
    query = parse_qs(location.query)
    assert query["app_key"] == [APP_KEY]
    assert "service_id" not in query
    assert query["state"][0]


async def test_authorize_refusals(env: Env) -> None:
    """A bad form, an unknown integration, one of another kind: refused, no redirect."""
    bad_form = await env.authorize(form="newest")
    assert bad_form.status == 400
    unknown = await env.authorize("nobody")
    assert unknown.status == 404
    await env.add_integration("biz", kind="business", service_id=None)
    other_kind = await env.authorize("biz")
    assert other_kind.status == 400
    assert (await other_kind.json())["error"]["code"] == "wrong_integration_kind"
    await env.add_integration("old", service_id=None, environment="sandbox")
    no_service = await env.authorize("old", form="current")
    assert no_service.status == 400


# -- callback


async def test_code_exchange_keeps_every_shop_without_showing_a_token(env: Env) -> None:
    """The callback stores one account per shop; neither it nor the listing shows a secret."""
    seller = _seller(shops=2)
    state = await env.state()
    env.clock.advance(60)
    response = await env.callback(env.fake.issue_code(seller), state)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = await response.text()
    assert await response.json() == {
        "status": "authorized",
        "integration": "shop1",
        "shops": [
            {"shop_id": "7001", "seller_name": "Seller open-1", "shop_cipher": "GCP_cipher_1"},
            {"shop_id": "7002", "seller_name": "Seller open-1", "shop_cipher": "GCP_cipher_2"},
        ],
    }
    accounts = await env.accounts()
    listing = repr(accounts)
    for secret in [*env.fake.issued, APP_SECRET]:
        assert secret not in text
        assert secret not in listing
    assert [(a["shop_id"], a["shop_cipher"], a["state"]) for a in accounts] == [
        ("7001", "GCP_cipher_1", "active"),
        ("7002", "GCP_cipher_2", "active"),
    ]
    first = accounts[0]
    assert first["open_id"] == "open-1"
    assert first["oauth_begun_at"] == START
    assert first["access_token_expires_at"] == START + 60 + env.fake.access_ttl_s
    assert first["refresh_token_expires_at"] == START + 60 + env.fake.refresh_ttl_s
    assert first["access_token_expired"] is False
    assert env.fake.count(TOKEN_GET) == env.fake.count(SHOPS) == 1


async def test_state_is_single_use(env: Env) -> None:
    """A state works once: the second callback with it is refused before any exchange."""
    state = await env.state()
    assert (await env.callback(env.fake.issue_code(_seller()), state)).status == 200
    again = await env.callback(env.fake.issue_code(_seller("open-2")), state)
    assert again.status == 400
    assert (await again.json())["error"]["code"] == "invalid_state"
    assert env.fake.count(TOKEN_GET) == 1
    assert len(await env.accounts()) == 1


@pytest.mark.parametrize("state", ["made-up-state", "", None])
async def test_unknown_state_refused_without_exchange(env: Env, state: str | None) -> None:
    """A state the service never gave (or none): 400, nothing sent to TikTok or stored."""
    await env.state()
    response = await env.callback(env.fake.issue_code(_seller()), state)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_state"
    assert env.fake.count(TOKEN_GET) == 0
    assert await env.accounts() == []


async def test_expired_state_refused(env: Env) -> None:
    """A state older than its time to live is refused; no exchange is attempted."""
    state = await env.state()
    env.clock.advance(1801)
    response = await env.callback(env.fake.issue_code(_seller()), state)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_state"
    assert env.fake.count(TOKEN_GET) == 0


async def test_missing_code_refused(env: Env) -> None:
    """A callback without a code (the seller declined) is a 400 and stores nothing."""
    response = await env.callback(None, await env.state())
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "bad_request"
    assert env.fake.count(TOKEN_GET) == 0


async def test_reused_code_refused(env: Env) -> None:
    """A second callback with a fresh state but a used code: TikTok refuses, 502, no account."""
    code = env.fake.issue_code(_seller())
    assert (await env.callback(code, await env.state())).status == 200
    before = await env.accounts()
    env.clock.advance(10)
    response = await env.callback(code, await env.state())
    assert response.status == 502
    error = (await response.json())["error"]
    assert error["code"] == "tiktok_refused"
    assert error["tiktok_code"] == INVALID_CODE
    assert str(INVALID_CODE) in error["message"]
    assert code not in error["message"]
    assert APP_SECRET not in error["message"]
    assert await env.accounts() == before


async def test_expired_code_refused(env: Env) -> None:
    """A code older than 30 minutes is refused by TikTok: 502 and nothing stored."""
    code = env.fake.issue_code(_seller())
    env.clock.advance(1801)
    response = await env.callback(code, await env.state())
    assert response.status == 502
    assert await env.accounts() == []


async def test_listing_failure_keys_the_account_by_open_id(env: Env) -> None:
    """Shops that cannot be listed: one account keyed by the seller's open_id, and a note."""
    env.fake.shops_error = 36009001
    body = await env.authorized(_seller())
    assert body["shops"] == [
        {"shop_id": "open-1", "seller_name": "Seller open-1", "shop_cipher": None}
    ]
    assert "open_id" in body["note"]
    assert [a["shop_id"] for a in await env.accounts()] == ["open-1"]


async def test_listing_entries_without_an_id_are_skipped(env: Env) -> None:
    """Numeric ids are kept as text; entries without an id are not accounts; none: open_id."""
    odd = Seller("open-7", "Odd", [{"id": 7050, "name": "Numeric", "cipher": "C"}, "junk", {}])
    body = await env.authorized(odd)
    assert body["shops"] == [{"shop_id": "7050", "seller_name": "Odd", "shop_cipher": "C"}]
    empty = await env.authorized(Seller("open-8", "", []))
    assert empty["shops"] == [{"shop_id": "open-8", "seller_name": None, "shop_cipher": None}]
    assert "note" in empty


async def test_unreadable_token_reply_is_502(make_env: Any, serve_fake: ServeFake) -> None:
    """An auth server answering something that is not TikTok's envelope: tiktok_unavailable."""
    other = await serve_fake(FakeTikTokShop(APP_KEY, APP_SECRET, FakeClock(START)))
    env: Env = await make_env(auth_url=other.url("/elsewhere"))
    response = await env.callback(env.fake.issue_code(_seller()), await env.state())
    assert response.status == 502
    assert (await response.json())["error"]["code"] == "tiktok_unavailable"
    assert other.paths == ["/elsewhere/api/v2/token/get"]


async def test_integration_removed_before_the_callback(env: Env) -> None:
    """The integration is deleted while the seller authorizes: its states go too, no exchange."""
    state = await env.state()
    removed = await env.client.delete("/admin/partner/integrations/shop1", headers=ADMIN)
    assert removed.status == 200
    response = await env.callback(env.fake.issue_code(_seller()), state)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_state"
    assert env.fake.count(TOKEN_GET) == 0


async def test_exchange_timeout_is_504(make_env: Any) -> None:
    """An auth server that does not answer within the time-out: 504 tiktok_timeout."""
    env: Env = await make_env(timeout_s=0.3)
    env.fake.hanging = True
    response = await env.callback(env.fake.issue_code(_seller()), await env.state())
    assert response.status == 504
    assert (await response.json())["error"]["code"] == "tiktok_timeout"
    assert await env.accounts() == []


async def test_unreachable_auth_server_is_502(make_env: Any) -> None:
    """An auth server nobody listens on: 502 tiktok_unavailable, naming no URL."""
    env: Env = await make_env(auth_url=f"http://127.0.0.1:{_free_port()}")
    code = env.fake.issue_code(_seller())
    response = await env.callback(code, await env.state())
    assert response.status == 502
    error = (await response.json())["error"]
    assert error["code"] == "tiktok_unavailable"
    assert "127.0.0.1" not in error["message"]
    assert code not in error["message"]


# -- signing with the seller's token


async def test_sign_route_uses_the_sellers_token_and_cipher(env: Env) -> None:
    """After OAuth, a sign with shop_id carries the token header and the shop's cipher."""
    await env.authorized(_seller(shops=2))
    response = await env.sign("7002")
    assert response.status == 200
    signed = await response.json()
    token = signed["headers"]["x-tts-access-token"]
    assert token in env.fake.access
    query = parse_qs(urlsplit(signed["signed_url"]).query)
    assert query["shop_cipher"] == ["GCP_cipher_2"]
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            signed["signed_url"],
            data=b"{}",
            headers={**signed["headers"], "Content-Type": "application/json"},
        ) as reply,
    ):
        assert (await reply.json())["code"] == 0


async def test_proxy_success_leaves_the_account_active(env: Env) -> None:
    """A proxied call TikTok accepts (sign, token and cipher checked) changes nothing."""
    await env.authorized(_seller())
    response = await env.proxy("7001")
    assert response.status == 200
    assert (await response.json())["code"] == 0
    assert (await env.account("7001")).state == "active"


async def test_proxy_answer_105_marks_the_account(env: Env) -> None:
    """TikTok answers a proxied call 105001 (grant withdrawn): the account needs reauthorizing."""
    seller = _seller(shops=2)
    await env.authorized(seller)
    env.fake.revoke(seller)
    response = await env.proxy("7001")
    assert response.status == 200
    assert (await response.json())["code"] == 105001
    assert (await env.account("7001")).state == "needs_reauthorization"
    assert (await env.account("7002")).state == "active"
    again = await env.proxy("7001")
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "reauthorization_needed"


@pytest.mark.parametrize(
    "answer",
    [
        b"<html>busy</html>",
        b"",
        b'{"code": 0, "data": {"items": [{"code": 105001}]}}',
        b'{"code": 1050011, "message": "not a grant code"}',
        b'{"code": 36009004, "message": "other"}',
    ],
)
async def test_other_answers_leave_the_account_alone(env: Env, answer: bytes) -> None:
    """Non-JSON answers, nested or other codes: the account stays active."""
    await env.authorized(_seller())
    account = await env.account("7001")
    await oauth.note_api_answer(await env.store(), account, answer)
    assert (await env.account("7001")).state == "active"


# -- the refresher


async def test_nothing_due_right_after_authorization(env: Env) -> None:
    """A fresh pair is not refreshed; the worker asks to run again within its interval."""
    await env.authorized(_seller())
    assert await env.refresh() == INTERVAL_S
    assert env.fake.count(TOKEN_REFRESH) == 0


async def test_refresh_rotates_both_tokens(env: Env) -> None:
    """Near expiry both tokens are replaced in the store; the old refresh token is dead."""
    await env.authorized(_seller())
    old = (await env.account("7001")).tokens
    env.clock.advance(env.fake.access_ttl_s - REFRESH_BEFORE_S + 1)
    await env.refresh()
    assert env.fake.count(TOKEN_REFRESH) == 1
    new = await env.account("7001")
    assert new.state == "active"
    assert new.tokens.access_token.reveal() != old.access_token.reveal()
    assert new.tokens.refresh_token.reveal() != old.refresh_token.reveal()
    assert new.tokens.access_token.reveal() in env.fake.access
    assert new.tokens.access_expires_at == env.clock() + env.fake.access_ttl_s
    signed = await (await env.sign("7001")).json()
    assert signed["headers"]["x-tts-access-token"] == new.tokens.access_token.reveal()
    query = {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "refresh_token": old.refresh_token.reveal(),
        "grant_type": "refresh_token",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.get(env.fake.url(TOKEN_REFRESH), params=query) as reply,
    ):
        assert (await reply.json())["code"] == REFRESH_TOKEN_INVALID


async def test_one_refresh_per_shared_pair(env: Env) -> None:
    """Three shops of one seller share a pair: one refresh; another seller's pair its own."""
    await env.authorized(_seller("open-1", shops=3))
    await env.authorized(_seller("open-2", shops=1, first=9))
    env.clock.advance(env.fake.access_ttl_s)
    await env.refresh()
    assert env.fake.count(TOKEN_REFRESH) == 2
    pairs = {
        shop_id: (await env.account(shop_id)).tokens.refresh_token.reveal()
        for shop_id in ("7001", "7002", "7003", "7009")
    }
    assert pairs["7001"] == pairs["7002"] == pairs["7003"] != pairs["7009"]
    assert all(token in env.fake.refresh for token in pairs.values())
    await env.refresh()
    assert env.fake.count(TOKEN_REFRESH) == 2


async def test_one_refresher_among_several_workers(env: Env) -> None:
    """While another worker holds the refresher's lease this one refreshes nothing."""
    await env.authorized(_seller())
    env.clock.advance(86400)
    store = await env.store()
    assert await store.acquire_lease("shop-token-refresher", "another-worker", 600)
    assert await env.refresh() == env.partner.settings.shop_refresh_interval_s
    assert env.fake.count(TOKEN_REFRESH) == 0
    env.clock.advance(601)  # the other worker died: its lease ran out
    await env.refresh()
    assert env.fake.count(TOKEN_REFRESH) == 1
    assert not await store.acquire_lease("shop-token-refresher", "another-worker", 600)


async def test_a_stopped_refresher_hands_its_lease_over_at_once(env: Env, tmp_path: Path) -> None:
    """A worker that shuts down gives the lease up: another takes it without waiting it out."""
    await env.authorized(_seller())
    await env.refresh()  # this worker holds the refresher's lease now
    other = await open_store(None, tmp_path, None, now=env.clock)
    try:
        assert not await other.acquire_lease("shop-token-refresher", "next-worker", 600)
        await env.client.close()
        assert await other.acquire_lease("shop-token-refresher", "next-worker", 600)
    finally:
        await other.close()


async def test_refreshed_at_least_daily(env: Env) -> None:
    """Far from expiry, a pair is still refreshed once it is a day old, not before."""
    await env.authorized(_seller())
    env.clock.advance(86400 - 100)
    assert await env.refresh() == 100
    assert env.fake.count(TOKEN_REFRESH) == 0
    env.clock.advance(100)
    await env.refresh()
    assert env.fake.count(TOKEN_REFRESH) == 1


async def test_refresh_answer_105_needs_reauthorization(env: Env) -> None:
    """A 105xxx refresh answer marks every shop of the pair; signing for one answers 409."""
    await env.authorized(_seller(shops=2))
    env.fake.refresh_error = 105002
    env.clock.advance(86400)
    await env.refresh()
    for shop_id in ("7001", "7002"):
        assert (await env.account(shop_id)).state == "needs_reauthorization"
    response = await env.sign("7001")
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "reauthorization_needed"
    await env.refresh()
    assert env.fake.count(TOKEN_REFRESH) == 1
    body = await env.authorized(_seller(shops=2))
    assert len(body["shops"]) == 2
    assert (await env.account("7001")).state == "active"


async def test_refused_refresh_of_a_replaced_pair_marks_nothing(env: Env) -> None:
    """The pair was replaced meanwhile (a new authorization, another worker): no mark."""
    seller = _seller()
    await env.authorized(seller)
    env.fake.refresh_error = 105002
    env.fake.on_refresh = lambda: env.authorized(seller)
    env.clock.advance(86400)
    await env.refresh()
    assert (await env.account("7001")).state == "active"
    assert (await env.account("7001")).tokens.refresh_token.reveal() in env.fake.refresh


async def test_refresh_other_error_keeps_the_pair(env: Env) -> None:
    """Another error code: the pair and the account stay, and the next round retries."""
    await env.authorized(_seller())
    old = (await env.account("7001")).tokens
    env.fake.refresh_error = 50000
    env.clock.advance(86400)
    await env.refresh()
    kept = await env.account("7001")
    assert kept.state == "active"
    assert kept.tokens.refresh_token.reveal() == old.refresh_token.reveal()
    env.fake.refresh_error = None
    await env.refresh()
    assert env.fake.count(TOKEN_REFRESH) == 2
    assert (await env.account("7001")).tokens.refresh_token.reveal() != old.refresh_token.reveal()


async def test_refresh_timeout_keeps_the_pair(make_env: Any) -> None:
    """An auth server that hangs during a refresh: logged, the pair kept, the account active."""
    env: Env = await make_env(timeout_s=0.3)
    await env.authorized(_seller())
    env.fake.hanging = True
    env.clock.advance(86400)
    with structlog.testing.capture_logs() as logs:
        await env.refresh()
    assert (await env.account("7001")).state == "active"
    failed = [e for e in logs if e["event"] == "shop_token_refresh_failed"]
    assert failed == [{**failed[0], "integration": "shop1", "error": "TikTokTimeout"}]


async def test_expired_refresh_token_needs_reauthorization_without_a_call(make_env: Any) -> None:
    """A refresh token already expired: the accounts are marked and TikTok is not asked."""
    env: Env = await make_env(access_ttl_s=86400 * 2, refresh_ttl_s=86400 * 3)
    await env.authorized(_seller())
    env.clock.advance(86400 * 3)
    await env.refresh()
    assert env.fake.count(TOKEN_REFRESH) == 0
    assert (await env.account("7001")).state == "needs_reauthorization"


async def test_refresher_waits_less_when_a_pair_is_due_sooner(make_env: Any) -> None:
    """A pair due in less than the interval: the worker asks to run when it is due."""
    env: Env = await make_env(access_ttl_s=REFRESH_BEFORE_S + 100)
    await env.authorized(_seller())
    assert await env.refresh() == 100


# -- logs


async def test_no_secret_in_any_log_line(env: Env) -> None:
    """Codes, tokens and the app secret never appear in a log line, whatever happened."""
    seller = _seller(shops=2)
    with structlog.testing.capture_logs() as logs:
        code = env.fake.issue_code(seller)
        await env.callback(code, await env.state())
        await env.callback(code, await env.state())
        await env.callback("not-a-code-1234", "not-a-state-5678")
        env.clock.advance(86400)
        await env.refresh()
        await env.proxy("7001")
        env.fake.revoke(seller)
        await env.proxy("7001")
        env.fake.refresh_error = 105002
        env.clock.advance(86400)
        await env.authorized(_seller("open-2", first=5))
        env.clock.advance(86400)
        await env.refresh()
    events = {event["event"] for event in logs}
    assert {"shop_authorized", "shop_tokens_refreshed", "shop_authorization_lost"} <= events
    assert "shop_code_exchange_refused" in events
    rendered = repr(logs)
    for secret in [*env.fake.issued, APP_SECRET, "not-a-code-1234", "not-a-state-5678"]:
        assert secret not in rendered
