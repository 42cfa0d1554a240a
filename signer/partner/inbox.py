"""The webhook receivers: TikTok's signature verified, the event queued for the sink.

(Being built: placeholders until they land.)
"""

from __future__ import annotations

from aiohttp import web

from signer.errors import NotImplementedHere

routes = web.RouteTableDef()


@routes.post("/webhooks/tiktok/{integration}")
async def tiktok_webhook(request: web.Request) -> web.Response:
    """Placeholder."""
    del request
    raise NotImplementedHere("not built yet")


@routes.post("/webhooks/shop/{integration}")
async def shop_webhook(request: web.Request) -> web.Response:
    """Placeholder."""
    del request
    raise NotImplementedHere("not built yet")
