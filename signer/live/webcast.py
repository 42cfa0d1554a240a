"""Which LIVE room a request means: a room id as given, or a TikTok user's room.

A user's room comes from TikTok's JSON lookup ``{www}/api-live/user/room/`` (unsigned;
``data.user.roomId``, live when ``data.liveRoom.status`` or ``data.user.status`` is 2),
and from the state the ``/@{id}/live`` page embeds (``SIGI_STATE``) when the lookup says
nothing usable. A user TikTok does not know is a 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
import structlog

from signer.errors import BadRequest, TikTokRefused, TikTokUnavailable, UserNotFound
from signer.live.session import REFUSALS, call_tiktok

if TYPE_CHECKING:
    import aiohttp

    from signer.live.session import GuestSession, TikTokAnswer

log = structlog.get_logger("signer.live")

_ROOM_ID = re.compile(r"[0-9]{1,32}")
#: TikTok's unique ids: letters, digits, ``_`` and ``.`` (a leading ``@`` is dropped).
_UNIQUE_ID = re.compile(r"[A-Za-z0-9_.]{1,64}")
_SIGI_STATE = re.compile(
    rb"<script[^>]*\bid=[\"']SIGI_STATE[\"'][^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE
)
#: A room's or a user's ``status`` while it is live.
LIVE_STATUS = 2


@dataclass(frozen=True, slots=True)
class Room:
    """A user's LIVE room: its id (None when the user has none) and whether it is live."""

    room_id: str | None
    is_live: bool


def room_id_of(raw: str) -> str:
    """A room id as given: digits only, else a 400."""
    if not _ROOM_ID.fullmatch(raw):
        raise BadRequest("'room_id' must be a TikTok room id: digits only")
    return raw


def unique_id_of(raw: str) -> str:
    """A TikTok unique id (``@`` dropped), else a 400."""
    unique_id = raw.strip().removeprefix("@")
    if not _UNIQUE_ID.fullmatch(unique_id):
        raise BadRequest("'unique_id' must be a TikTok user name: letters, digits, '_' and '.'")
    return unique_id


async def find_room(
    http: aiohttp.ClientSession,
    www_url: str,
    unique_id: str,
    session: GuestSession,
    *,
    timeout_s: float,
    language: str = "en-US",
) -> Room:
    """The room of ``unique_id``: the JSON lookup, else the LIVE page's state.

    Raises :class:`UserNotFound` when neither knows the user, :class:`TikTokRefused` when
    TikTok refuses the page, TikTokTimeout/TikTokUnavailable as :func:`call_tiktok`.
    """
    www = www_url.rstrip("/")
    user = quote(unique_id, safe="")
    lookup = await call_tiktok(
        http,
        f"{www}/api-live/user/room/?aid=1988&sourceType=54&uniqueId={user}",
        what="the room lookup (api-live/user/room)",
        user_agent=session.user_agent,
        timeout_s=timeout_s,
        cookies=session.header,
        accept="application/json, text/plain, */*",
        language=language,
        referer=f"{www}/@{user}/live",
    )
    room = room_from_lookup(lookup)
    if room is not None:
        return room
    log.info("room_lookup_fallback", status=lookup.status)
    page = await call_tiktok(
        http,
        f"{www}/@{user}/live",
        what="the LIVE page (/@user/live)",
        user_agent=session.user_agent,
        timeout_s=timeout_s,
        cookies=session.header,
        accept="text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        language=language,
    )
    if page.status == 404:
        raise UserNotFound(f"TikTok knows no user @{unique_id}")
    if page.status in REFUSALS:
        raise TikTokRefused(
            f"TikTok refused the room lookup and the LIVE page (HTTP {page.status})"
        )
    if page.status != 200:
        raise TikTokUnavailable(f"TikTok answered the LIVE page with HTTP {page.status}")
    room = room_from_page(page.body)
    if room is None:
        raise UserNotFound(f"TikTok knows no user @{unique_id}")
    return room


def room_from_lookup(answer: TikTokAnswer) -> Room | None:
    """The room in an ``api-live/user/room`` answer; None when it names no user."""
    if answer.status != 200:
        return None
    data = _object(_json(answer.body), "data")
    user = _object(data, "user")
    if not user:
        return None
    room_id = _digits(user.get("roomId"))
    live = _object(data, "liveRoom").get("status") == LIVE_STATUS
    live = live or user.get("status") == LIVE_STATUS
    return Room(room_id, live and room_id is not None)


def room_from_page(page: bytes) -> Room | None:
    """The room in a LIVE page's ``SIGI_STATE``; None when it holds no user."""
    found = _SIGI_STATE.search(page)
    if found is None:
        return None
    info = _object(_object(_json(found.group(1)), "LiveRoom"), "liveRoomUserInfo")
    user = _object(info, "user")
    if not user:
        return None
    room_id = _digits(user.get("roomId"))
    live = user.get("status") == LIVE_STATUS
    live = live or _object(info, "liveRoom").get("status") == LIVE_STATUS
    return Room(room_id, live and room_id is not None)


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _object(value: object, key: str) -> dict[str, Any]:
    """``value[key]`` when both are JSON objects, else an empty one."""
    if isinstance(value, dict):
        inner = value.get(key)
        if isinstance(inner, dict):
            return inner
    return {}


def _digits(value: object) -> str | None:
    """A room id (a string or number of digits, not ``0``), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and _ROOM_ID.fullmatch(value) and value.strip("0"):
        return value
    return None
