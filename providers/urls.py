"""URL handling shared by the providers: the query exactly as a browser sends it."""

from __future__ import annotations

import re
from urllib.parse import quote

# What a browser percent-encodes in the query of a special (http/https) URL: C0 controls,
# space, ", #, <, >, ', DEL and every non-ASCII character (WHATWG URL, query state).
_NEEDS_ENCODING = re.compile(r"[\x00-\x20\"#<>'\x7f-\U0010ffff]")
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\"#<>'")


def split_url(url: str) -> tuple[str, str]:
    """Split into (everything before ``?``, the query); the fragment is dropped."""
    url = url.split("#", 1)[0]
    base, _, query = url.partition("?")
    return base, query


def browser_query(query: str) -> str:
    """Percent-encode the query the way Chromium does before the SDK hashes it."""
    # Fast path (most queries): printable ASCII without the few characters to escape.
    if (
        query.isascii()
        and query.isprintable()
        and " " not in query
        and '"' not in query
        and "'" not in query
        and "<" not in query
        and ">" not in query
        and "#" not in query
    ):
        return query
    if _NEEDS_ENCODING.search(query) is None:
        return query
    return quote(query, safe=_SAFE)


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
