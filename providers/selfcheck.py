"""Check signatures with the native codecs: they must sign exactly what was asked.

Used by the browser and remote providers on every result, and by the chain on the
results of providers that do not check their own (``Provider.checked``).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from providers import xbogus, xgnarly
from providers.errors import SelfCheckFailed, TokenDecodeError

if TYPE_CHECKING:
    from providers.typing import SignResult


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the protocol's hash


def verify_signatures(
    query: str, body: str, user_agent: str, x_bogus: str, x_gnarly: str | None
) -> xgnarly.XGnarlyToken | None:
    """Raise SelfCheckFailed unless both signatures cover (query, body, user agent).

    The X-Bogus must re-encode from them with its own time, canvas and flags; the
    X-Gnarly, when there is one, must decode and carry their MD5s (fields 3, 4, 5).
    Returns the decoded X-Gnarly (its version fields are worth reading).
    """
    try:
        xbogus.decode(x_bogus)
    except TokenDecodeError as exc:
        raise SelfCheckFailed(f"X-Bogus does not decode: {exc}") from None
    if not xbogus.verify(x_bogus, query, body, user_agent):
        raise SelfCheckFailed("X-Bogus does not re-encode from the signed query, body and UA")
    if x_gnarly is None:
        return None
    try:
        record = xgnarly.decode(x_gnarly)
    except TokenDecodeError as exc:
        raise SelfCheckFailed(f"X-Gnarly does not decode: {exc}") from None
    if (record.get(3), record.get(4), record.get(5)) != (
        _md5(query),
        _md5(body),
        _md5(user_agent),
    ):
        raise SelfCheckFailed("X-Gnarly does not hash the signed query, body and UA")
    return record


def problem(result: SignResult, body: str) -> str | None:
    """Why ``result`` cannot be trusted, or None when its signatures check out."""
    head, found, _ = result.signed_url.partition("&X-Bogus=")
    if not found:
        return "the signed URL carries no X-Bogus"
    try:
        verify_signatures(
            head.partition("?")[2], body, result.user_agent, result.x_bogus, result.x_gnarly
        )
    except SelfCheckFailed as exc:
        return exc.message
    return None
