"""The remote provider: an upstream sign server of a kind users already run.

Three wire formats (``RemoteConfig.format``), each ``POST`` to the configured base URL:

* ``signtok``: ``/signature`` with the URL as a ``text/plain`` body; answers
  ``{"status":"ok","data":{"signed_url","X-Bogus","signature","x-tt-params","navigator"}}``
  and errors as HTTP 200 ``{"status":"error","data":"..."}``.
* ``carcabot`` (4.x): ``/signature`` with JSON ``{url, userAgent}``; answers the same
  envelope with ``x-bogus`` and ``x-gnarly``.
* ``euler``: ``/webcast/sign_url`` with JSON ``{url, userAgent, method, type, payload}``;
  answers ``{"code":200,"response":{"signedUrl","userAgent","tokens":{...}}}``.

The API key goes in ``X-Api-Key`` (for every format: self-hosted peers behind a proxy check
it too) and nowhere else. Nothing the upstream answers is trusted until the native codecs
agree: the signed URL must go to the requested endpoint, carry nothing after its signatures
but X-Gnarly, its X-Bogus must re-encode from the query exactly as it stands before the
last ``&X-Bogus=`` (SignTok's covers the ``_signature`` it appended), and an X-Gnarly must
hash that query, the body and the user agent the upstream says it signed as. An upstream that
signed with another msToken than the one asked for (``urls.requested_token``), or as another
user agent than the caller's, cannot serve the request: the provider declines it. An
upstream's x-tt-params must decrypt, but is not passed on: the service computes x-tt-params
itself, for every provider alike. Its ``navigator`` is read onto the persona's
(:func:`read_navigator`).

An upstream that signs like a 2026 build (``X-Dynosaur`` and ``X-Bogus=1``) is checked by
that build's rules (:func:`providers.selfcheck.verify_http`); its X-Dynosaur is passed
through, and must be the signed URL's when the answer names one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import structlog
from yarl import URL

from providers import xttparams
from providers.errors import (
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
    SelfCheckFailed,
    TokenDecodeError,
    UpstreamError,
)
from providers.selfcheck import verify_http
from providers.typing import Navigator, ProviderHealth, SignRequest, SignResult
from providers.urls import append_ms_token, join_url, last_param, parse_signed, requested_token

if TYPE_CHECKING:
    from providers.config import RemoteConfig
    from providers.typing import ProviderContext
    from providers.urls import SignedUrl

log = structlog.get_logger("providers.remote")

#: The largest answer read from an upstream; a sign response is a few KiB.
MAX_RESPONSE_BYTES = 256 * 1024
#: Redirects followed, and only 307/308 within the same host (the key goes with them).
MAX_REDIRECTS = 3
PATHS = {"signtok": "/signature", "carcabot": "/signature", "euler": "/webcast/sign_url"}
_MESSAGE_CHARS = 300
_PUBLIC_CHARS = 120
_QUERY = re.compile(r"\?[^\s\"'<>]*")
_MS_TOKEN = re.compile(r"msToken=[^&\s\"'<>]*")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]*", re.IGNORECASE)
_QUOTE_CHARS = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
#: The text keys of a SignTok / carcabot ``navigator`` and the Navigator field each fills.
_NAVIGATOR_TEXT = {"browser_language": "language", "browser_platform": "platform", "os": "os"}
_NAVIGATOR_CHARS = 256
_SCREEN_PIXELS = 100_000
_SCALE_MAX = 16


@dataclass(frozen=True, slots=True)
class Answer:
    """What an upstream claims, before it is checked."""

    signed_url: str
    x_bogus: str | None = None
    x_gnarly: str | None = None
    x_dynosaur: str | None = None
    ms_token: str | None = None
    user_agent: str | None = None
    navigator: dict[str, Any] | None = None
    #: Checked (an upstream whose x-tt-params does not decrypt is broken), not passed on.
    x_tt_params: str | None = None
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    """The tokens of an answer that passed the self-check."""

    x_bogus: str
    x_gnarly: str | None
    ms_token: str
    x_dynosaur: str | None = None
    #: The SDK build the tokens name (None: not said, e.g. a 2025 token without field 10).
    build: str | None = None


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what may be shown of a remote (no path, no userinfo)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _endpoint(url: str) -> tuple[str, str, str]:
    """Scheme, host (with port) and path: where a URL goes, whatever its query."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower(), parts.path


