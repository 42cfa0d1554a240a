"""TikTok Shop OAuth: the authorize redirect, the callback's code exchange, the token refresher.

A seller's browser opens ``GET /partner/shop/oauth/authorize?integration=ID``: it is sent to
TikTok's authorize page with a random single-use ``state``. TikTok sends it back to
``GET /partner/shop/oauth/callback?code=...&state=...``: the state is consumed, the code
exchanged (``token/get``) and the authorized shops listed (``/authorization/202309/shops``);
each shop becomes an :class:`~signer.store.Account` holding the one token pair the seller's
authorization gave. The :class:`Refresher` worker refreshes each pair before its access
token expires, at least daily, once for all the shops that share it; an answer saying the
grant is gone (``105xxx``/``360xxx``) marks the accounts ``needs_reauthorization``, as does
such an answer to a proxied API call (:func:`note_api_answer`).

The token URLs carry the app secret and the code or refresh token in their query: neither
they nor aiohttp's exception texts (which may quote the URL) are ever logged or answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from signer.errors import (
    AccountNotFound,
    BadRequest,
    IntegrationNotFound,
    InvalidOAuthState,
    TikTokError,
    TikTokRefused,
    TikTokUnavailable,
    WrongIntegrationKind,
)
from signer.partner import shop
from signer.partner.common import call_shop, integration_of, json_response, log_fields, redact
from signer.partner.runtime import PARTNER
from signer.store import Account, Secret, TokenPair

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from signer.partner.runtime import Partner
    from signer.store import Integration, OAuthState, Store

log = structlog.get_logger("signer.partner")

routes = web.RouteTableDef()

#: The API listing the shops a seller authorized (no ``shop_cipher`` is sent to it).
SHOPS_PATH = "/authorization/202309/shops"
#: The authorize URL's forms: ``current`` (``service_id``) and ``legacy`` (``app_key``).
FORMS = ("current", "legacy")
#: A pair is refreshed at least this often, even far from its expiry.
REFRESH_AT_LEAST_EVERY_S = 86400.0
#: The refresher never asks to run again sooner than this (a pair due now, retried).
MIN_RECHECK_S = 1.0
#: An envelope whose code says the grant is gone, found without parsing the whole answer.
_LOST_GRANT_CODE = re.compile(rb'"code"\s*:\s*(?:105|360)\d{3}(?![0-9])')
#: What never to cache: a redirect carrying a state, an answer about an authorization.
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def account_view(account: Account, now: float) -> dict[str, Any]:
    """An account as ``GET /partner/shop/accounts`` shows it: its token state, no token."""
    tokens = account.tokens
    return {
        "integration": account.integration_id,
        "shop_id": account.shop_id,
        "shop_cipher": account.shop_cipher,
        "seller_name": account.seller_name,
        "open_id": account.open_id,
        "state": account.state,
        "oauth_begun_at": account.oauth_begun_at,
        "access_token_expires_at": tokens.access_expires_at,
        "refresh_token_expires_at": tokens.refresh_expires_at,
        "access_token_expired": tokens.access_expires_at <= now,
        "updated_at": account.updated_at,
    }


# -- calls to TikTok


async def _get(
    partner: Partner, url: str, what: str, headers: Mapping[str, str] | None = None
) -> bytes:
    """TikTok's answer to ``GET url``; transport failures as errors that never quote the URL."""
    return (await call_shop(partner, "GET", url, what, headers=headers)).body


def _refusal(exc: shop.ShopApiError, what: str, secrets: Iterable[str]) -> TikTokError:
    """The error answered for TikTok's error envelope: its code and message, nothing of ours.

    TikTok's message is quoted with every secret of the call (``secrets``) cut out: a
    message that echoed the request would otherwise hand the app secret to a browser.
    """
    if exc.code == -1:
        return TikTokUnavailable(f"TikTok Shop's {what} answered what cannot be read")
    message = redact(exc.message, secrets)
    return TikTokRefused(
        f"TikTok Shop refused the {what}: {exc.code} {message}".rstrip(), tiktok_code=exc.code
    )


