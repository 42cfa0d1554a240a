"""A small TikTok on loopback for the LIVE service tests: guest cookies, room lookups, im/fetch.

Only what the service calls: ``/live`` (guest cookies, or a refusal, a hang, cookie-less
answers), ``/api-live/user/room/`` (JSON), ``/@{id}/live`` (a page with ``SIGI_STATE``)
and ``/webcast/im/fetch/`` (a fixed protobuf body when the request is signed as 2025 builds
sign it and carries a ``ttwid`` this server issued). The real-client acceptance tests use
the full fake of ``tests/fakes``.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Literal

import orjson
from aiohttp import web

from signer.live import proto
from tests.fakes.server import LoopbackServer

if TYPE_CHECKING:
    from collections.abc import Mapping

#: The users this TikTok knows: unique id -> (room id, live).
USERS: Mapping[str, tuple[str, bool]] = {
    "streamer": ("7123456789012345678", True),
    "sleeper": ("7000000000000000001", False),
    "nolive": ("", False),
}

VisitMode = Literal["ok", "403", "429", "hang", "no_cookie"]


def fetch_body() -> bytes:
    """The body this TikTok answers a signed ``im/fetch`` with (relayed unchanged)."""
    result = proto.ProtoMessageFetchResult(
        cursor="1700000000000_fake",
        push_server="wss://webcast-ws.example/webcast/im/push/v2/",
        need_ack=True,
        is_first=True,
        heartbeat_duration=10000,
        internal_ext="internal_src:dim|fake",
    )
    result.route_params["wrss"] = "fake-wrss"
    body: bytes = result.SerializeToString()
    return body


class TinyTikTok(LoopbackServer):
    """www, webcast and the socket origin in one loopback server.

    ``visit_mode`` decides how ``/live`` answers; ``cookie_less_visits`` answers that many
    visits without cookies first. ``lookup_broken`` makes the JSON room lookup answer an
    HTML error page (the service falls back to the LIVE page), ``lookup_hangs`` never answer.
    """

    def __init__(self) -> None:
        super().__init__()
        self.visit_mode: VisitMode = "ok"
        self.cookie_less_visits = 0
        self.lookup_broken = False
        self.fetch_status = 200
        self.lookup_hangs = False
        self.issued: list[str] = []
        self._numbers = itertools.count(1)
        self.add_route("GET", "/live", self.live)
        self.add_route("GET", "/api-live/user/room/", self.room_lookup)
        self.add_route("GET", "/@{user}/live", self.live_page)
        self.add_route("GET", "/webcast/im/fetch/", self.im_fetch)

    @property
    def ws_origin(self) -> str:
        """The socket origin (``ws://127.0.0.1:PORT``) on this server's port."""
        return self.origin.replace("http://", "ws://")

    async def live(self, _request: web.Request) -> web.StreamResponse:
        """``GET /live``: a guest's ``ttwid`` and ``tt_chain_token``, or what the mode says."""
        if self.visit_mode == "hang":
            await self.until_closed()
        if self.visit_mode in {"403", "429"}:
            return web.Response(status=int(self.visit_mode), text="no")
        if self.visit_mode == "no_cookie" or self.cookie_less_visits > 0:
            self.cookie_less_visits -= 1
            return web.Response(text="<html></html>", content_type="text/html")
        ttwid = f"1%7Cguest{next(self._numbers)}%7C1700000000"
        self.issued.append(ttwid)
        response = web.Response(text="<html>live</html>", content_type="text/html")
        response.set_cookie("tt_chain_token", "chain-token==", path="/")
        response.set_cookie("ttwid", ttwid, path="/", httponly=True)
        response.set_cookie("odin_tt", "odin", path="/")
        return response

    async def room_lookup(self, request: web.Request) -> web.StreamResponse:
        """``GET /api-live/user/room/?uniqueId=``: TikTok's JSON room lookup."""
        if self.lookup_hangs:
            await self.until_closed()
        if self.lookup_broken:
            return web.Response(status=500, text="<html>oops</html>", content_type="text/html")
        known = USERS.get(request.query.get("uniqueId", ""))
        if known is None:
            payload: dict[str, object] = {"data": {}, "message": "user_not_found"}
        else:
            room_id, live = known
            payload = {
                "data": {
                    "user": {"roomId": room_id, "status": 2 if live else 4},
                    "liveRoom": {"status": 2 if live else 4},
                },
                "statusCode": 0,
            }
        return web.json_response(payload)

    async def live_page(self, request: web.Request) -> web.StreamResponse:
        """``GET /@{user}/live``: the page, its state in ``SIGI_STATE``; 404 for no user."""
        known = USERS.get(request.match_info["user"])
        if known is None:
            return web.Response(status=404, text="<html>not found</html>")
        room_id, live = known
        state = {
            "LiveRoom": {
                "liveRoomUserInfo": {
                    "user": {"roomId": room_id, "status": 2 if live else 4},
                    "liveRoom": {"status": 2 if live else 4},
                }
            }
        }
        page = (
            '<html><head></head><body><script id="SIGI_STATE" type="application/json">'
            + orjson.dumps(state).decode()
            + "</script></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def im_fetch(self, request: web.Request) -> web.StreamResponse:
        """``GET /webcast/im/fetch/``: the body, if signed (2025) and with an issued ttwid."""
        query = request.query
        signed = all(query.get(name) for name in ("X-Bogus", "X-Gnarly")) and "msToken" in query
        if not signed or request.cookies.get("ttwid") not in self.issued:
            return web.Response(status=403, text="")
        if self.fetch_status != 200:
            return web.Response(status=self.fetch_status, text="")
        return web.Response(body=fetch_body(), content_type="application/protobuf")
