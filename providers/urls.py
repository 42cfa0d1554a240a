"""URL handling shared by the providers: the query as a browser sends it, the signed URL.

A :class:`~providers.typing.SignRequest` splits its URL with :func:`split_url` and
:func:`browser_query` once (2026 builds sign :func:`sdk_query` of the raw query); every
signed URL that comes back (from the SDK, an upstream, any provider the chain checks) is
read with the one parser, :func:`parse_signed`, and x-tt-params takes its query with
:func:`through_x_bogus`, by the same rule.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import quote, unquote

# What a browser percent-encodes in the query of a special (http/https) URL: C0 controls,
# space, ", #, <, >, ', DEL and every non-ASCII character (WHATWG URL, query state).
#: The rule (WHATWG URL, query state); browser_query implements it with one translate.
_NEEDS_ENCODING = re.compile(r"[\x00-\x20\"#<>'\x7f-\U0010ffff]")
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\"#<>'")
# Every byte to itself but the ASCII a browser escapes, which gets its high bit set.
_MARK_ESCAPED = bytes(c if c > 0x7F or chr(c) in _SAFE else c | 0x80 for c in range(256))


def split_url(url: str) -> tuple[str, str]:
    """Split into (everything before ``?``, the query); the fragment is dropped."""
    base, _, query = url.partition("#")[0].partition("?")
    return base, query


def join_url(base: str, query: str) -> str:
    """The URL of ``base`` and ``query`` (no ``?`` when the query is empty)."""
    return f"{base}?{query}" if query else base


def browser_query(query: str) -> str:
    """Percent-encode the query the way Chromium does before the SDK hashes it."""
    # Fast path (most queries): ASCII without a character to escape, i.e. bytes that one
    # translate (a C loop) leaves as they are; a third of the cost of isprintable() and
    # six scans, which every request paid when it was built.
    if query.isascii():
        raw = query.encode()
        if raw.translate(_MARK_ESCAPED) == raw:
            return query
    # Non-ASCII, or an ASCII character a browser escapes: both are _NEEDS_ENCODING's.
    return quote(query, safe=_SAFE)


# What build 1.0.0.417 escapes in a URL without any "%": encodeURI's set plus "'".
_SDK_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\"'<>[\\]^`{|}%")
_SDK_SAFE_BYTES = _SDK_SAFE.encode()
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def sdk_query(raw_query: str) -> str:
    r"""The query a 2026 build signs, from the query the page handed it (``raw_query``).

    Without any ``%`` the SDK percent-encodes space, ``" ' < > [ \ ] ^ ` { | }``, the
    other ASCII controls and every non-ASCII character (as UTF-8) first. With a ``%``
    escape already there it signs the string as it is, only ``'`` becoming ``%27``
    (Chromium encodes the rest on the wire afterwards). A ``%`` that does not start an
    escape of two hex digits makes the SDK throw: ValueError here, as for a lone
    surrogate.
    """
    if "%" in raw_query:
        if _MALFORMED_ESCAPE.search(raw_query):
            raise ValueError("the query has a '%' that does not start a percent escape")
        return raw_query.replace("'", "%27")
    if raw_query.isascii() and not raw_query.encode().translate(None, _SDK_SAFE_BYTES):
        return raw_query
    return quote(raw_query, safe=_SDK_SAFE)


def last_param(query: str, name: str) -> str | None:
    """The raw value of the last ``name=`` parameter of a query, or None."""
    key = name + "="
    at = query.rfind(key)
    while at != -1:
        if at == 0 or query[at - 1] == "&":
            start = at + len(key)
            end = query.find("&", start)
            return query[start:] if end == -1 else query[start:end]
        at = query.rfind(key, 0, at)
    return None


def requested_token(ms_token: str | None, query: str) -> str | None:
    """The msToken a request asks for: the explicit one, else the URL's last, else None."""
    return ms_token if ms_token is not None else last_param(query, "msToken")


def append_ms_token(query: str, token: str) -> str:
    """Append ``msToken=`` as TikTok's SDK does: always, even when one is present."""
    return f"{query}&msToken={token}" if query else f"msToken={token}"