def _pair(tokens: shop.TokenSet) -> TokenPair:
    """The stored form of a token reply (expiries are absolute, as TikTok sends them)."""
    return TokenPair(
        access_token=Secret(tokens.access_token),
        access_expires_at=float(tokens.access_token_expires_at),
        refresh_token=Secret(tokens.refresh_token),
        refresh_expires_at=float(tokens.refresh_token_expires_at),
    )


@dataclass(frozen=True, slots=True)
class AuthorizedShop:
    """One shop of ``/authorization/202309/shops``: what its account is keyed and signed by."""

    id: str
    name: str
    cipher: str | None


def _shops_from(data: dict[str, Any]) -> list[AuthorizedShop]:
    """The shops of the listing's ``data``; :class:`~signer.partner.shop.ShopApiError` if none."""
    listed = data.get("shops")
    if not isinstance(listed, list):
        raise shop.ShopApiError(-1, "reply lists no shops")
    shops: list[AuthorizedShop] = []
    for item in listed:
        if not isinstance(item, dict):
            continue
        shop_id, name, cipher = item.get("id"), item.get("name"), item.get("cipher")
        if isinstance(shop_id, int) and not isinstance(shop_id, bool):
            shop_id = str(shop_id)
        if not isinstance(shop_id, str) or not shop_id:
            continue
        shops.append(
            AuthorizedShop(
                id=shop_id,
                name=name if isinstance(name, str) else "",
                cipher=cipher if isinstance(cipher, str) and cipher else None,
            )
        )
    if not shops:
        raise shop.ShopApiError(-1, "reply lists no shops")
    return shops


async def _list_shops(
    partner: Partner, integration: Integration, access_token: str
) -> list[AuthorizedShop]:
    """The shops the new token may act for (raises what :func:`_get` and the envelope raise)."""
    signed = shop.sign_request(
        app_key=integration.app_key,
        app_secret=integration.app_secret.reveal(),
        method="GET",
        path=SHOPS_PATH,
        access_token=access_token,
        base_url=partner.settings.shop_api_url,
        clock=partner.clock,
    )
    answer = await _get(partner, signed.signed_url, "shop listing", signed.headers)
    return _shops_from(shop.parse_envelope(answer))


# -- the authorization routes


@routes.get("/partner/shop/oauth/authorize")
async def authorize(request: web.Request) -> web.Response:
    """Send the seller's browser to TikTok's authorize page with a new single-use state.

    ``?integration=ID`` names a shop integration; ``&form=legacy`` asks for the ``app_key``
    URL even when the integration has a ``service_id`` (``current``, the default otherwise).
    """
    partner = request.app[PARTNER]
    form = request.query.get("form")
    if form is not None and form not in FORMS:
        raise BadRequest(f"'form' must be one of {', '.join(FORMS)}")
    integration = await integration_of(partner, request.query.get("integration"), "shop")
    if form == "current" and not integration.service_id:
        raise BadRequest(
            f"integration {integration.id!r} has no service_id: only the legacy form works"
        )
    settings = partner.settings
    store = await partner.store()
    state = await store.create_state(integration.id, settings.oauth_state_ttl_s)
    if integration.service_id and form != "legacy":
        location = shop.authorize_url(
            integration.service_id, state.state, base_url=settings.shop_authorize_url
        )
        used = "current"
    else:
        location = shop.legacy_authorize_url(
            integration.app_key, state.state, base_url=settings.shop_legacy_authorize_url
        )
        used = "legacy"
    log_fields(request, integration=integration.id, form=used)
    return web.Response(status=302, headers={"Location": location, **_NO_STORE})


async def _callback_integration(store: Store, state: OAuthState) -> Integration:
    """The shop integration a consumed state was made for (it may have been removed since)."""
    integration = await store.get_integration(state.integration_id)
    if integration is None:
        raise IntegrationNotFound(f"no integration {state.integration_id!r}")
    if integration.kind != "shop":
        raise WrongIntegrationKind(f"integration {integration.id!r} is not a shop integration")
    return integration


