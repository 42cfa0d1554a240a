"""The partner routes over HTTP: integrations, Shop sign and proxy, Business external_data.

The real app on loopback with a SQLite store in the test's directory; the Shop API the proxy
calls is a fake on 127.0.0.1 that checks the sign with its own few lines of HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web
from yarl import URL

from signer.app import make_app
from signer.partner.runtime import PARTNER, PartnerOptions
from signer.settings import Settings
from signer.store import Account, Secret, TokenPair
from tests.fakes.clock import FakeClock
from tests.fakes.server import LoopbackServer
from tests.support import load_vectors

if TYPE_CHECKING:
    from pathlib import Path

    from aiohttp.test_utils import TestClient

    from tests.conftest import ServeFake

ADMIN_KEY = "partner-admin-key-0123456789"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
NOW = 1_700_000_000.0
SHOP_SECRET = "shop-app-secret-never-shown"
BUSINESS_SECRET = "test-app-secret-0001"

SHOP_SIGN = load_vectors("partner/shop-sign.json")
EXTERNAL_DATA = load_vectors("partner/external-data.json")


class FakeShopApi(LoopbackServer):
    """The Shop Open API: checks the sign of every request, answers ``reply`` (JSON)."""

    def __init__(self, app_key: str, secret: str) -> None:
        super().__init__()
        self.app_key = app_key
        self.secret = secret
        self.status = 200
        self.reply: dict[str, Any] = {"code": 0, "message": "success", "data": {"ok": True}}
        self.hang = False

    def expected_sign(self, request: web.Request, body: bytes) -> str:
        """The sign as the Shop API computes it (202309: the body unless multipart)."""
        pairs = sorted(
            (k, v)
            for k, v in parse_qsl(request.query_string, keep_blank_values=True)
            if k not in {"sign", "access_token"}
        )
        message = (request.path + "".join(k + v for k, v in pairs)).encode()
        if not request.content_type.startswith("multipart/"):
            message += body
        wrapped = self.secret.encode() + message + self.secret.encode()
        return hmac.new(self.secret.encode(), wrapped, hashlib.sha256).hexdigest()

    async def fallback(self, request: web.Request) -> web.StreamResponse:
        """Every path is an API: check the app key and the sign, then answer."""
        body = await request.read()
        if self.hang:
            await self.until_closed()
        if request.query.get("app_key") != self.app_key:
            return web.json_response({"code": 106001, "message": "bad app_key"})
        if request.query.get("sign") != self.expected_sign(request, body):
            return web.json_response({"code": 106002, "message": "sign mismatch"})
        return web.json_response(self.reply, status=self.status)


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "providers": ("native",),
        "data_dir": tmp_path,
        "admin_key": ADMIN_KEY,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def wall() -> FakeClock:
    """The partner routes' wall clock, at NOW until a test moves it."""
    return FakeClock(NOW)


@pytest.fixture
async def partner(aiohttp_client: Any, tmp_path: Path, wall: FakeClock) -> TestClient[Any, Any]:
    """The app with the ``wall`` clock and no background workers looping."""
    app = make_app(_settings(tmp_path), partner=PartnerOptions(clock=wall, run_workers=False))
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return client


async def _add(client: TestClient[Any, Any], **fields: Any) -> dict[str, Any]:
    response = await client.post("/admin/partner/integrations", json=fields, headers=ADMIN)
    assert response.status == 201, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def _error(response: Any, status: int, code: str) -> str:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    return message


# -- integrations


async def test_integration_added_without_echoing_its_secret(
    partner: TestClient[Any, Any], tmp_path: Path
) -> None:
    """201 with the integration's public parts; the secret is nowhere, not even on disk."""
    added = await _add(
        partner,
        id="shop-1",
        kind="shop",
        app_key="key-1",
        app_secret=SHOP_SECRET,
        service_id="7001",
    )
    assert added == {
        "id": "shop-1",
        "kind": "shop",
        "app_key": "key-1",
        "environment": "production",
        "service_id": "7001",
        "created_at": NOW,
        "webhook_path": "/webhooks/shop/shop-1",
    }
    listed = await (await partner.get("/admin/partner/integrations", headers=ADMIN)).text()
    assert "shop-1" in listed
    assert SHOP_SECRET not in listed
    files = {path.name: path.read_bytes() for path in sorted(tmp_path.iterdir())}  # noqa: ASYNC240
    assert "signer.db" in files
    assert not [name for name, data in files.items() if SHOP_SECRET.encode() in data]


