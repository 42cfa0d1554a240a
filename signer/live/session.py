"""TikTok guest sessions, and the one way the LIVE API calls TikTok.

A guest session is the cookies a browser gets from a first visit to ``{www}/live`` with
its user agent: ``ttwid`` (required; TikTok refuses a socket without it), then
``tt_chain_token`` and whatever else it sets. :class:`GuestSessions` keeps a small pool of
them on the app's one ``aiohttp`` session (which has no cookie jar: every call sends the
cookies of its own guest session and no other), keyed by the caller (its client key's name)
and the user agent, so one caller's cookies never go out for another. A session is reused
until it ages out; concurrent requests for the same one share a single visit.

Every call to TikTok goes through :func:`call_tiktok`: a bounded time-out, a bounded body,
and failures as the service's errors (502 refused or unreachable, 504 time-out) whose
messages name what was asked, never a URL, a cookie or a token.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
import structlog
from yarl import URL

from signer.errors import TikTokRefused, TikTokTimeout, TikTokUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    Clock = Callable[[], float]

log = structlog.get_logger("signer.live")

#: The largest answer read from TikTok (a LIVE page is a few hundred KiB).
MAX_BODY = 4 * 1024 * 1024
#: Guest sessions kept at most; the least recently used go first.
MAX_SESSIONS = 16
#: A guest session is visited again after this long.
MAX_AGE_S = 900.0
#: Visits to ``/live`` before a cookie-less answer is an error, and the pause between them.
VISITS = 3
RETRY_DELAY_S = 0.2
#: What a cookie value may hold to go into a ``Cookie`` header (RFC 6265 cookie-octet).
_COOKIE_VALUE = re.compile(r"[!#-+\--:<-\[\]-~]+")
_COOKIE_NAME = re.compile(r"[!#-'*+\-.0-9A-Z^-z|~]+")
#: Statuses with which TikTok says no (bot check, rate limit): errors at once, no retry.
REFUSALS = frozenset({401, 403, 429})

Cookies = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class TikTokAnswer:
    """What TikTok answered one call: status, body, the cookies it set, the content type."""

    status: int
    body: bytes
    cookies: Cookies
    content_type: str


async def call_tiktok(  # noqa: PLR0913 - the headers of one browser request, by name
    http: aiohttp.ClientSession,
    url: str,
    *,
    what: str,
    user_agent: str,
    timeout_s: float,
    cookies: str = "",
    accept: str = "*/*",
    language: str = "en-US",
    referer: str | None = None,
) -> TikTokAnswer:
    """GET ``url`` (sent exactly as written) as the browser ``user_agent`` with ``cookies``.

    ``what`` names the call in errors ("the guest visit to /live"). Raises
    :class:`TikTokTimeout` past ``timeout_s`` (the whole call, body included) and
    :class:`TikTokUnavailable` when TikTok cannot be reached or the body is too large;
    an HTTP error status is the caller's to judge.
    """
    headers = {
        "User-Agent": user_agent,
        "Accept": accept,
        "Accept-Language": f"{language},{language.split('-', 1)[0]};q=0.9",
    }
    if cookies:
        headers["Cookie"] = cookies
    if referer is not None:
        headers["Referer"] = referer
    try:
        async with (
            asyncio.timeout(timeout_s),
            http.get(URL(url, encoded=True), headers=headers) as response,
        ):
            body = await _read_capped(response, what)
            set_cookies = _cookies_of([*response.history, response])
            return TikTokAnswer(response.status, body, set_cookies, response.content_type)
    except TimeoutError:
        raise TikTokTimeout(f"TikTok did not answer {what} within {timeout_s:g} s") from None
    except aiohttp.ClientError as exc:
        raise TikTokUnavailable(
            f"TikTok could not be reached for {what} ({type(exc).__name__})"
        ) from None


async def _read_capped(response: aiohttp.ClientResponse, what: str) -> bytes:
    """The body, or TikTokUnavailable when it is over :data:`MAX_BODY`."""
    declared = response.content_length
    if declared is not None and declared > MAX_BODY:
        raise TikTokUnavailable(f"TikTok's answer to {what} is over {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            raise TikTokUnavailable(f"TikTok's answer to {what} is over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _cookies_of(responses: Iterable[aiohttp.ClientResponse]) -> Cookies:
    """The cookies the responses set, in order (a later value wins; deleted ones go)."""
    found: dict[str, str] = {}
    for response in responses:
        for name, morsel in response.cookies.items():
            value = morsel.value
            if morsel["max-age"] in {"0", "-1"} or not value:
                found.pop(name, None)
            elif _COOKIE_NAME.fullmatch(name) and _COOKIE_VALUE.fullmatch(value):
                found[name] = value
    return tuple(found.items())


def merge_cookies(first: Cookies, then: Cookies) -> Cookies:
    """``first`` updated by ``then`` (new names after), ``ttwid`` always first."""
    merged = dict(first)
    merged.update(then)
    ttwid = merged.pop("ttwid", None)
    ordered = list(merged.items())
    if ttwid is not None:
        ordered.insert(0, ("ttwid", ttwid))
    return tuple(ordered)


@dataclass(frozen=True, slots=True)
class GuestSession:
    """The cookies of one guest visit (``ttwid`` first), for one caller and user agent."""

    user_agent: str
    cookies: Cookies
    #: When the visit was made (the pool's monotonic clock).
    created: float

    @property
    def header(self) -> str:
        """The cookies as a ``Cookie`` (and ``X-Set-TT-Cookie``) header: ``ttwid=...; ...``."""
        return "; ".join(f"{name}={value}" for name, value in self.cookies)


class GuestSessions:
    """A small bounded pool of guest sessions, keyed by (caller, user agent).

    ``owner`` is the caller's client-key name ("" when client keys are off): a session is
    never handed to another key. ``visits`` counts the visits made (for the benchmark and
    the tests: the cost of a session is paid once per ``max_age_s``).
    """

    def __init__(
        self,
        www_url: str,
        *,
        timeout_s: float,
        language: str = "en-US",
        max_sessions: int = MAX_SESSIONS,
        max_age_s: float = MAX_AGE_S,
        visits: int = VISITS,
        retry_delay_s: float = RETRY_DELAY_S,
        clock: Clock = time.monotonic,
    ) -> None:
        self._live_url = www_url.rstrip("/") + "/live"
        self.timeout_s = timeout_s
        self._language = language
        self._max_sessions = max_sessions
        self._max_age_s = max_age_s
        self._tries = visits
        self._retry_delay_s = retry_delay_s
        self._clock = clock
        self._sessions: OrderedDict[tuple[str, str], GuestSession] = OrderedDict()
        self._pending: dict[tuple[str, str], asyncio.Task[GuestSession]] = {}
        #: Visits to ``/live`` made so far (every attempt counts).
        self.visits = 0

    @property
    def size(self) -> int:
        """How many sessions are kept (no ``__len__``: an empty pool must stay truthy)."""
        return len(self._sessions)

    async def get(self, http: aiohttp.ClientSession, owner: str, user_agent: str) -> GuestSession:
        """A fresh guest session of ``owner`` for ``user_agent``, visiting TikTok if needed.

        Raises :class:`TikTokRefused` (TikTok said no, or set no ``ttwid``),
        :class:`TikTokTimeout` or :class:`TikTokUnavailable`.
        """
        key = (owner, user_agent)
        session = self._sessions.get(key)
        if session is not None and self._clock() - session.created < self._max_age_s:
            self._sessions.move_to_end(key)
            return session
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(self._visit(http, key))
            self._pending[key] = task
            task.add_done_callback(lambda _done: self._pending.pop(key, None))
        # A caller that goes away does not cancel the visit the others wait for.
        return await asyncio.shield(task)

    def forget(self, owner: str, user_agent: str) -> None:
        """Drop a session TikTok no longer accepts; the next request visits again."""
        self._sessions.pop((owner, user_agent), None)

    async def _visit(self, http: aiohttp.ClientSession, key: tuple[str, str]) -> GuestSession:
        user_agent = key[1]
        status = 0
        for attempt in range(self._tries):
            if attempt:
                await asyncio.sleep(self._retry_delay_s)
            self.visits += 1
            answer = await call_tiktok(
                http,
                self._live_url,
                what="the guest visit to /live",
                user_agent=user_agent,
                timeout_s=self.timeout_s,
                accept="text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                language=self._language,
            )
            status = answer.status
            if status in REFUSALS:
                log.warning("tiktok_refused", call="guest_visit", status=status)
                raise TikTokRefused(
                    f"TikTok refused the guest visit to /live (HTTP {status}): it may be "
                    "judging this address or user agent"
                )
            cookies = merge_cookies((), answer.cookies)
            if cookies and cookies[0][0] == "ttwid":
                session = GuestSession(user_agent, cookies, self._clock())
                self._keep(key, session)
                return session
        log.warning("tiktok_no_ttwid", visits=self._tries, status=status)
        raise TikTokRefused(
            f"TikTok set no ttwid cookie on /live in {self._tries} visits (last HTTP {status})"
        )

    def _keep(self, key: tuple[str, str], session: GuestSession) -> None:
        self._sessions[key] = session
        self._sessions.move_to_end(key)
        while len(self._sessions) > self._max_sessions:
            self._sessions.popitem(last=False)
