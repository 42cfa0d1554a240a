"""The Euler-compatible LIVE routes: one guarded route group in the clients' envelope.

What PyPI ``TikTokLive`` 7.0.1 and npm ``tiktok-live-connector`` 2.5.0 call on an Euler
Stream sign server (``DESIGN.md``, "Euler-compatible LIVE API"): the LIVE fetch
(``/webcast/fetch``, ``/webcast/rooms/{room_id}/connect``), URL signing (``sign_url``),
room ids, rate limits, and chat (501 until it is built). The key comes in ``X-Api-Key``
or the ``apiKey`` query parameter; the guard is the one of every sign route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from providers.typing import SignRequest
from signer.access.guard import ADMIN, CLIENT, client_address
from signer.app_keys import CHAIN, HTTP, METRICS, PARSER, PERSONAS, SETTINGS, STATE
from signer.errors import (
    BadRequest,
    IncompleteSignature,
    NotImplementedHere,
    NotLive,
    SignerError,
    TikTokRefused,
)
from signer.groups import RouteGroup
from signer.inputs import METHODS, parse_json_object, read_body, user_agent_of
from signer.live import euler, transport
from signer.live.session import GuestSessions
from signer.live.webcast import Room, find_room, room_id_of, unique_id_of
from signer.middleware import LOG_FIELDS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from signer.live.session import GuestSession

live_routes = web.RouteTableDef()

#: Reading what is left of the rate limits spends nothing from them.
UNMETERED = frozenset({"/webcast/rate_limits", "/accounts/me/rate_limits"})
#: The query parameter the Euler clients may send their key in.
KEY_PARAM = "apiKey"


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the LIVE routes keep between requests: the pool of TikTok guest sessions."""

    sessions: GuestSessions


LIVE_STATE = web.AppKey("live", LiveState)


def _owner(request: web.Request) -> str:
    """Whose guest sessions a request may use: its client key's name ("" without keys)."""
    if request.get(ADMIN, False):
        return "\x00admin"  # not a key name: names are letters, digits, '-', '_' and '.'
    return str(request.get(CLIENT, ""))


def _user_agent(request: web.Request, query: Mapping[str, str]) -> str:
    """The client's ``user_agent`` (the persona's when it sends none)."""
    given = user_agent_of(dict(query), "user_agent") if query.get("user_agent") else None
    return given or request.app[PERSONAS].current.user_agent


async def _session(request: web.Request, user_agent: str) -> GuestSession:
    return await request.app[LIVE_STATE].sessions.get(
        request.app[HTTP], _owner(request), user_agent
    )


async def _room(request: web.Request, unique_id: str, session: GuestSession) -> Room:
    settings = request.app[SETTINGS]
    return await find_room(
        request.app[HTTP],
        settings.tiktok_www_url,
        unique_id,
        session,
        timeout_s=settings.sign_timeout_s,
        language=request.app[PERSONAS].current.language,
    )


def _log(request: web.Request, **fields: Any) -> None:
    request[LOG_FIELDS] = {**request.get(LOG_FIELDS, {}), **fields}


@live_routes.get("/webcast/fetch")
async def webcast_fetch(request: web.Request) -> web.Response:
    """TikTokLive's fetch: ``room_id`` or ``unique_id``, ``user_agent``, ``cursor``."""
    return await _live_fetch(request, request.query.get("room_id"))


@live_routes.get("/webcast/rooms/{room_id}/connect")
async def room_connect(request: web.Request) -> web.Response:
    """tiktok-live-connector's fetch: the room in the path, ``user_agent`` in the query."""
    return await _live_fetch(request, request.match_info["room_id"])


