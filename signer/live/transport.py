"""The two transports of ``/webcast/fetch`` and ``/connect`` (``SIGNER_LIVE_TRANSPORT``).

``direct`` (2026 player): the player's socket query in the SDK's order, signed through the
chain as a socket URL with the client's user agent, answered in **prefix mode**: a
``ProtoMessageFetchResult`` whose ``push_server`` is the signed URL and ``&_=``, so the
stock clients put exactly the signed bytes first and append their own query after a
second ``?`` (``reference/live-2026.md``). ``fetch`` (2025): TikTok's ``webcast/im/fetch/``
signed as the active build signs it, called with the guest session's cookies, its
protobuf body relayed unchanged. ``auto`` is ``direct`` when the build has a socket signer.
Both answer ``X-Set-TT-Cookie`` (``ttwid`` first: tiktok-live-connector keeps only the
first pair) and ``X-Room-Id``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, urlencode

from aiohttp import web

from providers.typing import SignRequest
from providers.urls import split_url
from providers.useragent import navigator_platform
from signer.errors import BadRequest, TikTokRefused, TikTokUnavailable, TransportUnsupported
from signer.live import proto
from signer.live.session import REFUSALS, call_tiktok, merge_cookies

if TYPE_CHECKING:
    import aiohttp

    from providers.profiles import Profile
    from providers.typing import Persona, SignResult
    from signer.chain import Chain
    from signer.inputs import RequestParser
    from signer.live.session import GuestSession

Transport = Literal["direct", "fetch"]

#: Where the 2026 player opens its socket, below ``SIGNER_TIKTOK_WS_URL``.
SOCKET_PATH = "/webcast/im/ws_proxy/ws_reuse_supplement/"
#: TikTok's LIVE fetch, below ``SIGNER_TIKTOK_WEBCAST_URL``.
FETCH_PATH = "/webcast/im/fetch/"
#: The socket's heartbeat the player asks for, in milliseconds.
HEARTBEAT_MS = 10000
#: The pad parameter after the token: the client's own ``?`` lands in its value.
PAD = "&_="
PROTOBUF = "application/x-protobuf"
#: Characters a user agent may not hold in a socket query signed verbatim (they would
#: split or end it); browsers never send them.
_QUERY_BREAKERS = frozenset("&#%")


def choose(setting: str, profile: Profile) -> Transport:
    """The transport of ``SIGNER_LIVE_TRANSPORT``; raises when the build cannot serve it."""
    transport: Transport
    if setting == "auto":
        transport = "direct" if profile.socket_signer else "fetch"
    elif setting == "direct":
        transport = "direct"
    else:
        transport = "fetch"
    if transport == "direct" and not profile.socket_signer:
        raise TransportUnsupported(
            f"SIGNER_LIVE_TRANSPORT=direct needs an SDK build with a socket signer; "
            f"{profile.build} has none: use a 2026 build (SIGNER_SDK_VERSION=1.0.0.417) or "
            "SIGNER_LIVE_TRANSPORT=fetch"
        )
    if transport == "fetch" and not profile.signs_path(FETCH_PATH):
        raise TransportUnsupported(
            f"SIGNER_LIVE_TRANSPORT=fetch needs an SDK build that signs webcast/im/fetch; "
            f"TikTok's {profile.build} does not (2026 builds): use SIGNER_LIVE_TRANSPORT=direct "
            "or a 2025 build (SIGNER_SDK_VERSION=5.1.3)"
        )
    return transport


@dataclass(frozen=True, slots=True)
class LiveAnswer:
    """What ``/webcast/fetch`` answers: the protobuf body, the cookies, the room."""

    body: bytes
    cookies: str
    room_id: str
    #: The provider that signed (for the request's log line).
    provider: str

    def response(self) -> web.Response:
        """The HTTP answer the clients read."""
        response = web.Response(body=self.body, content_type=PROTOBUF)
        response.headers["X-Set-TT-Cookie"] = self.cookies
        response.headers["X-Room-Id"] = self.room_id
        return response


def browser_platform(user_agent: str, persona: Persona) -> str:
    """``navigator.platform`` of the client's user agent (the persona's when it names no OS)."""
    return navigator_platform(user_agent) or persona.platform


def short_language(language: str) -> str:
    """The player's ``webcast_language`` and ``app_language``: ``en`` for English, else the tag.

    TikTok's web app writes ``en`` for every English and the full tag (``de-DE``,
    ``pt-BR``) for other languages, as the shared socket vectors do.
    """
    return "en" if language.split("-", 1)[0].lower() == "en" else language


def device_id() -> str:
    """A device id as the player makes one: 19 random digits."""
    return str(10**18 + secrets.randbelow(9 * 10**18))


def player_query(
    user_agent: str, room_id: str, persona: Persona, tz_name: str, device: str
) -> list[tuple[str, str]]:
    """The 2026 player's socket query, in the SDK's order (``reference/sdk-2026.md``)."""
    language = short_language(persona.language)
    return [
        ("version_code", "180800"),
        ("device_platform", "web"),
        ("cookie_enabled", "true"),
        ("screen_width", str(persona.screen_width)),
        ("screen_height", str(persona.screen_height)),
        ("browser_language", persona.language),
        ("browser_platform", browser_platform(user_agent, persona)),
        ("browser_name", "Mozilla"),
        ("browser_version", user_agent.removeprefix("Mozilla/")),
        ("browser_online", "true"),
        ("tz_name", tz_name),
        ("app_name", "tiktok_web"),
        ("sup_ws_ds_opt", "1"),
        ("update_version_code", "2.0.0"),
        ("compress", "gzip"),
        ("webcast_language", language),
        ("aid", "1988"),
        ("live_id", "12"),
        ("version_code", "270000"),
        ("app_language", language),
        ("ws_direct", "1"),
        ("client_enter", "1"),
        ("room_id", room_id),
        ("identity", "audience"),
        ("last_rtt", "-1"),
        ("heartbeat_duration", str(HEARTBEAT_MS)),
        ("resp_content_type", "protobuf"),
        ("did_rule", "0"),
        ("device_id", device),
    ]


def raw_query(pairs: list[tuple[str, str]]) -> str:
    """The query as the socket signer signs it: verbatim, nothing percent-encoded."""
    return "&".join(f"{name}={value}" for name, value in pairs)


def check_socket_user_agent(user_agent: str) -> None:
    """A 400 for a user agent that cannot stand verbatim in a socket query."""
    if _QUERY_BREAKERS.intersection(user_agent):
        raise BadRequest("'user_agent' must not hold '&', '#' or '%' (browsers never send them)")


def prefix_result(signed_url: str, pairs: list[tuple[str, str]], now_ms: int) -> bytes:
    """The ``ProtoMessageFetchResult`` of prefix mode, serialized.

    ``push_server`` is the signed socket URL as the chain returns it (spaces as ``%20``,
    ``&X-Gnarly=`` and the encoded token) and :data:`PAD`; ``route_params`` the query's
    parameters without X-Gnarly, the first value of a name winning.
    """
    result = proto.ProtoMessageFetchResult(
        cursor="0",
        push_server=signed_url + PAD,
        need_ack=True,
        is_first=True,
        heartbeat_duration=HEARTBEAT_MS,
        fetch_interval=1000,
        now=now_ms,
    )
    for name, value in pairs:
        if name != "X-Gnarly" and name not in result.route_params:
            result.route_params[name] = value
    body: bytes = result.SerializeToString()
    return body


async def direct(
    chain: Chain,
    parser: RequestParser,
    *,
    ws_url: str,
    session: GuestSession,
    room_id: str,
    persona: Persona,
    tz_name: str,
) -> LiveAnswer:
    """The ``direct`` answer: the player's socket URL signed for the session's user agent."""
    user_agent = session.user_agent
    check_socket_user_agent(user_agent)
    pairs = player_query(user_agent, room_id, persona, tz_name, device_id())
    url, kind = parser.check_sign_url(f"{ws_url}{SOCKET_PATH}?{raw_query(pairs)}")
    signed = await chain.sign(SignRequest(url=url, kind=kind, user_agent=user_agent))
    result = signed.result
    body = prefix_result(result.signed_url, pairs, int(time.time() * 1000))
    return LiveAnswer(body, session.header, room_id, result.provider)


def fetch_query(
    user_agent: str,
    room_id: str,
    persona: Persona,
    tz_name: str,
    *,
    cursor: str,
    internal_ext: str,
    www_url: str,
) -> list[tuple[str, str]]:
    """The query of a browser's ``webcast/im/fetch/`` (2025 player), for ``user_agent``."""
    language = short_language(persona.language)
    referer = www_url.rstrip("/") + "/"
    pairs = [
        ("aid", "1988"),
        ("app_language", language),
        ("app_name", "tiktok_web"),
        ("browser_language", persona.language),
        ("browser_name", "Mozilla"),
        ("browser_online", "true"),
        ("browser_platform", browser_platform(user_agent, persona)),
        ("browser_version", user_agent.removeprefix("Mozilla/")),
        ("cookie_enabled", "true"),
        ("cursor", cursor),
        ("internal_ext", internal_ext),
        ("device_platform", "web"),
        ("focus_state", "true"),
        ("from_page", "user"),
        ("history_len", "4"),
        ("is_fullscreen", "false"),
        ("is_page_visible", "true"),
        ("did_rule", "3"),
        ("fetch_rule", "1"),
        ("last_rtt", "0"),
        ("live_id", "12"),
        ("resp_content_type", "protobuf"),
        ("screen_height", str(persona.screen_height)),
        ("screen_width", str(persona.screen_width)),
        ("tz_name", tz_name),
        ("referer", referer),
        ("root_referer", referer),
        ("version_code", "180800"),
        ("webcast_sdk_version", "1.3.0"),
        ("update_version_code", "1.3.0"),
        ("webcast_language", language),
        ("room_id", room_id),
    ]
    return [(name, value) for name, value in pairs if value or name == "cursor"]