@routes.get("/partner/shop/oauth/callback")
async def callback(request: web.Request) -> web.Response:
    """Where TikTok sends the seller back: consume the state, exchange the code, keep the shops.

    TikTok's other parameters (``app_key``, ``locale``, ``shop_region``) are ignored. The
    answer names the shops authorized, never a token.
    """
    partner = request.app[PARTNER]
    given_state = request.query.get("state")
    if not given_state:
        raise InvalidOAuthState("the callback carries no state; authorize again")
    code = request.query.get("code")
    if not code:
        raise BadRequest("the callback carries no 'code': the seller did not authorize")
    store = await partner.store()
    state = await store.consume_state(given_state)
    if state is None:
        raise InvalidOAuthState("the state is unknown, used already or expired; authorize again")
    integration = await _callback_integration(store, state)
    log_fields(request, integration=integration.id)
    answer = await _get(
        partner,
        shop.token_get_url(
            integration.app_key,
            integration.app_secret.reveal(),
            code,
            base_url=partner.settings.shop_auth_url,
        ),
        "code exchange",
    )
    try:
        tokens = shop.parse_token_reply(answer)
    except shop.ShopApiError as exc:
        log.warning("shop_code_exchange_refused", integration=integration.id, code=exc.code)
        raise _refusal(exc, "code exchange", (integration.app_secret.reveal(), code)) from None
    note = None
    try:
        shops = await _list_shops(partner, integration, tokens.access_token)
    except (shop.ShopApiError, TikTokError) as exc:
        code_seen = exc.code if isinstance(exc, shop.ShopApiError) else None
        log.warning(
            "shop_listing_failed",
            integration=integration.id,
            code=code_seen,
            error=type(exc).__name__,
        )
        if not tokens.open_id:
            raise TikTokUnavailable(
                "TikTok Shop named neither a shop nor the seller; authorize again"
            ) from None
        shops = [AuthorizedShop(id=tokens.open_id, name="", cipher=None)]
        note = (
            "the authorized shops could not be listed: the account is keyed by the "
            "seller's open_id; authorize again to key it by shop"
        )
    pair = _pair(tokens)
    stored = [
        await store.upsert_account(
            Account(
                integration_id=integration.id,
                shop_id=item.id,
                tokens=pair,
                shop_cipher=item.cipher,
                seller_name=tokens.seller_name or item.name or None,
                open_id=tokens.open_id or None,
                oauth_begun_at=state.created_at,
            )
        )
        for item in shops
    ]
    log.info("shop_authorized", integration=integration.id, shops=len(stored))
    log_fields(request, shops=len(stored))
    body: dict[str, Any] = {
        "status": "authorized",
        "integration": integration.id,
        "shops": [
            {
                "shop_id": account.shop_id,
                "seller_name": account.seller_name,
                "shop_cipher": account.shop_cipher,
            }
            for account in stored
        ],
    }
    if note is not None:
        body["note"] = note
    response = json_response(body)
    response.headers.update(_NO_STORE)
    return response


# -- lost grants


async def _mark_lost(store: Store, accounts: list[Account], code: int | None) -> None:
    """Mark accounts ``needs_reauthorization`` (one gone meanwhile is skipped).

    ``code`` is TikTok's, or None when the refresh token expired before it was used.
    """
    for account in accounts:
        try:
            await store.mark_account(
                account.integration_id, account.shop_id, "needs_reauthorization"
            )
        except AccountNotFound:
            continue
    if accounts:
        log.warning(
            "shop_authorization_lost",
            integration=accounts[0].integration_id,
            code=code,
            reason="refresh_token_expired" if code is None else "tiktok_code",
            accounts=len(accounts),
        )


async def note_api_answer(store: Store, account: Account, answer: bytes) -> None:
    """Mark the account when a Shop API answer says its token or grant is gone.

    Only an answer holding a ``105xxx``/``360xxx`` code is parsed, so large answers and
    answers that are not JSON cost one regular-expression scan.
    """
    if not _LOST_GRANT_CODE.search(answer):
        return
    try:
        shop.parse_envelope(answer)
    except shop.ShopApiError as exc:
        if exc.needs_reauthorization:
            await _mark_lost(store, [account], exc.code)


# -- the refresher


