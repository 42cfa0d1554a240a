"""Turn request bodies into a validated :class:`SignRequest`, or a clear 4xx error."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

import orjson

from providers.typing import SignRequest
from signer.errors import (
    BadRequest,
    BodyTooLarge,
    EmptyBody,
    InvalidJson,
    InvalidUrl,
    RequestTimeout,
    UnsupportedMediaType,
    UrlNotAllowed,
    UrlTooLong,
)

if TYPE_CHECKING:
    from aiohttp import web

    from providers.typing import RequestKind
    from signer.settings import Settings

TEXT = "text/plain"
JSON = "application/json"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
MAX_USER_AGENT = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: What a user agent may hold: printable ASCII, space to ``~`` (what browsers send; the
#: SDK and the codecs hash anything else differently).
_USER_AGENT = re.compile(r"[ -~]+")
_MS_TOKEN = re.compile(r"[A-Za-z0-9_\-=%.]*")
#: A ``%`` that does not start an escape: TikTok's 2026 SDK throws on it (URIError).
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SOCKET_SCHEMES = ("ws://", "wss://")
SIGN_KEYS = frozenset({"url", "room_url", "method", "body", "user_agent", "ms_token", "provider"})


async def read_body(request: web.Request, limit: int, timeout_s: float) -> bytes:
    """The whole body within ``timeout_s``, refused early when declared over ``limit``."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(f"body of {declared} bytes is over the limit of {limit} bytes")
    if request.content.is_eof():  # all of it came with the head: nothing to wait for
        body = await request.read()
    else:
        body = await _read_within(request, timeout_s)
    if not body.strip():
        raise EmptyBody("the request has no body: send the URL to sign")
    return body


async def _read_within(request: web.Request, timeout_s: float) -> bytes:
    """The body, or RequestTimeout when it does not arrive within ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        raise RequestTimeout(
            f"the body did not arrive within {timeout_s:g} s (SIGNER_READ_TIMEOUT_S)"
        ) from None


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object, or :class:`InvalidJson` / :class:`BadRequest`."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise BadRequest("the JSON body must be an object")
    return data


def user_agent_of(data: dict[str, Any], key: str) -> str | None:
    """``data[key]`` when it is a user agent of printable ASCII, else None or a 400."""
    value = optional_str(data, key)
    if value is not None and not _USER_AGENT.fullmatch(value):
        raise BadRequest(f"{key!r} must be printable ASCII (space to '~'), as browsers send it")
    return value


def optional_str(data: dict[str, Any], key: str, limit: int = MAX_USER_AGENT) -> str | None:
    """``data[key]`` when it is a non-empty string of printable characters, else None."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key!r} must be a string")
    if not value or len(value) > limit or _CONTROL.search(value):
        raise BadRequest(f"{key!r} must be 1 to {limit} printable characters")
    return value


