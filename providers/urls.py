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
    if _NEEDS_ENCODING.search(query) is None:
        return query
    return quote(query, safe=_SAFE)


def last_param(query: str, name: str) -> str | None:
    """The raw value of the last ``name=`` parameter of a query, or None."""
    prefix = name + "="
    found: str | None = None
    for part in query.split("&"):
        if part.startswith(prefix):
            found = part[len(prefix) :]
    return found


def append_ms_token(query: str, token: str) -> str:
    """Append ``msToken=`` as TikTok's SDK does: always, even when one is present."""
    return f"{query}&msToken={token}" if query else f"msToken={token}"