async def test_one_integration_per_app_and_environment(partner: TestClient[Any, Any]) -> None:
    """The same id, or the same app again in one environment, is a 409; a sandbox is not."""
    await _add(partner, id="shop-1", kind="shop", app_key="key-1", app_secret="s")
    again = await partner.post(
        "/admin/partner/integrations",
        json={"id": "shop-1", "kind": "business", "app_key": "other", "app_secret": "s"},
        headers=ADMIN,
    )
    await _error(again, 409, "integration_exists")
    same_app = await partner.post(
        "/admin/partner/integrations",
        json={"id": "shop-2", "kind": "shop", "app_key": "key-1", "app_secret": "s"},
        headers=ADMIN,
    )
    assert "production" in await _error(same_app, 409, "integration_exists")
    sandbox = await _add(
        partner,
        id="shop-sandbox",
        kind="shop",
        app_key="key-1",
        app_secret="s",
        environment="sandbox",
    )
    assert sandbox["environment"] == "sandbox"


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"kind": "shop", "app_key": "k", "app_secret": "s"}, "'id'"),
        ({"id": "../x", "kind": "shop", "app_key": "k", "app_secret": "s"}, "'id'"),
        ({"id": "x", "kind": "tiktok", "app_key": "k", "app_secret": "s"}, "'kind'"),
        ({"id": "x", "kind": "shop", "app_secret": "s"}, "'app_key'"),
        ({"id": "x", "kind": "shop", "app_key": "k", "app_secret": ""}, "'app_secret'"),
        (
            {"id": "x", "kind": "shop", "app_key": "k", "app_secret": "s", "environment": "qa"},
            "'environment'",
        ),
        (
            {"id": "x", "kind": "shop", "app_key": "k", "app_secret": "s", "service_id": 7},
            "'service_id'",
        ),
    ],
)
async def test_bad_integration_refused(
    partner: TestClient[Any, Any], fields: dict[str, Any], word: str
) -> None:
    """Each malformed field is a 400 that names it; nothing is stored."""
    response = await partner.post("/admin/partner/integrations", json=fields, headers=ADMIN)
    assert word in await _error(response, 400, "bad_request")
    listed = await (await partner.get("/admin/partner/integrations", headers=ADMIN)).json()
    assert listed == {"integrations": []}


async def test_integration_removed(partner: TestClient[Any, Any]) -> None:
    """DELETE forgets it (then 404); the admin key is needed for all of it."""
    await _add(partner, id="biz", kind="business", app_key="k", app_secret="s")
    anonymous = await partner.delete("/admin/partner/integrations/biz")
    await _error(anonymous, 401, "invalid_admin_key")
    removed = await partner.delete("/admin/partner/integrations/biz", headers=ADMIN)
    assert await removed.json() == {"removed": "biz"}
    gone = await partner.delete("/admin/partner/integrations/biz", headers=ADMIN)
    await _error(gone, 404, "integration_not_found")
    response = await partner.post(
        "/partner/business/external-data", json={"integration": "biz", "fields": {}}
    )
    await _error(response, 404, "integration_not_found")


