"""Check a signed URL with the native codecs: it must sign exactly what was asked."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from providers import xbogus, xgnarly
from signer.errors import TokenDecodeError

if TYPE_CHECKING:
    from providers.typing import SignResult


def problem(result: SignResult, body: str) -> str | None:
    """Why ``result`` cannot be trusted, or None when its signatures check out.

    The X-Bogus must re-encode from the signed query (everything before ``&X-Bogus=``),
    the body and the result's user agent; an X-Gnarly, when present, must decode and
    carry the MD5s of exactly those.
    """
    head, found, _ = result.signed_url.partition("&X-Bogus=")
    if not found:
        return "the signed URL carries no X-Bogus"
    query = head.partition("?")[2]
    if not xbogus.verify(result.x_bogus, query, body, result.user_agent):
        return "X-Bogus does not re-encode from the signed query, body and user agent"
    if result.x_gnarly is None:
        return None
    try:
        record = xgnarly.decode(result.x_gnarly)
    except TokenDecodeError as exc:
        return f"X-Gnarly does not decode: {exc}"
    expected = tuple(
        hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the protocol's hash
        for text in (query, body, result.user_agent)
    )
    if (record.get(3), record.get(4), record.get(5)) != expected:
        return "X-Gnarly does not hash the signed query, body and user agent"
    return None
