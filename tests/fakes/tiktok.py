"""TikTok's web origin on loopback: the page the browser provider loads in ``live`` mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from providers import sdk
from tests.fakes.server import LoopbackServer
from tests.support import REPO

if TYPE_CHECKING:
    from pathlib import Path

    from tests.fakes.server import Seen

#: What the fake site's page stores as ``localStorage.xmst`` (the session's msToken).
MS_TOKEN = "fake-ms-token"
#: The SDK build the fake site serves unless told otherwise.
SDK_VERSION = "5.1.3"
#: An API of the fake site that must never be called while the service signs: the browser
#: provider signs requests to it, and none of them may leave the page.
VICTIM = "/api/victim/"


def pinned_sdk(version: str = SDK_VERSION) -> Path:
    """TikTok's pinned SDK file, fetched into the repo's data dir by ``scripts/setup``."""
    return sdk.sdk_path(REPO / "data" / "sdk", version)


class FakeTikTok(LoopbackServer):
    """``www.tiktok.com`` on 127.0.0.1: its page stores an msToken, loads and inits the SDK.

    The page also fetches ``/site/ping`` (a request of the site's own, which must go out)
    and shows ``/static/big.png`` (an image, which the provider must not load). Every other
    path answers ``{}`` as TikTok's APIs would, but :data:`VICTIM`, which acts on what it
    is sent (nothing the service signs may ever reach it: see :attr:`victim_hits`).
    ``site_script`` runs in the page after the SDK's init (a site that wraps ``fetch``).
    More of TikTok (the ``/live`` page setting a ``ttwid`` cookie, ``/api-live/user/room/``,
    ``/webcast/im/fetch/``) is added the same way: a handler method registered with
    :meth:`add_route` in ``__init__``.
    """

    def __init__(
        self, sdk_file: Path | None = None, *, ms_token: str = MS_TOKEN, site_script: str = ""
    ) -> None:
        super().__init__()
        self.sdk_file = sdk_file or pinned_sdk()
        self.ms_token = ms_token
        self.site_script = site_script
        self.add_route("GET", "/", self.home)
        self.add_route("GET", "/static/sdk.js", self.sdk)
        self.add_route("*", VICTIM + "{tail:.*}", self.victim)

    @property
    def victim_hits(self) -> list[Seen]:
        """Every request that reached :data:`VICTIM` (any method, any path below it)."""
        return [seen for seen in self.seen if seen.path.startswith(VICTIM)]

    def page(self) -> str:
        """The home page: the msToken first, then the SDK, its init and the site's fetch."""
        return (
            "<!doctype html><html><head>"
            f"<script>localStorage.setItem('xmst', '{self.ms_token}');</script>"
            "<script src='/static/sdk.js'></script>"
            "<script>try { byted_acrawler.init({aid: 1988, dfp: true, boe: false,"
            " intercept: true, enablePathList: ['/api/', '/webcast/']}); } catch (e) {}"
            " fetch('/site/ping');</script>"
            f"<script>{self.site_script}</script>"
            "</head><body><img src='/static/big.png'></body></html>"
        )

    async def home(self, _request: web.Request) -> web.StreamResponse:
        """``GET /``: the page."""
        return web.Response(text=self.page(), content_type="text/html")

    async def sdk(self, _request: web.Request) -> web.StreamResponse:
        """``GET /static/sdk.js``: TikTok's SDK, as the site serves it."""
        return web.Response(body=self.sdk_file.read_bytes(), content_type="application/javascript")

    async def victim(self, request: web.Request) -> web.StreamResponse:
        """Any request below :data:`VICTIM`: done, as a real API would (e.g. a deletion)."""
        return web.json_response({"status_code": 0, "done": request.method})

    async def fallback(self, _request: web.Request) -> web.StreamResponse:
        """Any other path: an empty JSON object, as TikTok's APIs answer a bare request."""
        return web.json_response({})