async def _live_fetch(request: web.Request, given_room: str | None) -> web.Response:
    """Either transport's answer; every outcome is counted by transport."""
    settings = request.app[SETTINGS]
    metrics = request.app[METRICS]
    name = settings.live_transport
    try:
        chosen = transport.choose(name, settings.profile)
        name = chosen
        answer = await _fetch_with(request, chosen, given_room)
    except SignerError as exc:
        metrics.live_fetch(name, exc.code)
        _log(request, transport=name)
        raise
    metrics.live_fetch(chosen, "ok")
    _log(request, transport=chosen, provider=answer.provider)
    return answer.response()


async def _fetch_with(
    request: web.Request, chosen: transport.Transport, given_room: str | None
) -> transport.LiveAnswer:
    query = request.query
    if query.get("platform", "web") not in {"web", ""}:
        raise NotImplementedHere("only platform=web is served (the mobile socket is not built)")
    settings = request.app[SETTINGS]
    persona = request.app[PERSONAS].current
    user_agent = _user_agent(request, query)
    if given_room:
        room_id = room_id_of(given_room)
        session = await _session(request, user_agent)
    elif query.get("unique_id"):
        unique_id = unique_id_of(query["unique_id"])
        session = await _session(request, user_agent)
        room = await _room(request, unique_id, session)
        if room.room_id is None:
            raise NotLive(f"@{unique_id} has no LIVE room to connect to")
        room_id = room.room_id
    else:
        raise BadRequest("give 'room_id' or 'unique_id'")
    chain, parser = request.app[CHAIN], request.app[PARSER]
    if chosen == "direct":
        return await transport.direct(
            chain,
            parser,
            ws_url=settings.tiktok_ws_url,
            session=session,
            room_id=room_id,
            persona=persona,
            tz_name=settings.timezone,
        )
    try:
        return await _relay(request, session=session, room_id=room_id)
    except TikTokRefused:
        # TikTok judged the session: the next request starts a new one.
        request.app[LIVE_STATE].sessions.forget(_owner(request), user_agent)
        raise


async def _relay(
    request: web.Request, *, session: GuestSession, room_id: str
) -> transport.LiveAnswer:
    """The ``fetch`` transport's answer for this request's query."""
    settings = request.app[SETTINGS]
    query = request.query
    return await transport.fetch(
        request.app[CHAIN],
        request.app[PARSER],
        request.app[HTTP],
        webcast_url=settings.tiktok_webcast_url,
        www_url=settings.tiktok_www_url,
        session=session,
        room_id=room_id,
        persona=request.app[PERSONAS].current,
        tz_name=settings.timezone,
        cursor=query.get("cursor", ""),
        internal_ext=query.get("internal_ext", ""),
        timeout_s=settings.sign_timeout_s,
    )


@live_routes.get("/webcast/room_id")
async def room_id_by_query(request: web.Request) -> web.Response:
    """``?unique_id=`` (or EulerApiSdk's ``uniqueId``): the user's room and whether it is live."""
    raw = request.query.get("unique_id") or request.query.get("uniqueId")
    if not raw:
        raise BadRequest("give 'unique_id'")
    return await _room_answer(request, raw)


@live_routes.get("/webcast/anchors/{unique_id}/room_id")
async def room_id_by_path(request: web.Request) -> web.Response:
    """tiktok-live-connector's room lookup: the user in the path."""
    return await _room_answer(request, request.match_info["unique_id"])


async def _room_answer(request: web.Request, raw: str) -> web.Response:
    unique_id = unique_id_of(raw)
    session = await _session(request, _user_agent(request, request.query))
    room = await _room(request, unique_id, session)
    return euler.answer({"ok": True, "room_id": room.room_id, "is_live": room.is_live})


@live_routes.get("/webcast/rate_limits")
async def rate_limits(request: web.Request) -> web.Response:
    """What is left of the caller's minute, hour and day (reading spends nothing)."""
    return await _rate_limits(request)


async def _rate_limits(request: web.Request) -> web.Response:
    client = request.get(CLIENT) or client_address(request.remote)
    usage = await request.app[STATE].usage(client)
    windows = {name: window.view() for name, window in usage.items()}
    return euler.answer({"message": "ok", **windows})


