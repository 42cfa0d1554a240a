"""TikTok Shop's auth server and Open API on loopback: codes, token pairs, signed API calls.

One app (``app_key``/``app_secret``) and its sellers. A test plays the seller's browser:
:meth:`FakeTikTokShop.issue_code` is the ``code`` TikTok would append to the callback.
Codes are single use and valid 30 minutes by the test's clock; ``token/get`` answers a
unique random pair with absolute expiries; ``token/refresh`` rotates both tokens (the old
refresh token no longer works); the API routes check the request's ``sign`` (computed here
in a few lines of our own, not by the code under test) and the ``x-tts-access-token``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.server import LoopbackServer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

#: Error codes the fake answers (``105xxx``: the token or grant is bad or gone).
INVALID_CREDENTIALS = 36004001
INVALID_CODE = 36004004
ACCESS_TOKEN_INVALID = 105001
REFRESH_TOKEN_INVALID = 105002
INVALID_SIGN = 106001
#: How long a code works.
CODE_TTL_S = 1800
#: The API path listing a seller's shops, and one ordinary API path (shop_cipher required).
SHOPS_PATH = "/authorization/202309/shops"
ORDERS_PATH = "/order/202309/orders/search"


@dataclass
class Seller:
    """A seller who authorizes the app: its open_id, name and shops."""

    open_id: str
    name: str
    #: The listing's entries as answered (Any: a test may slip in malformed ones).
    shops: list[Any] = field(default_factory=list)


@dataclass
class Grant:
    """One issued token (access or refresh): whose, and until when."""

    seller: Seller
    expires_at: int


class FakeTikTokShop(LoopbackServer):
    """``/api/v2/token/get``, ``/api/v2/token/refresh``, the shop listing and one API path.

    Set ``refresh_error`` to a code to answer every refresh with it, ``hanging`` to never
    answer (time-outs), ``shops_error`` to answer the shop listing with an error code,
    ``on_refresh`` to run something while a refresh is under way.
    ``issued`` holds every token and code handed out (what must never show in a log).
    """

    def __init__(
        self,
        app_key: str,
        app_secret: str,
        clock: Callable[[], float],
        *,
        access_ttl_s: int = 7 * 86400,
        refresh_ttl_s: int = 365 * 86400,
    ) -> None:
        super().__init__()
        self.app_key = app_key
        self.app_secret = app_secret
        self.clock = clock
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        self.refresh_error: int | None = None
        self.shops_error: int | None = None
        self.hanging = False
        #: Awaited as a refresh arrives (a test's stand-in for another worker's work).
        self.on_refresh: Callable[[], Awaitable[object]] | None = None
        self.issued: list[str] = []
        self._codes: dict[str, tuple[Seller, float]] = {}
        self.access: dict[str, Grant] = {}
        self.refresh: dict[str, Grant] = {}
        self.add_route("GET", "/api/v2/token/get", self._token_get)
        self.add_route("GET", "/api/v2/token/refresh", self._token_refresh)
        self.add_route("GET", SHOPS_PATH, self._shops)
        self.add_route("*", ORDERS_PATH, self._orders)

    # -- what a test does

    def issue_code(self, seller: Seller) -> str:
        """The code TikTok gives the seller's browser after it authorized the app."""
        code = "code-" + secrets.token_urlsafe(16)
        self._codes[code] = (seller, self.clock())
        self.issued.append(code)
        return code

    def revoke(self, seller: Seller) -> None:
        """The seller withdraws the authorization: every token of theirs stops working."""
        for tokens in (self.access, self.refresh):
            for token in [t for t, grant in tokens.items() if grant.seller is seller]:
                del tokens[token]

    def count(self, path: str) -> int:
        """How many requests reached ``path``."""
        return self.paths.count(path)

    # -- the auth server

    @staticmethod
    def _envelope(code: int = 0, message: str = "success", data: Any = None) -> web.Response:
        body: dict[str, Any] = {"code": code, "message": message, "request_id": "fake-request"}
        if data is not None:
            body["data"] = data
        return web.json_response(body)

    def _credentials_ok(self, request: web.Request, grant_type: str) -> bool:
        query = request.query
        return (
            query.get("app_key") == self.app_key
            and query.get("app_secret") == self.app_secret
            and query.get("grant_type") == grant_type
        )

    def _new_pair(self, seller: Seller) -> dict[str, Any]:
        now = int(self.clock())
        access, refresh = "act-" + secrets.token_urlsafe(24), "rft-" + secrets.token_urlsafe(24)
        self.issued += [access, refresh]
        self.access[access] = Grant(seller, now + self.access_ttl_s)
        self.refresh[refresh] = Grant(seller, now + self.refresh_ttl_s)
        return {
            "access_token": access,
            "access_token_expire_in": self.access[access].expires_at,
            "refresh_token": refresh,
            "refresh_token_expire_in": self.refresh[refresh].expires_at,
            "open_id": seller.open_id,
            "seller_name": seller.name,
            "seller_base_region": "GB",
            "user_type": 0,
            "granted_scopes": ["seller.authorization.info"],
        }

    async def _token_get(self, request: web.Request) -> web.StreamResponse:
        if self.hanging:
            await self.until_closed()
        if not self._credentials_ok(request, "authorized_code"):
            return self._envelope(INVALID_CREDENTIALS, "invalid app_key or app_secret")
        found = self._codes.pop(request.query.get("auth_code", ""), None)
        if found is None or self.clock() - found[1] > CODE_TTL_S:
            return self._envelope(INVALID_CODE, "invalid or expired auth_code")
        return self._envelope(data=self._new_pair(found[0]))

    async def _token_refresh(self, request: web.Request) -> web.StreamResponse:
        if self.hanging:
            await self.until_closed()
        if self.on_refresh is not None:
            await self.on_refresh()
        if not self._credentials_ok(request, "refresh_token"):
            return self._envelope(INVALID_CREDENTIALS, "invalid app_key or app_secret")
        if self.refresh_error is not None:
            return self._envelope(self.refresh_error, "refresh refused")
        grant = self.refresh.pop(request.query.get("refresh_token", ""), None)
        if grant is None or grant.expires_at <= self.clock():
            return self._envelope(REFRESH_TOKEN_INVALID, "refresh_token is invalid or expired")
        return self._envelope(data=self._new_pair(grant.seller))

    # -- the Open API

    def expected_sign(self, path: str, query: dict[str, str], body: bytes) -> str:
        """The sign TikTok computes: HMAC(secret, secret + path + sorted k+v + body + secret)."""
        signed = "".join(
            k + v for k, v in sorted(query.items()) if k not in {"sign", "access_token"}
        )
        message = self.app_secret.encode() + path.encode() + signed.encode() + body
        message += self.app_secret.encode()
        return hmac.new(self.app_secret.encode(), message, hashlib.sha256).hexdigest()

    async def _caller(self, request: web.Request) -> Seller | web.Response:
        """The seller whose token signed this request, or the error envelope to answer."""
        if self.hanging:
            await self.until_closed()
        query = dict(request.query)
        body = await request.read()
        given = query.get("sign", "")
        if query.get("app_key") != self.app_key or not query.get("timestamp", "").isdigit():
            return self._envelope(INVALID_CREDENTIALS, "app_key or timestamp missing")
        if not hmac.compare_digest(given, self.expected_sign(request.path, query, body)):
            return self._envelope(INVALID_SIGN, "invalid sign")
        grant = self.access.get(request.headers.get("x-tts-access-token", ""))
        if grant is None or grant.expires_at <= self.clock():
            return self._envelope(ACCESS_TOKEN_INVALID, "access_token is invalid or expired")
        return grant.seller

    async def _shops(self, request: web.Request) -> web.StreamResponse:
        caller = await self._caller(request)
        if isinstance(caller, web.Response):
            return caller
        if "shop_cipher" in request.query:
            return self._envelope(36009003, "shop_cipher is not accepted here")
        if self.shops_error is not None:
            return self._envelope(self.shops_error, "listing refused")
        return self._envelope(data={"shops": caller.shops})

    async def _orders(self, request: web.Request) -> web.StreamResponse:
        caller = await self._caller(request)
        if isinstance(caller, web.Response):
            return caller
        ciphers = {shop.get("cipher") for shop in caller.shops if isinstance(shop, dict)}
        if request.query.get("shop_cipher") not in ciphers:
            return self._envelope(36009004, "shop_cipher missing or not this seller's")
        return self._envelope(data={"orders": [], "total_count": 0})