class RequestParser:
    """Validates the URL and fields of sign requests against the settings."""

    def __init__(self, settings: Settings) -> None:
        self._hosts = settings.signable_hosts
        self._origin_ports = settings.origin_ports
        self.max_body = settings.max_body_bytes
        self.read_timeout_s = settings.read_timeout_s
        self._max_url = settings.max_url_bytes
        profile = settings.profile
        self._build = profile.build
        self._strict_escapes = profile.rewrites_url
        self._socket_signer = profile.socket_signer
        ws = urlsplit(settings.tiktok_ws_url)
        #: ``ws://`` is signed only for the configured socket origin (the fake of the tests).
        self._plain_ws = (ws.hostname, ws.port) if ws.scheme == "ws" else None

    def check_url(self, raw: object) -> str:
        """An absolute http(s) URL on an allowed host, or a 4xx error.

        The query may hold spaces (the SDK and the browser encode them); a ``%`` that
        starts no escape is refused when the SDK build in use would throw on it.
        """
        url = self._text(raw)
        parts = self._split(url)
        if parts.scheme not in {"http", "https"}:
            if not parts.scheme or not parts.netloc:
                raise InvalidUrl("not an absolute URL: send e.g. https://www.tiktok.com/api/...")
            raise InvalidUrl(f"scheme {parts.scheme!r} is not supported: use http or https")
        self._check_host(url, parts.netloc, parts.hostname, _port(parts))
        if self._strict_escapes and "%" in url and _BAD_ESCAPE.search(url):
            raise InvalidUrl(
                f"the URL has a '%' that starts no escape: TikTok's SDK {self._build} refuses it"
            )
        return url

    def check_sign_url(self, raw: object) -> tuple[str, RequestKind]:
        """``/sign``'s URL: http(s) as :meth:`check_url`, or a LIVE socket URL (``ws``).

        A ``wss://`` URL on an allowed host is signed by the SDK's socket signer; its query
        may be raw (spaces) or carry ``%20``. ``ws://`` is accepted only for the configured
        socket origin (``SIGNER_TIKTOK_WS_URL``, a fake in tests).
        """
        if not (isinstance(raw, str) and raw.lstrip()[:6].lower().startswith(_SOCKET_SCHEMES)):
            return self.check_url(raw), "http"
        url = self._text(raw)
        parts = self._split(url)
        port = _port(parts)
        if parts.scheme == "ws":
            if self._plain_ws is None or (parts.hostname, port) != self._plain_ws:
                raise UrlNotAllowed("ws:// is signed only for the configured socket origin")
        else:
            self._check_host(url, parts.netloc, parts.hostname, port)
        if not parts.query:
            raise InvalidUrl("a socket URL to sign carries the player's query after '?'")
        if not self._socket_signer:
            raise InvalidUrl(
                f"TikTok's SDK {self._build} has no socket signer: socket URLs are signed "
                "with a 2026 build (SIGNER_SDK_VERSION)"
            )
        return url, "ws"

    def _text(self, raw: object) -> str:
        """The URL as a non-empty printable string within the size limit."""
        if not isinstance(raw, str):
            raise InvalidUrl("'url' must be a string")
        url = raw.strip()
        if not url:
            raise InvalidUrl("the URL is empty")
        # A character is at most 4 bytes: most URLs are measured without encoding them.
        if (
            len(url) * 4 > self._max_url
            and len(url.encode("utf-8", "surrogatepass")) > self._max_url
        ):
            raise UrlTooLong(f"the URL is longer than {self._max_url} bytes (SIGNER_MAX_URL_BYTES)")
        if not url.isprintable() or " " in url.partition("?")[0]:
            raise InvalidUrl("the URL contains control characters, or spaces before its query")
        return url

    @staticmethod
    def _split(url: str) -> SplitResult:
        try:
            parts = urlsplit(url)
            _port(parts)
        except ValueError:
            raise InvalidUrl(
                "the URL does not parse (a port must be a number up to 65535)"
            ) from None
        return parts

    def _check_host(self, url: str, netloc: str, host: str | None, port: int | None) -> None:
        r"""A TikTok host, read as a browser (WHATWG URL) reads it, or a 4xx error.

        A browser ends the authority of an http(s) URL at a backslash too, and everything
        before an ``@`` is userinfo: ``https://evil.example\@www.tiktok.com/`` goes to
        evil.example in a browser, to www.tiktok.com for ``urlsplit``. An explicit port is
        only a configured origin's (the fakes of the tests).
        """
        if "\\" in url:  # rare: read the authority only then
            authority = url.split("://", 1)[1]
            for end in "/?#":
                authority = authority.split(end, 1)[0]
            if "\\" in authority:
                raise InvalidUrl("a backslash in the host part is not allowed")
        if "@" in netloc:
            raise InvalidUrl("a user name or password in the URL is not allowed")
        if not host:
            raise InvalidUrl("the URL has no host")
        if not self._allowed(host):
            raise UrlNotAllowed(f"host {host!r} is not a TikTok host this service signs for")
        explicit = port is not None or netloc.endswith(":")
        if explicit and (host, port) not in self._origin_ports:
            raise UrlNotAllowed("an explicit port is allowed only for a configured TikTok origin")

    def _allowed(self, host: str) -> bool:
        if host in self._hosts:
            return True
        return any(host.endswith("." + allowed) for allowed in self._hosts)

    def signature_body(self, body: bytes, content_type: str) -> SignRequest:
        """``POST /signature``: SignTok's text/plain URL or carcabot's JSON."""
        if content_type == JSON:
            data = parse_json_object(body)
            url = self.check_url(data.get("url"))
            user_agent = user_agent_of(data, "userAgent") or user_agent_of(data, "user_agent")
            return SignRequest(url=url, user_agent=user_agent)
        if content_type in {TEXT, "", "application/octet-stream"}:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidUrl("the body is not UTF-8 text") from None
            return SignRequest(url=self.check_url(text))
        raise UnsupportedMediaType(
            f"content type {content_type!r} is not read here: send text/plain or application/json"
        )

    def sign_body(self, body: bytes, content_type: str) -> tuple[SignRequest, str | None]:
        """``POST /sign``: JSON ``{room_url}`` or ``{url, method?, body?, user_agent?, ...}``."""
        if content_type != JSON:
            raise UnsupportedMediaType(
                f"content type {content_type!r} is not read here: send application/json"
            )
        data = parse_json_object(body)
        unknown = sorted(set(data) - SIGN_KEYS)
        if unknown:
            raise BadRequest(
                f"unknown field(s) {', '.join(unknown)}: allowed are url, "
                "room_url, method, body, user_agent, ms_token, provider"
            )
        if ("url" in data) == ("room_url" in data):
            raise BadRequest("give exactly one of 'url' and 'room_url'")
        kind: RequestKind = "http"
        if "room_url" in data:
            url = self.check_url(data["room_url"])
        else:
            url, kind = self.check_sign_url(data.get("url"))
        method = data.get("method", "GET")
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise BadRequest(f"'method' must be one of {', '.join(sorted(METHODS))}")
        method = method.upper()
        request_body = data.get("body", "")
        if not isinstance(request_body, str):
            raise BadRequest("'body' must be a string (the exact bytes to send)")
        if request_body and method == "GET":
            raise BadRequest("a GET request has no body")
        if kind == "ws" and (method != "GET" or request_body):
            raise BadRequest("a socket URL is opened with GET and no body")
        ms_token = data.get("ms_token")
        if ms_token is not None and (
            not isinstance(ms_token, str)
            or len(ms_token) > 1024
            or not _MS_TOKEN.fullmatch(ms_token)
        ):
            raise BadRequest("'ms_token' must be a URL-safe string of at most 1024 characters")
        provider = optional_str(data, "provider", limit=64)
        request = SignRequest(
            url=url,
            method=method,
            body=request_body,
            user_agent=user_agent_of(data, "user_agent"),
            ms_token=ms_token,
            kind=kind,
        )
        return request, provider


def _port(parts: SplitResult) -> int | None:
    """The URL's explicit port (ValueError when it is not one), None without."""
    return parts.port if ":" in parts.netloc else None
