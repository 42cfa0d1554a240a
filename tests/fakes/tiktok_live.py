"""TikTok LIVE on loopback: guest cookies, room lookups, ``im/fetch`` and the push socket.

One :class:`FakeTikTokLive` answers for ``www.tiktok.com``, ``webcast.tiktok.com`` and the
socket hosts at once (the service's ``tiktok_*_url`` settings and the clients' host
settings all point at it). It checks what real TikTok is believed to check, strictly, with
the project's own codecs (``reference/live-2026.md``), so a request it accepts is one TikTok
would accept:

* ``GET /live`` issues guest cookies (``ttwid``, ``tt_chain_token``, ``odin_tt``) to a
  browser-like User-Agent only; every ``ttwid`` is remembered.
* ``GET /api-live/user/room/`` and ``GET /@{id}/live`` (``SIGI_STATE``) resolve a streamer.
* ``GET /webcast/im/fetch/``, in ``fetch`` mode (the 2025 player), answers only a URL
  signed as the 2025 builds sign it (``msToken``, an X-Bogus that re-encodes from the
  query and the request's User-Agent, an X-Gnarly the self-check accepts) carrying an
  issued ``ttwid``; its ``push_server`` is this fake's push socket and ``route_params``
  carry the ``wrss`` that socket then requires. In ``direct`` mode (2026) a signed
  ``im/fetch`` is refused (TikTok's pages no longer sign it).
* The direct socket ``/webcast/im/ws_proxy/ws_reuse_supplement/`` upgrades only with an
  issued ``ttwid`` and an X-Gnarly that verifies against the percent-decoded query before
  the first ``&X-Gnarly=``, the handshake's User-Agent and the clock (field 6 within
  :data:`TOKEN_MAX_AGE_S`). The push socket ``/webcast/im/push/v2/`` needs no signature,
  but an issued ``ttwid`` and ``wrss``.
* On either socket it waits for the client's ``im_enter_room`` frame, answers
  ``im_enter_room_resp``, then pushes :data:`CHAT_TEXT`, :data:`GIFT` and :data:`LIKES`,
  one ``ProtoMessageFetchResult`` per ``msg`` frame (gzip-compressed when the handshake
  asked ``compress=gzip``); heartbeats and acks are recorded (:attr:`sockets`).
* What the clients call themselves: ``/webcast/room/check_alive/`` (TikTokLive),
  ``/webcast/room/info/`` (tiktok-live-connector), ``/webcast/gift/list/``.

Switches: :attr:`mode`; :attr:`refuse` (an HTTP status) and :attr:`hang` for the routes
the service calls (guest visit, room lookups, ``im/fetch``); :attr:`room_api_fails`
(``/api-live/user/room/`` blocked, so the page is the fallback); :attr:`cookieless_visits`
(guest visits answered without cookies). Cookies carry no ``Domain`` or ``Secure``: the
fake is a plain ``http`` origin on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, unquote

from aiohttp import WSMsgType, web

from providers import selfcheck
from providers.errors import SelfCheckFailed
from providers.urls import last_param, parse_signed
from signer.live import proto
from tests.fakes.server import LoopbackServer

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

    from providers.urls import SignedUrl

#: Where the 2026 player opens its signed socket.
SOCKET_PATH = "/webcast/im/ws_proxy/ws_reuse_supplement/"
#: The push server ``im/fetch`` names in ``fetch`` mode.
PUSH_PATH = "/webcast/im/push/v2/"
#: How old (or how far ahead) a socket or ``im/fetch`` X-Gnarly's time may be.
TOKEN_MAX_AGE_S = 60
#: How long a socket waits for ``im_enter_room`` before it closes.
ENTER_TIMEOUT_S = 10.0
#: The parameters a 2026 build appends to what it signs.
_TOKENS_2026 = frozenset({"X-Gnarly", "X-Dynosaur"})
#: TikTok hands guest cookies to browsers only.
BROWSER_PREFIX = "Mozilla/5.0 ("


@dataclass(frozen=True, slots=True)
class Streamer:
    """A TikTok user who may be live."""

    unique_id: str
    room_id: str
    nickname: str
    live: bool = True


@dataclass(frozen=True, slots=True)
class Viewer:
    """The user every pushed event comes from."""

    user_id: int
    nickname: str
    unique_id: str


@dataclass(frozen=True, slots=True)
class GiftSent:
    """The gift the fake pushes."""

    gift_id: int
    name: str
    repeat_count: int
    diamond_count: int


@dataclass(frozen=True, slots=True)
class Likes:
    """The likes the fake pushes: ``count`` in the message, ``total`` in the room."""

    count: int
    total: int


#: Live unless a test says otherwise.
STREAMER = Streamer("fakestreamer", "7400000000000000001", "Fake Streamer")
#: Has a room, but is not live.
OFFLINE = Streamer("sleepystreamer", "7400000000000000002", "Sleepy Streamer", live=False)
VIEWER = Viewer(6900000000000000001, "Fake Viewer", "fake_viewer")
CHAT_TEXT = "hello from the fake TikTok"
GIFT = GiftSent(gift_id=5655, name="Rose", repeat_count=3, diamond_count=1)
LIKES = Likes(count=15, total=1234)


@dataclass(slots=True)
class SocketVisit:
    """One socket handshake: what came, whether it was accepted, what happened on it."""

    path: str
    raw_query: str
    headers: dict[str, str]
    cookies: dict[str, str]
    accepted: bool = False
    #: Why the upgrade was refused (empty when accepted).
    refused: str = ""
    #: The build the socket X-Gnarly names (direct mode).
    build: str | None = None
    entered_room: int | None = None
    pushed: list[str] = field(default_factory=list)
    #: Log ids of the ``msg`` frames the client acknowledged.
    acks: list[int] = field(default_factory=list)
    heartbeats: int = 0


@dataclass(slots=True)
class FetchVisit:
    """One ``webcast/im/fetch/`` request: answered, or why not."""

    raw_query: str
    user_agent: str
    cookies: dict[str, str]
    status: int = 0
    refused: str = ""
    build: str | None = None


class FakeTikTokLive(LoopbackServer):
    """TikTok LIVE on 127.0.0.1 (see the module docstring); ``mode`` is the player it plays."""

    def __init__(
        self,
        *,
        mode: Literal["direct", "fetch"] = "direct",
        tls: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(tls=tls)
        self.mode = mode
        self.clock = clock
        self.streamers: dict[str, Streamer] = {s.unique_id: s for s in (STREAMER, OFFLINE)}
        #: An HTTP status (403, 429, ...) for every route the service calls.
        self.refuse: int | None = None
        #: Those routes never answer (until the fake closes).
        self.hang = False
        #: ``/api-live/user/room/`` answers as when TikTok blocks it.
        self.room_api_fails = False
        #: This many guest visits get no cookies, as TikTok sometimes does.
        self.cookieless_visits = 0
        self.issued_ttwids: set[str] = set()
        self.issued_wrss: set[str] = set()
        self.sockets: list[SocketVisit] = []
        self.fetches: list[FetchVisit] = []
        self._log_ids = iter(range(7_000_000_001, 8_000_000_000))
        self.add_route("GET", "/live", self.guest_visit)
        self.add_route("GET", "/api-live/user/room/", self.room_api)
        self.add_route("GET", "/@{unique_id}/live", self.room_page)
        self.add_route("GET", "/webcast/im/fetch/", self.im_fetch)
        self.add_route("GET", "/webcast/room/check_alive/", self.check_alive)
        self.add_route("GET", "/webcast/room/info/", self.room_info)
        self.add_route("GET", "/webcast/gift/list/", self.gift_list)
        self.add_route("GET", SOCKET_PATH, self.direct_socket)
        self.add_route("GET", PUSH_PATH, self.push_socket)

    # -- what tests read

    @property
    def ws_origin(self) -> str:
        """``ws://127.0.0.1:PORT``: the socket origin (the service's ``tiktok_ws_url``)."""
        return "ws" + self.origin.removeprefix("http")

    @property
    def accepted_sockets(self) -> list[SocketVisit]:
        """The socket handshakes that were upgraded."""
        return [visit for visit in self.sockets if visit.accepted]

    def streamer_by_room(self, room_id: str) -> Streamer | None:
        """The streamer whose room this is."""
        return next((s for s in self.streamers.values() if s.room_id == room_id), None)

    # -- www.tiktok.com

    async def _gate(self) -> web.Response | None:
        """What a refusing or hanging TikTok does to the routes the service calls."""
        if self.hang:
            await self.until_closed()
            return web.Response(status=504)
        if self.refuse is not None:
            return web.Response(status=self.refuse, text="")
        return None

    def _new_ttwid(self) -> str:
        # The shape of a real one: version, id, issue time and a digest, "|"-separated.
        now = int(self.clock())
        return f"1%7C{secrets.token_urlsafe(32)}%7C{now}%7C{secrets.token_hex(32)}"

    async def guest_visit(self, request: web.Request) -> web.StreamResponse:
        """``GET /live``: the LIVE page, with guest cookies for a browser."""
        if (gated := await self._gate()) is not None:
            return gated
        response = web.Response(
            text="<!doctype html><title>TikTok LIVE</title>", content_type="text/html"
        )
        if not request.headers.get("User-Agent", "").startswith(BROWSER_PREFIX):
            return response
        if self.cookieless_visits > 0:
            self.cookieless_visits -= 1
            return response
        ttwid = self._new_ttwid()
        self.issued_ttwids.add(ttwid)
        year = 365 * 24 * 3600
        for name, value in (
            ("ttwid", ttwid),
            ("tt_chain_token", secrets.token_urlsafe(18)),
            ("odin_tt", secrets.token_hex(48)),
        ):
            response.set_cookie(name, value, path="/", max_age=year, httponly=True, samesite="None")
        return response

    def _room_json(self, streamer: Streamer) -> dict[str, object]:
        status = 2 if streamer.live else 4
        return {
            "user": {
                "id": str(VIEWER.user_id + 1),
                "nickname": streamer.nickname,
                "roomId": streamer.room_id,
                "secUid": "MS4wLjABAAAA" + streamer.unique_id,
                "status": status,
                "uniqueId": streamer.unique_id,
            },
            "liveRoom": {"status": status, "title": f"{streamer.nickname} is live"},
        }

    async def room_api(self, request: web.Request) -> web.StreamResponse:
        """``GET /api-live/user/room/?aid=1988&sourceType=54&uniqueId=``: a streamer's room."""
        if (gated := await self._gate()) is not None:
            return gated
        if self.room_api_fails:
            return web.Response(status=403, text="")
        query = request.query
        extra = {"now": int(self.clock() * 1000)}
        if query.get("aid") != "1988" or query.get("sourceType") != "54":
            return web.json_response(
                {"data": {}, "extra": extra, "message": "params_error", "statusCode": 10011}
            )
        streamer = self.streamers.get(query.get("uniqueId", ""))
        if streamer is None:
            return web.json_response(
                {"data": {}, "extra": extra, "message": "user_not_found", "statusCode": 19881007}
            )
        return web.json_response(
            {"data": self._room_json(streamer), "extra": extra, "message": "", "statusCode": 0}
        )

    async def room_page(self, request: web.Request) -> web.StreamResponse:
        """``GET /@{id}/live``: the page, with the room in its ``SIGI_STATE``."""
        if (gated := await self._gate()) is not None:
            return gated
        streamer = self.streamers.get(request.match_info["unique_id"])
        state: dict[str, object] = {"AppContext": {"appContext": {"language": "en"}}}
        if streamer is not None:
            state["LiveRoom"] = {"liveRoomUserInfo": self._room_json(streamer)}
        return web.Response(
            text=(
                "<!DOCTYPE html><html><head><title>LIVE</title>"
                '<script id="SIGI_STATE" type="application/json">'
                f"{json.dumps(state, separators=(',', ':'))}</script>"
                "</head><body></body></html>"
            ),
            content_type="text/html",
        )

    # -- webcast.tiktok.com

    def _fetch_problem(self, signed: SignedUrl | None, raw_query: str, user_agent: str) -> str:
        """Why ``im/fetch`` is refused in the current mode ('' when it is served)."""
        if self.mode == "direct":
            params = {name for name, _ in parse_qsl(raw_query, keep_blank_values=True)}
            return "a 2026 player's im/fetch is not signed" if params & _TOKENS_2026 else ""
        return self._signature_problem(signed, user_agent)

    def _signature_problem(self, signed: SignedUrl | None, user_agent: str) -> str:
        """Why a URL is not signed as the 2025 builds sign ``im/fetch`` ('' when it is)."""
        if signed is None or signed.x_gnarly is None:
            return "not signed"
        if signed.x_dynosaur is not None:
            return "signed as a 2026 build"
        if last_param(signed.signed_query, "msToken") is None:
            return "no msToken"
        try:
            verified = selfcheck.verify_http(signed, "", user_agent)
        except SelfCheckFailed as exc:
            return f"bad signature: {exc}"
        assert verified.x_gnarly is not None
        return self._stale(verified.x_gnarly.get(6))

    def _stale(self, signed_at: int | str | None) -> str:
        if not isinstance(signed_at, int) or abs(self.clock() - signed_at) > TOKEN_MAX_AGE_S:
            return "X-Gnarly is stale"
        return ""

    async def im_fetch(self, request: web.Request) -> web.StreamResponse:
        """``GET /webcast/im/fetch/``: the first page of a room's messages."""
        if (gated := await self._gate()) is not None:
            return gated
        raw_query = request.raw_path.partition("?")[2]
        user_agent = request.headers.get("User-Agent", "")
        visit = FetchVisit(raw_query, user_agent, dict(request.cookies))
        self.fetches.append(visit)
        signed = parse_signed(self.url(request.raw_path))
        visit.refused = self._fetch_problem(signed, raw_query, user_agent)
        fetch_mode = self.mode == "fetch"
        if (
            not visit.refused
            and fetch_mode
            and request.cookies.get("ttwid") not in self.issued_ttwids
        ):
            visit.refused = "no ttwid issued here"
        streamer = self.streamer_by_room(request.query.get("room_id", ""))
        if not visit.refused and (streamer is None or not streamer.live):
            visit.refused = "no such live room"
        if visit.refused:
            visit.status = 403
            return web.Response(status=403, text="")
        assert streamer is not None
        visit.status = 200
        now_ms = int(self.clock() * 1000)
        result = proto.ProtoMessageFetchResult(
            cursor=f"{now_ms}_{streamer.room_id}_1_1_0_0",
            fetch_interval=1000,
            now=now_ms,
            internal_ext=f"internal_src:dim|wss_push_room_id:{streamer.room_id}|fetch_time:{now_ms}",
            fetch_type=1,
            heartbeat_duration=10000,
            need_ack=True,
            is_first=True,
        )
        if self.mode == "fetch":
            wrss = secrets.token_urlsafe(24)
            self.issued_wrss.add(wrss)
            result.route_params["wrss"] = wrss
            result.push_server = self.ws_origin + PUSH_PATH
        return web.Response(body=result.SerializeToString(), content_type="application/protobuf")

    async def check_alive(self, request: web.Request) -> web.StreamResponse:
        """``GET /webcast/room/check_alive/?room_ids=``: which rooms are live."""
        data = []
        for room_id in request.query.get("room_ids", "").split(","):
            streamer = self.streamer_by_room(room_id)
            alive = streamer is not None and streamer.live
            data.append({"alive": alive, "room_id": int(room_id or 0), "room_id_str": room_id})
        return web.json_response({"data": data, "extra": {}, "status_code": 0})

    async def room_info(self, request: web.Request) -> web.StreamResponse:
        """``GET /webcast/room/info/?room_id=``: a room's details."""
        streamer = self.streamer_by_room(request.query.get("room_id", ""))
        if streamer is None:
            return web.json_response(
                {"data": {"message": "room not found", "prompts": ""}, "status_code": 4003110}
            )
        data = {
            "id_str": streamer.room_id,
            "status": 2 if streamer.live else 4,
            "title": f"{streamer.nickname} is live",
            "owner": {"display_id": streamer.unique_id, "nickname": streamer.nickname},
        }
        return web.json_response({"data": data, "extra": {}, "status_code": 0})

    async def gift_list(self, _request: web.Request) -> web.StreamResponse:
        """``GET /webcast/gift/list/``: the gifts of a room."""
        gift = {
            "id": GIFT.gift_id,
            "name": GIFT.name,
            "diamond_count": GIFT.diamond_count,
            "type": 1,
        }
        return web.json_response({"data": {"gifts": [gift]}, "extra": {}, "status_code": 0})

    async def fallback(self, request: web.Request) -> web.StreamResponse:
        """Anything else: 404, as TikTok answers an unknown path."""
        return web.json_response({"status_code": 404, "path": request.path}, status=404)

    # -- the sockets

    def _visit(self, request: web.Request) -> SocketVisit:
        visit = SocketVisit(
            path=request.path,
            raw_query=request.raw_path.partition("?")[2],
            headers=dict(request.headers),
            cookies=dict(request.cookies),
        )
        self.sockets.append(visit)
        return visit

    def _live_room(self, query: str) -> str:
        """The first ``room_id`` of a query if it is a live room, else ''."""
        room_id = next((v for k, v in parse_qsl(query) if k == "room_id"), "")
        streamer = self.streamer_by_room(room_id)
        return room_id if streamer is not None and streamer.live else ""

    def _direct_problem(self, request: web.Request, visit: SocketVisit) -> str:
        marker = "&X-Gnarly="
        at = visit.raw_query.find(marker)
        if at == -1:
            return "no X-Gnarly"
        if visit.cookies.get("ttwid") not in self.issued_ttwids:
            return "no ttwid issued here"
        query = unquote(visit.raw_query[:at])
        token = unquote(visit.raw_query[at + len(marker) :].partition("&")[0])
        try:
            verified = selfcheck.verify_ws(query, request.headers.get("User-Agent", ""), token)
        except SelfCheckFailed as exc:
            return f"bad X-Gnarly: {exc}"
        assert verified.x_gnarly is not None
        visit.build = verified.build
        if stale := self._stale(verified.x_gnarly.get(6)):
            return stale
        if not self._live_room(query):
            return "no such live room"
        return ""

    async def direct_socket(self, request: web.Request) -> web.StreamResponse:
        """The 2026 player's signed socket."""
        visit = self._visit(request)
        visit.refused = self._direct_problem(request, visit)
        return await self._serve(request, visit)

    async def push_socket(self, request: web.Request) -> web.StreamResponse:
        """The push server ``im/fetch`` named: an issued ``ttwid`` and ``wrss``, no signature."""
        visit = self._visit(request)
        query = dict(parse_qsl(visit.raw_query))
        if visit.cookies.get("ttwid") not in self.issued_ttwids:
            visit.refused = "no ttwid issued here"
        elif query.get("wrss") not in self.issued_wrss:
            visit.refused = "no wrss issued here"
        elif not self._live_room(visit.raw_query):
            visit.refused = "no such live room"
        return await self._serve(request, visit)

    async def _serve(self, request: web.Request, visit: SocketVisit) -> web.StreamResponse:
        if visit.refused:
            # TikTok refuses a handshake with a status and the reason in Handshake-Msg.
            return web.Response(status=400, headers={"Handshake-Msg": visit.refused})
        socket = web.WebSocketResponse(protocols=("echo-protocol",))
        socket.headers["Handshake-Options"] = "ping-interval=10; ping-timeout=10"
        await socket.prepare(request)
        visit.accepted = True
        compressed = ("compress", "gzip") in parse_qsl(visit.raw_query)
        try:
            enter = await asyncio.wait_for(self._enter_room(socket, visit), ENTER_TIMEOUT_S)
        except TimeoutError:
            await socket.close()
            return socket
        if enter is None:
            return socket
        visit.entered_room = enter.room_id
        await socket.send_bytes(
            proto.WebcastPushFrame(
                log_id=next(self._log_ids), payload_type="im_enter_room_resp", payload_encoding="pb"
            ).SerializeToString()
        )
        for method, payload in self._events(enter.room_id):
            await socket.send_bytes(self._msg_frame(method, payload, enter.room_id, compressed))
            visit.pushed.append(method)
        await self._listen(socket, visit)
        return socket

    async def _enter_room(
        self, socket: web.WebSocketResponse, visit: SocketVisit
    ) -> proto.WebcastImEnterRoomMessage | None:
        """Read frames until ``im_enter_room``; None when the client leaves first."""
        async for message in socket:
            if message.type is not WSMsgType.BINARY:
                continue
            frame = proto.WebcastPushFrame.FromString(message.data)
            if frame.payload_type == "im_enter_room":
                return proto.WebcastImEnterRoomMessage.FromString(frame.payload)
            self._note(frame, visit)
        return None

    async def _listen(self, socket: web.WebSocketResponse, visit: SocketVisit) -> None:
        async for message in socket:
            if message.type is WSMsgType.BINARY:
                frame = proto.WebcastPushFrame.FromString(message.data)
                if self._note(frame, visit):
                    await socket.send_bytes(
                        proto.WebcastPushFrame(
                            payload_type="hb", payload_encoding="pb"
                        ).SerializeToString()
                    )

    @staticmethod
    def _note(frame: proto.WebcastPushFrame, visit: SocketVisit) -> bool:
        """Note a heartbeat or an ack; True for a heartbeat (it is answered)."""
        if frame.payload_type == "ack":
            visit.acks.append(frame.log_id)
        elif frame.payload_type == "hb":
            visit.heartbeats += 1
            return True
        return False

    def _events(self, room_id: int) -> list[tuple[str, bytes]]:
        """The three events, encoded: a chat, a gift, likes."""
        now_ms = int(self.clock() * 1000)
        viewer = proto.User(
            id=VIEWER.user_id, nickname=VIEWER.nickname, display_id=VIEWER.unique_id
        )

        def common(method: str, msg_id: int) -> proto.CommonMessageData:
            return proto.CommonMessageData(
                method=method, msg_id=msg_id, room_id=room_id, create_time=now_ms
            )

        chat = proto.WebcastChatMessage(
            common=common("WebcastChatMessage", now_ms), user=viewer, content=CHAT_TEXT
        )
        gift = proto.WebcastGiftMessage(
            common=common("WebcastGiftMessage", now_ms + 1),
            gift_id=GIFT.gift_id,
            repeat_count=GIFT.repeat_count,
            combo_count=GIFT.repeat_count,
            repeat_end=1,
            group_count=1,
            user=viewer,
            gift=proto.Gift(
                id=GIFT.gift_id, name=GIFT.name, diamond_count=GIFT.diamond_count, type=1
            ),
        )
        likes = proto.WebcastLikeMessage(
            common=common("WebcastLikeMessage", now_ms + 2),
            count=LIKES.count,
            total=LIKES.total,
            user=viewer,
        )
        return [
            ("WebcastChatMessage", chat.SerializeToString()),
            ("WebcastGiftMessage", gift.SerializeToString()),
            ("WebcastLikeMessage", likes.SerializeToString()),
        ]

    def _msg_frame(self, method: str, payload: bytes, room_id: int, compressed: bool) -> bytes:
        """One ``msg`` frame carrying one message, as the push server sends it."""
        log_id = next(self._log_ids)
        now_ms = int(self.clock() * 1000)
        result = proto.ProtoMessageFetchResult(
            cursor=f"{now_ms}_{room_id}_{log_id}",
            fetch_interval=1000,
            now=now_ms,
            internal_ext=f"internal_src:pushserver|wss_push_room_id:{room_id}|seq:{log_id}",
            need_ack=True,
        )
        result.messages.add(method=method, payload=payload, msg_id=log_id)
        body = result.SerializeToString()
        return proto.WebcastPushFrame(
            seq_id=log_id,
            log_id=log_id,
            payload_type="msg",
            payload_encoding="pb",
            headers={"compress_type": "gzip" if compressed else "none", "im-cursor": result.cursor},
            payload=gzip.compress(body) if compressed else body,
        ).SerializeToString()