class Refresher:
    """Refreshes every Shop token pair before its access token expires, at least daily.

    One seller authorization yields one pair shared by all its shops: accounts are grouped
    by integration and refresh token, and each group is refreshed once.
    """

    name = "shop-token-refresher"

    def __init__(self, partner: Partner) -> None:
        self.partner = partner

    def _due_at(self, accounts: list[Account]) -> float:
        """When a group's pair must be refreshed: before expiry, and a day after the last."""
        tokens = accounts[0].tokens
        last = min(account.updated_at for account in accounts)
        return min(
            tokens.access_expires_at - self.partner.settings.shop_refresh_before_s,
            last + REFRESH_AT_LEAST_EVERY_S,
        )

    def _lease_s(self) -> float:
        """How long one round holds the refresher's lease (a dead holder's runs out)."""
        settings = self.partner.settings
        return settings.shop_refresh_interval_s + 4 * settings.shop_timeout_s + 60

    async def run_once(self) -> float:
        """Refresh the pairs that are due; answer the seconds until the next one is.

        Several workers or replicas share one store: only the holder of the refresher's
        lease refreshes (a pair refreshed twice would lose the first new pair), renewing
        it before each refresh; the others look again after the interval.
        """
        partner = self.partner
        store = await partner.store()
        if not await store.acquire_lease(self.name, partner.holder, self._lease_s()):
            return partner.settings.shop_refresh_interval_s
        integrations = {i.id: i for i in await store.list_integrations() if i.kind == "shop"}
        groups: dict[tuple[str, str], list[Account]] = {}
        for account in await store.list_accounts():
            if account.integration_id in integrations and account.state == "active":
                key = (account.integration_id, account.tokens.refresh_token.reveal())
                groups.setdefault(key, []).append(account)
        wait = partner.settings.shop_refresh_interval_s
        for (integration_id, _), accounts in groups.items():
            now = partner.clock()
            due_at = self._due_at(accounts)
            if due_at <= now:
                if not await store.acquire_lease(self.name, partner.holder, self._lease_s()):
                    return partner.settings.shop_refresh_interval_s
                fresh = await self._refresh(store, integrations[integration_id], accounts)
                if fresh is None:
                    continue  # retried on the next round
                due_at = self._due_at(fresh)
            wait = min(wait, due_at - partner.clock())
        return max(wait, MIN_RECHECK_S)

    async def _refresh(
        self, store: Store, integration: Integration, accounts: list[Account]
    ) -> list[Account] | None:
        """Refresh one group's pair and store it on each account; None when not refreshed."""
        partner = self.partner
        old = accounts[0].tokens
        if old.refresh_expires_at <= partner.clock():
            await _mark_lost(store, accounts, None)
            return None
        url = shop.token_refresh_url(
            integration.app_key,
            integration.app_secret.reveal(),
            old.refresh_token.reveal(),
            base_url=partner.settings.shop_auth_url,
        )
        try:
            tokens = shop.parse_token_reply(await _get(partner, url, "token refresh"))
        except shop.ShopApiError as exc:
            if exc.needs_reauthorization and not await self._replaced(store, accounts):
                await _mark_lost(store, accounts, exc.code)
            else:
                log.warning("shop_token_refresh_failed", integration=integration.id, code=exc.code)
            return None
        except TikTokError as exc:
            log.warning(
                "shop_token_refresh_failed",
                integration=integration.id,
                error=type(exc).__name__,
            )
            return None
        pair = _pair(tokens)
        fresh: list[Account] = []
        for account in accounts:
            try:
                fresh.append(
                    await store.update_tokens(account.integration_id, account.shop_id, pair)
                )
            except AccountNotFound:
                continue
        log.info("shop_tokens_refreshed", integration=integration.id, accounts=len(fresh))
        return fresh or None

    @staticmethod
    async def _replaced(store: Store, accounts: list[Account]) -> bool:
        """Whether another refresh or a new authorization replaced the group's pair meanwhile.

        Then TikTok refused a refresh token that is already superseded: the grant is fine.
        """
        old = accounts[0].tokens.refresh_token.reveal()
        for account in accounts:
            current = await store.get_account(account.integration_id, account.shop_id)
            if current is not None and current.tokens.refresh_token.reveal() != old:
                return True
        return False
