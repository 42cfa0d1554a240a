"""TikTok's live site for the monitor: a page loading a webmssdk script, and an API."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.server import LoopbackServer

SCRIPT = "/ztca/dfpwebmssdk/1.0.0.999/webmssdk.js"


class FakeTikTokSite(LoopbackServer):
    """``/`` names :data:`SCRIPT`; ``sdk`` is what it serves; ``/api/*`` answers ``status``."""

    def __init__(self, sdk: bytes = b"/* webmssdk 1.0.0.999 */") -> None:
        super().__init__()
        self.sdk = sdk
        #: TikTok's ``status_code`` for signed API calls (0: accepted).
        self.status_code = 0
        self.add_route("GET", "/", self._page)
        self.add_route("GET", SCRIPT, self._script)
        self.add_route("GET", "/api/{tail:.*}", self._api)

    async def _page(self, request: web.Request) -> web.Response:
        del request
        html = f'<html><head><script src="{SCRIPT}" async></script></head></html>'
        return web.Response(text=html, content_type="text/html")

    async def _script(self, request: web.Request) -> web.Response:
        del request
        return web.Response(body=self.sdk, content_type="application/javascript")

    async def _api(self, request: web.Request) -> web.Response:
        del request
        return web.json_response({"status_code": self.status_code, "itemList": []})