async def fetch(  # noqa: PLR0913 - every input of the call is a separate setting or value
    chain: Chain,
    parser: RequestParser,
    http: aiohttp.ClientSession,
    *,
    webcast_url: str,
    www_url: str,
    session: GuestSession,
    room_id: str,
    persona: Persona,
    tz_name: str,
    cursor: str,
    internal_ext: str,
    timeout_s: float,
) -> LiveAnswer:
    """The ``fetch`` answer: TikTok's signed ``webcast/im/fetch/``, its body unchanged."""
    user_agent = session.user_agent
    pairs = fetch_query(
        user_agent,
        room_id,
        persona,
        tz_name,
        cursor=cursor,
        internal_ext=internal_ext,
        www_url=www_url,
    )
    query = urlencode(pairs, quote_via=quote)
    url = parser.check_url(f"{webcast_url.rstrip('/')}{FETCH_PATH}?{query}")
    signed = await chain.sign(SignRequest(url=url, user_agent=user_agent))
    result: SignResult = signed.result
    answer = await call_tiktok(
        http,
        result.signed_url,
        what="the LIVE fetch (webcast/im/fetch)",
        user_agent=user_agent,
        timeout_s=timeout_s,
        cookies=session.header,
        language=persona.language,
        referer=www_url.rstrip("/") + "/",
    )
    if answer.status in REFUSALS:
        raise TikTokRefused(
            f"TikTok refused the signed LIVE fetch (HTTP {answer.status}): it may be judging "
            "this address or session"
        )
    if answer.status != 200:
        raise TikTokUnavailable(f"TikTok answered the LIVE fetch with HTTP {answer.status}")
    if not answer.body:
        raise TikTokRefused("TikTok answered the LIVE fetch with an empty body")
    cookies = merge_cookies(session.cookies, answer.cookies)
    header = "; ".join(f"{name}={value}" for name, value in cookies)
    return LiveAnswer(answer.body, header, room_id, result.provider)


def signed_base(url: str) -> str:
    """The part of a signed URL before its query (for tests and logs: no tokens)."""
    return split_url(url)[0]