def _quote(text: str) -> str:
    """An upstream's text on one line (cut short later, once the API key is blanked out)."""
    return _CONTROL.sub(" ", text[:_QUOTE_CHARS]).strip()


def _bounded(message: str, limit: int = _MESSAGE_CHARS) -> str:
    return message if len(message) <= limit else message[:limit] + "..."


def scrub(text: str) -> str:
    """An upstream's words without what they may echo of a request: queries and msTokens.

    An upstream that quotes the URL it was sent would put a client's query (its msToken
    among it) into our log and answers.
    """
    return _MS_TOKEN.sub("msToken=...", _QUERY.sub("?...", text))


def public_line(text: str) -> str:
    """One short line for the public /health: no URL at all."""
    return _bounded(_URL.sub("<url>", text), _PUBLIC_CHARS)


def _message_of(payload: object) -> str | None:
    """The error text of a JSON answer: SignTok's ``data``, Euler's and ours ``message``."""
    if not isinstance(payload, dict):
        return None
    for candidate in (payload.get("message"), payload.get("data"), payload.get("error")):
        if isinstance(candidate, str):
            return candidate
        if isinstance(candidate, dict) and isinstance(candidate.get("message"), str):
            return str(candidate["message"])
    return None


def _optional_str(data: dict[str, Any], *keys: str) -> str | None:
    """The first of ``keys`` present with a non-null value; it must be a string."""
    for key in keys:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise UpstreamError(f"the answer's {key!r} is not a string")
        return value
    return None


def read_signtok(payload: object) -> Answer:
    """Read a SignTok / carcabot answer: ``{"status": "ok", "data": {...}}``."""
    if not isinstance(payload, dict):
        raise UpstreamError("the answer is not a JSON object")
    status = payload.get("status")
    if status == "error":
        raise UpstreamError(f"answered an error: {_quote(_message_of(payload) or '')}")
    if status != "ok":
        raise UpstreamError('the answer is not a {"status": "ok", "data": ...} envelope')
    data = payload.get("data")
    if not isinstance(data, dict):
        raise UpstreamError("the answer has no 'data' object")
    signed_url = _optional_str(data, "signed_url")
    if signed_url is None:
        raise UpstreamError("the answer has no 'signed_url'")
    navigator = data.get("navigator")
    if navigator is not None and not isinstance(navigator, dict):
        raise UpstreamError("the answer's 'navigator' is not an object")
    user_agent = None if navigator is None else _optional_str(navigator, "user_agent")
    return Answer(
        signed_url=signed_url,
        x_bogus=_optional_str(data, "X-Bogus", "x-bogus"),
        x_gnarly=_optional_str(data, "X-Gnarly", "x-gnarly"),
        x_dynosaur=_optional_str(data, "X-Dynosaur", "x-dynosaur"),
        ms_token=_optional_str(data, "msToken"),
        user_agent=user_agent,
        navigator=navigator,
        x_tt_params=_optional_str(data, "x-tt-params"),
        signature=_optional_str(data, "signature"),
    )