async def test_no_store_until_the_partner_routes_are_used(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """An app that never uses them creates no database and no secret key."""
    client = await aiohttp_client(make_app(_settings(tmp_path)))
    assert (await client.get("/health")).status == 200
    assert not (tmp_path / "signer.db").exists()
    assert not (tmp_path / "secret.key").exists()
    assert not client.app[PARTNER].opened


# -- TikTok Shop sign


def _pairs(query: Any) -> list[tuple[str, str]]:
    items = query.items() if isinstance(query, dict) else query
    return [(str(k), str(v)) for k, v in items]


SIGNABLE = [
    case
    for case in SHOP_SIGN["cases"]
    if any(key == "app_key" for key, _ in _pairs(case["query"]))
    and any(key == "timestamp" for key, _ in _pairs(case["query"]))
]


def test_the_route_can_take_most_shop_vectors() -> None:
    """Vectors without an app_key (the route always adds one) are checked on the module."""
    assert len(SIGNABLE) >= len(SHOP_SIGN["cases"]) - 2


@pytest.mark.parametrize("case", SIGNABLE, ids=[case["id"] for case in SIGNABLE])
async def test_every_shop_vector_through_the_route(
    partner: TestClient[Any, Any], case: dict[str, Any]
) -> None:
    """The route's sign is the vector's, and its signed URL carries it and every parameter."""
    pairs = _pairs(case["query"])
    app_key = next(value for key, value in pairs if key == "app_key")
    await _add(partner, id="shop", kind="shop", app_key=app_key, app_secret=case["app_secret"])
    request: dict[str, Any] = {
        "integration": "shop",
        "method": case["method"],
        "path": case["path"],
        "query": case["query"],
        "content_type": case["content_type"],
    }
    if case["body"] is not None:
        request["body"] = case["body"]
    response = await partner.post("/partner/shop/sign", json=request)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["sign"] == case["expected_sign"]
    stamp = next(value for key, value in pairs if key == "timestamp")
    assert answer["timestamp"] == int(stamp)
    url = urlsplit(answer["signed_url"])
    assert f"{url.scheme}://{url.netloc}" == "https://open-api.tiktokglobalshop.com"
    assert url.path == case["path"]
    sent = parse_qsl(url.query, keep_blank_values=True)
    assert ("sign", case["expected_sign"]) in sent
    assert ("app_key", app_key) in sent
    assert all(key != "access_token" for key, _ in sent)


async def test_timestamp_added_from_the_clock(partner: TestClient[Any, Any]) -> None:
    """Without a timestamp the current second is added (and signed); app_key comes from us."""
    await _add(partner, id="shop", kind="shop", app_key="key-1", app_secret=SHOP_SECRET)
    response = await partner.post(
        "/partner/shop/sign",
        json={
            "integration": "shop",
            "method": "get",
            "path": "/test-api",
            "query": [["foo", "bar"], ["app_key", "forged"]],
        },
    )
    answer = await response.json()
    assert answer["timestamp"] == int(NOW)
    message = f"{SHOP_SECRET}/test-apiapp_keykey-1foobartimestamp{int(NOW)}{SHOP_SECRET}"
    expected = hmac.new(SHOP_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    assert answer["sign"] == expected
    assert answer["headers"] == {}
    assert "forged" not in answer["signed_url"]
    assert SHOP_SECRET not in json.dumps(answer)


async def _seller(client: TestClient[Any, Any], state: str = "active") -> Account:
    app: web.Application = client.app
    store = await app[PARTNER].store()
    account: Account = await store.upsert_account(
        Account(
            integration_id="shop",
            shop_id="7494049642642441621",
            shop_cipher="ROW_cipher-1",
            seller_name="Seller",
            tokens=TokenPair(
                access_token=Secret("access-token-of-the-seller"),
                access_expires_at=NOW + 3600,
                refresh_token=Secret("refresh-token-of-the-seller"),
                refresh_expires_at=NOW + 86400,
            ),
        )
    )
    if state != "active":
        account = await store.mark_account("shop", account.shop_id, "needs_reauthorization")
    return account


async def test_shop_id_brings_the_token_and_the_cipher(partner: TestClient[Any, Any]) -> None:
    """The seller's token goes in the header, the shop's cipher in the query (not for /seller)."""
    await _add(partner, id="shop", kind="shop", app_key="key-1", app_secret=SHOP_SECRET)
    account = await _seller(partner)
    orders = await (
        await partner.post(
            "/partner/shop/sign",
            json={
                "integration": "shop",
                "method": "POST",
                "path": "/order/202309/orders/search",
                "query": {"page_size": "10"},
                "body": "{}",
                "shop_id": account.shop_id,
            },
        )
    ).json()
    assert orders["headers"] == {"x-tts-access-token": "access-token-of-the-seller"}
    assert ("shop_cipher", "ROW_cipher-1") in parse_qsl(urlsplit(orders["signed_url"]).query)
    seller = await (
        await partner.post(
            "/partner/shop/sign",
            json={
                "integration": "shop",
                "method": "GET",
                "path": "/seller/202309/shops",
                "shop_id": account.shop_id,
            },
        )
    ).json()
    assert "shop_cipher" not in seller["signed_url"]


async def test_shop_sign_refusals(partner: TestClient[Any, Any]) -> None:
    """Unknown integration, wrong kind, unknown shop, re-authorization, malformed fields."""
    await _add(partner, id="shop", kind="shop", app_key="key-1", app_secret=SHOP_SECRET)
    await _add(partner, id="biz", kind="business", app_key="key-2", app_secret="s")
    base = {"integration": "shop", "method": "GET", "path": "/api"}

    async def sign(**changes: Any) -> Any:
        return await partner.post("/partner/shop/sign", json={**base, **changes})

    await _error(await sign(integration="nope"), 404, "integration_not_found")
    await _error(await sign(integration="biz"), 400, "wrong_integration_kind")
    await _error(await sign(shop_id="404"), 404, "account_not_found")
    await _error(await sign(method="TRACE"), 400, "bad_request")
    await _error(await sign(path=""), 400, "bad_request")
    await _error(await sign(query="a=b"), 400, "bad_request")
    await _error(await sign(body={"json": "object"}), 400, "bad_request")
    await _error(await sign(query={"timestamp": "yesterday"}), 400, "bad_request")
    bad_json = await partner.post(
        "/partner/shop/sign", data=b"{", headers={"Content-Type": "application/json"}
    )
    await _error(bad_json, 400, "invalid_json")
    account = await _seller(partner, state="needs_reauthorization")
    await _error(await sign(shop_id=account.shop_id), 409, "reauthorization_needed")


async def test_partner_routes_need_a_client_key(aiohttp_client: Any, tmp_path: Path) -> None:
    """With client keys on, the partner API wants one (the admin key passes too)."""
    keys = tmp_path / "keys"
    client_key = "a-client-key-of-alice-0123"
    keys.write_text(f"alice:{hashlib.sha256(client_key.encode()).hexdigest()}\n")
    app = make_app(
        _settings(tmp_path, api_keys_file=keys),
        partner=PartnerOptions(clock=lambda: NOW, run_workers=False),
    )
    client: TestClient[Any, Any] = await aiohttp_client(app)
    await _add(client, id="shop", kind="shop", app_key="key-1", app_secret=SHOP_SECRET)
    request = {"integration": "shop", "method": "GET", "path": "/api"}
    await _error(await client.post("/partner/shop/sign", json=request), 401, "missing_api_key")
    await _error(await client.get("/partner/shop/accounts"), 401, "missing_api_key")
    signed = await client.post(
        "/partner/shop/sign", json=request, headers={"X-Api-Key": client_key}
    )
    assert signed.status == 200
    listed = await client.get("/partner/shop/accounts", headers={"X-Api-Key": client_key})
    assert await listed.json() == {"accounts": []}


async def test_accounts_listed_without_tokens(partner: TestClient[Any, Any]) -> None:
    """GET /partner/shop/accounts: the token state, never a token."""
    await _add(partner, id="shop", kind="shop", app_key="key-1", app_secret=SHOP_SECRET)
    account = await _seller(partner)
    response = await partner.get("/partner/shop/accounts?integration=shop")
    text = await response.text()
    assert "access-token-of-the-seller" not in text
    assert "refresh-token-of-the-seller" not in text
    (listed,) = json.loads(text)["accounts"]
    assert listed["shop_id"] == account.shop_id
    assert listed["state"] == "active"
    assert listed["access_token_expires_at"] == NOW + 3600
    assert listed["access_token_expired"] is False
    await _error(
        await partner.get("/partner/shop/accounts?integration=x"), 404, "integration_not_found"
    )


# -- the proxy


@pytest.fixture
async def shop_api(serve_fake: ServeFake) -> FakeShopApi:
    """The fake Shop API of app key ``key-1``."""
    return await serve_fake(FakeShopApi("key-1", SHOP_SECRET))


@pytest.fixture
async def proxied(
    aiohttp_client: Any, tmp_path: Path, shop_api: FakeShopApi
) -> TestClient[Any, Any]:
    """The app pointed at the fake Shop API, with the shop integration and a seller."""
    app = make_app(
        _settings(tmp_path, shop_api_url=shop_api.origin, shop_timeout_s=1.0),
        partner=PartnerOptions(clock=lambda: NOW, run_workers=False),
    )
    client: TestClient[Any, Any] = await aiohttp_client(app)
    await _add(client, id="shop", kind="shop", app_key="key-1", app_secret=SHOP_SECRET)
    await _seller(client)
    return client


PROXY_HEADERS = {"X-Partner-Integration": "shop", "X-Partner-Shop-Id": "7494049642642441621"}


async def test_proxy_signs_and_forwards(
    proxied: TestClient[Any, Any], shop_api: FakeShopApi
) -> None:
    """The exact body bytes, the token header, the cipher; TikTok's answer comes back as is."""
    body = b'{\n  "order_status": "UNPAID"\n}'
    response = await proxied.post(
        "/partner/shop/proxy/order/202309/orders/search?page_size=20",
        data=body,
        headers={**PROXY_HEADERS, "Content-Type": "application/json", "X-Api-Key": "not-sent"},
    )
    assert response.status == 200, await response.text()
    assert await response.json() == shop_api.reply
    (seen,) = shop_api.seen
    assert seen.path == "/order/202309/orders/search"
    assert seen.body == body.decode()
    query = dict(parse_qsl(seen.query))
    assert query["page_size"] == "20"
    assert query["shop_cipher"] == "ROW_cipher-1"
    assert query["timestamp"] == str(int(NOW))
    headers = {name.lower(): value for name, value in seen.headers.items()}
    assert headers["x-tts-access-token"] == "access-token-of-the-seller"
    assert "x-api-key" not in headers
    assert "x-partner-integration" not in headers


async def test_proxy_passes_tiktok_errors_back(
    proxied: TestClient[Any, Any], shop_api: FakeShopApi
) -> None:
    """TikTok's status and body reach the caller unchanged."""
    shop_api.status = 429
    shop_api.reply = {"code": 36009004, "message": "too many requests", "data": {}}
    response = await proxied.get(
        "/partner/shop/proxy/product/202309/products/1", headers=PROXY_HEADERS
    )
    assert response.status == 429
    assert (await response.json())["code"] == 36009004


async def test_proxy_refusals(proxied: TestClient[Any, Any], shop_api: FakeShopApi) -> None:
    """No integration header, a path that climbs, an unknown shop: 4xx, nothing forwarded."""
    await _error(await proxied.get("/partner/shop/proxy/api"), 400, "bad_request")
    for raw in (
        "/partner/shop/proxy/a/%2E%2E/b",
        "/partner/shop/proxy/a%3Fb",
        "/partner/shop/proxy/a%20b",
    ):
        odd = await proxied.get(URL(raw, encoded=True), headers=PROXY_HEADERS)
        await _error(odd, 400, "bad_request")
    unknown = await proxied.get(
        "/partner/shop/proxy/api", headers={**PROXY_HEADERS, "X-Partner-Shop-Id": "1"}
    )
    await _error(unknown, 404, "account_not_found")
    assert shop_api.seen == []


async def test_proxy_when_the_shop_api_is_down(aiohttp_client: Any, tmp_path: Path) -> None:
    """A Shop API that cannot be reached is a 502 JSON error, not a traceback."""
    down = LoopbackServer()
    await down.start()
    origin = down.origin
    await down.aclose()
    app = make_app(
        _settings(tmp_path, shop_api_url=origin),
        partner=PartnerOptions(clock=lambda: NOW, run_workers=False),
    )
    client: TestClient[Any, Any] = await aiohttp_client(app)
    await _add(client, id="shop", kind="shop", app_key="key-1", app_secret=SHOP_SECRET)
    response = await client.get(
        "/partner/shop/proxy/api", headers={"X-Partner-Integration": "shop"}
    )
    message = await _error(response, 502, "tiktok_unavailable")
    assert SHOP_SECRET not in message


async def test_proxy_when_the_shop_api_hangs(
    proxied: TestClient[Any, Any], shop_api: FakeShopApi
) -> None:
    """A Shop API that does not answer within the timeout (1 s here) is a 504."""
    shop_api.hang = True
    response = await proxied.get(
        "/partner/shop/proxy/hang", headers={"X-Partner-Integration": "shop"}
    )
    await _error(response, 504, "tiktok_timeout")


# -- Business Plugin


@pytest.mark.parametrize(
    "case", EXTERNAL_DATA["cases"], ids=[case["id"] for case in EXTERNAL_DATA["cases"]]
)
async def test_every_external_data_vector_through_the_routes(
    partner: TestClient[Any, Any], wall: FakeClock, case: dict[str, Any]
) -> None:
    """Built byte for byte with its URL, then verified valid 29 minutes on, stale at 31."""
    await _add(partner, id="biz", kind="business", app_key="k", app_secret=case["key"])
    response = await partner.post(
        "/partner/business/external-data", json={"integration": "biz", "fields": case["input"]}
    )
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer == {
        "external_data": case["external_data"],
        "authorization_url": "https://ads.tiktok.com/business-extension/auth?external_data="
        + case["url_param_encoded"],
    }
    stamp_s = int(case["input"]["timestamp"]) / 1000
    verdicts = []
    for given in (case["external_data"], case["url_param_encoded"]):
        for age_s in (29 * 60, 31 * 60):
            wall.now = stamp_s + age_s
            response = await partner.post(
                "/partner/business/external-data/verify",
                json={"integration": "biz", "external_data": given},
            )
            verdicts.append(await response.json())
    assert verdicts[0] == verdicts[2] == {"valid": True}
    assert verdicts[1]["valid"] is verdicts[3]["valid"] is False
    assert "too old" in verdicts[1]["reason"]


async def test_external_data_refusals(partner: TestClient[Any, Any]) -> None:
    """Tampered data is invalid (200, with TikTok's words); malformed requests are 400."""
    case = EXTERNAL_DATA["cases"][0]
    await _add(partner, id="biz", kind="business", app_key="k", app_secret=case["key"])
    wrong_key = await _add(partner, id="biz-2", kind="business", app_key="k2", app_secret="x")
    for integration in ("biz-2",):
        assert wrong_key["id"] == integration
        response = await partner.post(
            "/partner/business/external-data/verify",
            json={"integration": integration, "external_data": case["external_data"]},
        )
        assert await response.json() == {
            "valid": False,
            "reason": EXTERNAL_DATA["tamper_check_message"],
        }
    missing = await partner.post(
        "/partner/business/external-data",
        json={"integration": "biz", "fields": {"version": "1.0", "locale": "en"}},
    )
    assert "business_platform" in await _error(missing, 400, "bad_request")
    await _error(
        await partner.post("/partner/business/external-data", json={"integration": "biz"}),
        400,
        "bad_request",
    )
    await _error(
        await partner.post("/partner/business/external-data/verify", json={"integration": "biz"}),
        400,
        "bad_request",
    )
    built = await partner.post(
        "/partner/business/external-data",
        json={"integration": "biz", "fields": {**case["input"], "extra": "x" * 2000}},
    )
    assert "1950" in await _error(built, 400, "bad_request")


async def test_a_store_that_cannot_be_reached_does_not_stop_signing(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """PostgreSQL down at start: the service starts and signs; partner routes answer 503."""
    closed = LoopbackServer()
    await closed.start()
    port = int(closed.origin.rsplit(":", 1)[1])
    await closed.aclose()  # nothing listens there now
    url = f"postgresql://nobody:pg-password-of-nobody@127.0.0.1:{port}/none"
    settings = _settings(tmp_path, database_url=url)
    app = make_app(settings, partner=PartnerOptions(clock=lambda: NOW, run_workers=False))
    client: TestClient[Any, Any] = await aiohttp_client(app)
    signed = await client.post(
        "/sign", json={"url": "https://www.tiktok.com/api/post/item_list/?aid=1988"}
    )
    assert signed.status == 200
    response = await client.post("/admin/partner/integrations", headers=ADMIN, json={
        "id": "shop", "kind": "shop", "app_key": "k", "app_secret": SHOP_SECRET})  # fmt: skip
    message = await _error(response, 503, "store_unavailable")
    assert "pg-password-of-nobody" not in message
    assert not client.app[PARTNER].opened
