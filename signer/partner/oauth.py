"""TikTok Shop OAuth: the authorize redirect, the callback's code exchange, the token refresher.

(Being built: the routes and the refresher are placeholders until they land.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from signer.errors import NotImplementedHere

if TYPE_CHECKING:
    from signer.partner.runtime import Partner
    from signer.store import Account, Store

routes = web.RouteTableDef()


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


async def note_api_answer(store: Store, account: Account, answer: bytes) -> None:
    """Mark the account when a Shop API answer says its token or grant is gone (placeholder)."""
    del store, account, answer


@routes.get("/partner/shop/oauth/authorize")
async def authorize(request: web.Request) -> web.Response:
    """Placeholder."""
    del request
    raise NotImplementedHere("not built yet")


@routes.get("/partner/shop/oauth/callback")
async def callback(request: web.Request) -> web.Response:
    """Placeholder."""
    del request
    raise NotImplementedHere("not built yet")


class Refresher:
    """Refreshes every Shop token pair before it expires (placeholder)."""

    name = "shop-token-refresher"

    def __init__(self, partner: Partner) -> None:
        self.partner = partner

    async def run_once(self) -> float:
        """Nothing yet."""
        return self.partner.settings.shop_refresh_interval_s