@live_routes.get("/accounts/me/rate_limits")
async def account_rate_limits(request: web.Request) -> web.Response:
    """tiktok-live-connector's spelling of :func:`rate_limits`."""
    return await _rate_limits(request)


@live_routes.post("/webcast/sign_url")
async def webcast_sign_url(request: web.Request) -> web.Response:
    """TikTokLive's URL signing: ``{url, userAgent, method, type, payload, ...}``."""
    return await _sign_url(request)


@live_routes.post("/tiktok/sign_url")
async def tiktok_sign_url(request: web.Request) -> web.Response:
    """tiktok-live-connector's URL signing: ``{url, method, userAgent}``."""
    return await _sign_url(request)


async def _sign_url(request: web.Request) -> web.Response:
    """Sign any allowed TikTok URL through the chain; the clients' other keys are ignored."""
    parser = request.app[PARSER]
    body = await read_body(request, parser.max_body, parser.read_timeout_s)
    data = parse_json_object(body)
    url = parser.check_url(data.get("url"))
    user_agent = user_agent_of(data, "userAgent") or user_agent_of(data, "user_agent")
    method = data.get("method") or "GET"
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise BadRequest(f"'method' must be one of {', '.join(sorted(METHODS))}")
    method = method.upper()
    payload = data.get("payload") or ""
    if not isinstance(payload, str):
        raise BadRequest("'payload' must be a string (the exact body to send)")
    if payload and method == "GET":
        raise BadRequest("a GET request has no payload")
    sign_request = SignRequest(url=url, method=method, body=payload, user_agent=user_agent)
    signed = await request.app[CHAIN].sign(sign_request)
    result = signed.result
    _log(request, provider=result.provider, attempts=len(signed.attempts))
    if "msToken=" not in result.signed_url:
        raise IncompleteSignature(
            f"provider {result.provider} returned a signed URL without msToken (the clients "
            "refuse one)"
        )
    tokens = {
        "msToken": result.ms_token,
        "X-Bogus": result.x_bogus or "",
        "X-Gnarly": result.x_gnarly or "",
    }
    if result.x_dynosaur is not None:
        tokens["X-Dynosaur"] = result.x_dynosaur
    navigator = result.navigator
    return euler.answer(
        {
            "message": "ok",
            "response": {
                "signedUrl": result.signed_url,
                "userAgent": result.user_agent,
                "browserName": navigator.browser_name,
                "browserVersion": navigator.browser_version,
                "tokens": tokens,
                "requestHeaders": {},
                "cookies": [],
            },
        }
    )


CHAT_NOT_BUILT = "sending LIVE chat is not built yet: it needs a logged-in TikTok session"


@live_routes.post("/webcast/chat")
async def chat(_request: web.Request) -> web.Response:
    """TikTokLive's chat: not built (it needs a logged-in TikTok session)."""
    raise NotImplementedHere(CHAT_NOT_BUILT)


@live_routes.post("/webcast/rooms/{room_id}/chat")
async def room_chat(_request: web.Request) -> web.Response:
    """tiktok-live-connector's chat: as :func:`chat`."""
    raise NotImplementedHere(CHAT_NOT_BUILT)


class LiveGroup:
    """The LIVE routes (a guarded :class:`RouteGroup`) and the state they keep."""

    name = "live"

    def register(self, app: web.Application) -> None:
        """Add the routes behind the guard, in the Euler envelope, and the session pool."""
        settings = app[SETTINGS]
        app[LIVE_STATE] = LiveState(
            GuestSessions(
                settings.tiktok_www_url,
                timeout_s=settings.sign_timeout_s,
                language=app[PERSONAS].current.language,
            )
        )
        RouteGroup(
            self.name,
            live_routes,
            guarded=True,
            envelope=euler.envelope,
            error_headers=euler.make_error_headers(),
            key_param=KEY_PARAM,
            unmetered=UNMETERED,
        ).register(app)


LIVE = LiveGroup()