def read_navigator(data: dict[str, Any], persona: Navigator) -> Navigator:
    """An upstream's ``navigator`` (SignTok keys) mapped onto the persona's ``Navigator``.

    Each value the upstream gives and that makes sense replaces the persona's; anything
    else (missing, of the wrong type, absurd) keeps the persona's. The user agent stays
    ``persona``'s: it is the one the upstream signed as, and the browser name and
    version follow from it.
    """
    changes: dict[str, Any] = {}
    for key, name in _NAVIGATOR_TEXT.items():
        text = data.get(key)
        if isinstance(text, str) and 0 < len(text) <= _NAVIGATOR_CHARS and text.isprintable():
            changes[name] = text
    for name in ("screen_width", "screen_height"):
        pixels = data.get(name)
        if type(pixels) is int and 0 < pixels <= _SCREEN_PIXELS:
            changes[name] = pixels
    scale = data.get("deviceScaleFactor")
    # Not a bool (an int too); NaN fails every comparison, so it is left out as well.
    if isinstance(scale, int | float) and not isinstance(scale, bool) and 0 < scale <= _SCALE_MAX:
        changes["device_scale_factor"] = scale
    return dataclasses.replace(persona, **changes) if changes else persona


def read_euler(payload: object) -> Answer:
    """Read an Euler Stream answer: ``{"code": 200, "response": {...}}``."""
    if not isinstance(payload, dict):
        raise UpstreamError("the answer is not a JSON object")
    code = payload.get("code")
    if code != 200:
        raise UpstreamError(f"answered code {code}: {_quote(_message_of(payload) or '')}")
    response = payload.get("response")
    if not isinstance(response, dict):
        raise UpstreamError("the answer has no 'response' object")
    signed_url = _optional_str(response, "signedUrl")
    if signed_url is None:
        raise UpstreamError("the answer has no 'signedUrl'")
    tokens = response.get("tokens") or {}
    if not isinstance(tokens, dict):
        raise UpstreamError("the answer's 'tokens' is not an object")
    return Answer(
        signed_url=signed_url,
        x_bogus=_optional_str(tokens, "X-Bogus"),
        x_gnarly=_optional_str(tokens, "X-Gnarly"),
        x_dynosaur=_optional_str(tokens, "X-Dynosaur"),
        ms_token=_optional_str(tokens, "msToken"),
        user_agent=_optional_str(response, "userAgent"),
    )


def check_answer(sent_url: str, body: str, user_agent: str, answer: Answer) -> Checked:
    """Verify an answer with the native codecs; SelfCheckFailed says what does not hold."""
    if _endpoint(answer.signed_url) != _endpoint(sent_url):
        raise SelfCheckFailed("the signed URL does not go to the requested scheme, host and path")
    signed = parse_signed(answer.signed_url)
    if signed is None:
        raise SelfCheckFailed("the signed URL carries no X-Bogus")
    if signed.after:
        raise SelfCheckFailed("the signed URL has parameters after X-Bogus that it does not sign")
    signed_query, x_bogus, url_gnarly = signed.signed_query, signed.x_bogus, signed.x_gnarly
    _same_tokens(answer, signed)
    x_gnarly = url_gnarly or answer.x_gnarly
    if url_gnarly is None and x_gnarly is not None:
        signed = signed._replace(x_gnarly=x_gnarly)
    verified = verify_http(signed, body, user_agent)
    if answer.x_tt_params is not None:
        try:
            xttparams.decrypt(answer.x_tt_params)
        except TokenDecodeError as exc:
            raise SelfCheckFailed(f"x-tt-params does not decrypt: {exc}") from None
    ms_token = last_param(signed_query, "msToken")
    if ms_token is None:
        ms_token = answer.ms_token or ""
    return Checked(x_bogus, x_gnarly, ms_token, signed.x_dynosaur, verified.build)


def _same_tokens(answer: Answer, signed: SignedUrl) -> None:
    """The tokens an answer names must be its signed URL's (where the URL has them)."""
    if answer.x_bogus is not None and answer.x_bogus != signed.x_bogus:
        raise SelfCheckFailed("the answer's X-Bogus is not the signed URL's")
    if None not in (answer.x_gnarly, signed.x_gnarly) and answer.x_gnarly != signed.x_gnarly:
        raise SelfCheckFailed("the answer's X-Gnarly is not the signed URL's")
    if answer.x_dynosaur is not None and answer.x_dynosaur != signed.x_dynosaur:
        raise SelfCheckFailed("the answer's X-Dynosaur is not the signed URL's")