# A tuple, not a frozen dataclass: one is made per browser or remote answer, and a tuple
# builds twice as fast.
class SignedUrl(NamedTuple):
    """A signed URL read by :func:`parse_signed`.

    ``signed_query`` is what the signatures cover: the query before the SDK's X-Bogus,
    as it stands in the URL (X-Gnarly field 3 hashes it). ``after`` is whatever follows
    X-Bogus and X-Gnarly (empty for a URL as the SDK signs it). ``x_dynosaur`` is the
    last X-Dynosaur of the signed query (2026 builds), and ``base_query`` what precedes
    it (X-Dynosaur record 0x2e hashes it); without one, ``base_query`` is
    ``signed_query``.
    """

    base: str
    signed_query: str
    x_bogus: str
    x_gnarly: str | None
    after: str
    x_dynosaur: str | None = None
    base_query: str | None = None


_BOGUS = "&X-Bogus="
_GNARLY = "X-Gnarly="


def parse_signed(url: str) -> SignedUrl | None:
    """Split a signed URL at its **last** ``X-Bogus`` parameter; None when it has none.

    The SDK appends its tokens at the end, so the last X-Bogus is its own: an X-Bogus the
    query already carried stays in the signed query, which is what the SDK hashed. An
    X-Gnarly is the parameter right after it. Token values are percent-decoded (an
    upstream may send ``/`` and ``=`` encoded). The fragment is dropped, as by
    :func:`split_url`.
    """
    span = _x_bogus_span(url)
    if span is None:
        return None
    start, at, token, end = span
    stop = url.find("&", token, end)
    x_bogus = _decoded(url[token : end if stop == -1 else stop])
    x_gnarly = None
    if stop != -1 and url.startswith(_GNARLY, stop + 1, end):
        token = stop + 1 + len(_GNARLY)
        stop = url.find("&", token, end)
        x_gnarly = _decoded(url[token : end if stop == -1 else stop])
    after = "" if stop == -1 else url[stop + 1 : end]
    signed_query = url[start:at]
    x_dynosaur = None
    base_query = signed_query
    found = _param_start(signed_query, _DYNOSAUR)
    if found != -1:
        value = found + len(_DYNOSAUR)
        stop = signed_query.find("&", value)
        x_dynosaur = _decoded(signed_query[value : None if stop == -1 else stop])
        base_query = signed_query[: max(found - 1, 0)]
    return SignedUrl(
        url[: start - 1], signed_query, x_bogus, x_gnarly, after, x_dynosaur, base_query
    )


_DYNOSAUR = "X-Dynosaur="


def _param_start(query: str, key: str) -> int:
    """Where the last ``key`` parameter (``name=``) of ``query`` starts, or -1."""
    at = query.rfind(key)
    while at > 0 and query[at - 1] != "&":
        at = query.rfind(key, 0, at)
    return at


class SocketUrl(NamedTuple):
    """A signed socket URL read by :func:`parse_socket`: the query the token signs."""

    base: str
    query: str
    x_gnarly: str


def parse_socket(url: str) -> SocketUrl | None:
    """Split a signed ``wss://`` URL at its last ``X-Gnarly``; None when it has none.

    The socket signer signs the raw query (spaces as spaces): ``%20`` on the wire is
    read back as a space, the token is percent-decoded.
    """
    base, query = split_url(url)
    at = _param_start(query, _GNARLY)
    if at <= 0:
        return None
    value = query[at + len(_GNARLY) :]
    if "&" in value:
        return None
    return SocketUrl(base, query[: at - 1].replace("%20", " "), _decoded(value))


def through_x_bogus(url: str) -> str | None:
    """The query of a signed URL up to the end of its X-Bogus; None without X-Bogus.

    What x-tt-params encrypts: the signed query and ``X-Bogus=<token>``, the X-Bogus
    :func:`parse_signed` reads, as it stands in the URL.
    """
    span = _x_bogus_span(url)
    if span is None:
        return None
    start, _, token, end = span
    stop = url.find("&", token, end)
    return url[start : end if stop == -1 else stop]


def _x_bogus_span(url: str) -> tuple[int, int, int, int] | None:
    """Where the last X-Bogus is: the one rule of both readers above.

    Returns where the query starts, where the signed query ends, where the X-Bogus value
    starts and where the URL ends before its fragment. The URL is searched by index,
    never copied: every answer of the service is read here.
    """
    end = url.find("#")
    if end == -1:
        end = len(url)
    start = url.find("?", 0, end) + 1
    if not start:
        return None
    at = url.rfind(_BOGUS, start, end)
    if at != -1:
        return start, at, at + len(_BOGUS), end
    if url.startswith(_BOGUS[1:], start, end):
        return start, start, start + len(_BOGUS) - 1, end
    return None


def _decoded(token: str) -> str:
    return unquote(token) if "%" in token else token