class RemoteProvider:
    """Signs through one configured upstream sign server; see the module docstring."""

    awaits = True
    #: Every answer passes :func:`check_answer` before it is returned.
    checked = True

    def __init__(self, name: str, config: RemoteConfig, context: ProviderContext) -> None:
        self.name = name
        self.config = config
        self._personas = context.personas
        self._events = context.events
        self._client_id = context.client_id
        self._endpoint = URL(config.url + PATHS[config.format])
        self._origin = origin(config.url)
        self._session: aiohttp.ClientSession | None = None
        self._last_error: str | None = None
        self.requests = 0
        self.failures = 0

    @classmethod
    def from_context(cls, context: ProviderContext, name: str) -> RemoteProvider:
        """The remote ``name`` of the context's ``remotes``."""
        return cls(name, context.remotes[name], context)

    # -- lifecycle

    async def start(self) -> None:
        """Open the provider's HTTP session (one per provider, kept until ``aclose``)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
                headers={"User-Agent": self._client_id},
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        log.info("remote_ready", provider=self.name, format=self.config.format, url=self._origin)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def health(self) -> ProviderHealth:
        """Ready while the session is open; counters of requests and failures."""
        return ProviderHealth(
            name=self.name,
            state="ready" if self._session is not None else "stopped",
            last_error=None if self._last_error is None else public_line(self._last_error),
            error_detail=self._last_error,
            details={
                "format": self.config.format,
                "url": self._origin,
                "requests": self.requests,
                "failures": self.failures,
            },
        )

    # -- signing

    async def sign(self, request: SignRequest) -> SignResult:
        """Ask the upstream, check its answer with the native codecs, return it."""
        self.requests += 1
        try:
            return await self._sign(request)
        except ProviderDeclined:
            raise
        except ProviderError as exc:
            self.failures += 1
            # Blank the key out before cutting, so no part of it survives the cut.
            reason = scrub(self._redact(exc.message))
            message = _bounded(f"remote {self.name} ({self._origin}): {reason}")
            self._last_error = message
            log.warning("remote_failed", provider=self.name, code=exc.code, reason=message)
            raise type(exc)(message) from None

    async def _sign(self, request: SignRequest) -> SignResult:
        fmt = self.config.format
        if request.body and fmt != "euler":
            # SignTok and carcabot hash an empty body whatever is sent.
            raise ProviderDeclined(f"remote {self.name}: {fmt} does not sign request bodies")
        if request.kind != "http":
            raise ProviderDeclined(f"remote {self.name}: upstreams sign no socket URLs")
        query = request.query
        token = requested_token(request.ms_token, query)
        if token is not None and last_param(query, "msToken") != token:
            # The caller's token must be the one signed; the upstream may append its own.
            query = append_ms_token(query, token)
        url = join_url(request.base, query)
        persona = self._personas.current
        user_agent = request.user_agent or persona.user_agent
        payload = await self._post(self._body(url, request, user_agent))
        answer = read_euler(payload) if fmt == "euler" else read_signtok(payload)
        signed_as = answer.user_agent or user_agent
        checked = check_answer(url, request.body, signed_as, answer)
        if token is not None and checked.ms_token != token:
            raise ProviderDeclined(f"remote {self.name} signed with its own msToken")
        if request.user_agent is not None and signed_as != request.user_agent:
            raise ProviderDeclined(f"remote {self.name} signed as another user agent")
        navigator = persona.navigator(signed_as)
        if answer.navigator is not None:
            navigator = read_navigator(answer.navigator, navigator)
        return SignResult(
            signed_url=answer.signed_url,
            x_bogus=checked.x_bogus,
            x_gnarly=checked.x_gnarly,
            ms_token=checked.ms_token,
            user_agent=signed_as,
            navigator=navigator,
            provider=self.name,
            signature=answer.signature,
            x_dynosaur=checked.x_dynosaur,
            sdk_version=checked.build,
        )

    def _body(self, url: str, request: SignRequest, user_agent: str) -> tuple[bytes, str]:
        """The request body and its content type, in the configured format."""
        fmt = self.config.format
        if fmt == "signtok":
            return url.encode(), "text/plain; charset=utf-8"
        fields: dict[str, str] = {"url": url, "userAgent": user_agent}
        if fmt == "euler":
            fields |= {"method": request.method, "type": "fetch", "payload": request.body}
        return orjson.dumps(fields), "application/json"

    def _headers(self, content_type: str) -> dict[str, str]:
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if self.config.api_key is not None:
            headers["X-Api-Key"] = self.config.api_key.get_secret_value()
        return headers

    def _redact(self, text: str) -> str:
        """The text with the API key blanked out (an upstream may echo a wrong key)."""
        key = self.config.api_key.get_secret_value() if self.config.api_key else ""
        return text.replace(key, "***") if key else text

    async def _post(self, content: tuple[bytes, str]) -> object:
        """POST to the upstream; the decoded JSON of a 2xx answer, else an error."""
        session = self._session
        if session is None:
            raise ProviderUnavailable("not started")
        timeout = self.config.timeout_s
        try:
            async with asyncio.timeout(timeout):
                status, data = await self._exchange(session, content)
        except TimeoutError:
            raise ProviderUnavailable(f"no answer within {timeout:g} s (timeout_s)") from None
        except aiohttp.ClientConnectionError as exc:
            raise ProviderUnavailable(f"cannot reach the upstream: {exc}") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"the exchange failed: {type(exc).__name__}: {exc}") from None
        try:
            payload: object = orjson.loads(data)
        except orjson.JSONDecodeError:
            text = _quote(data.decode(errors="replace")) or "(empty)"
            if 200 <= status < 300:
                raise UpstreamError(
                    f"answered HTTP {status} with a body that is not JSON: {text}"
                ) from None
            raise UpstreamError(f"answered HTTP {status}: {text}") from None
        if not 200 <= status < 300:
            message = _message_of(payload) or data.decode(errors="replace")
            raise UpstreamError(f"answered HTTP {status}: {_quote(message)}")
        return payload

    async def _exchange(
        self, session: aiohttp.ClientSession, content: tuple[bytes, str]
    ) -> tuple[int, bytes]:
        """Send, following only same-host 307/308 redirects; the status and the body."""
        body, content_type = content
        url = self._endpoint
        for _ in range(MAX_REDIRECTS + 1):
            async with session.post(
                url, data=body, headers=self._headers(content_type), allow_redirects=False
            ) as response:
                if response.status in {307, 308}:
                    url = _redirect_target(url, response.headers.get("Location", ""))
                    continue
                if 300 <= response.status < 400:
                    raise UpstreamError(f"answered HTTP {response.status} (redirect not followed)")
                return response.status, await _read_bounded(response)
        raise UpstreamError(f"redirected more than {MAX_REDIRECTS} times")


def _redirect_target(current: URL, location: str) -> URL:
    """Where a 307/308 points, when it stays on the same host (never downgrading to http)."""
    target = current.join(URL(location))
    same_host = (target.host or "").lower() == (current.host or "").lower()
    scheme_ok = target.scheme in {current.scheme, "https"}
    if not location or not same_host or not scheme_ok:
        raise UpstreamError(
            f"redirected to another host ({target.host or repr(location)}); not followed"
        )
    return target


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    """The response body, refused past :data:`MAX_RESPONSE_BYTES`."""
    too_large = f"answered more than {MAX_RESPONSE_BYTES // 1024} KiB; refused"
    if (response.content_length or 0) > MAX_RESPONSE_BYTES:
        raise UpstreamError(too_large)
    data = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > MAX_RESPONSE_BYTES:
            raise UpstreamError(too_large)
    return bytes(data)
