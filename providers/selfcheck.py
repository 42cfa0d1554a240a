"""Check signatures with the native codecs: they must sign exactly what was asked.

Used by the browser and remote providers on every result, and by the chain on the
results of providers that do not check their own (``Provider.checked``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers import xbogus, xgnarly
from providers._hash import md5_hex
from providers.errors import SelfCheckFailed, TokenDecodeError
from providers.urls import parse_signed

if TYPE_CHECKING:
    from providers.typing import SignResult


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
        md5_hex(query),
        md5_hex(body),
        md5_hex(user_agent),
    ):
        raise SelfCheckFailed("X-Gnarly does not hash the signed query, body and UA")
    return record


def problem(result: SignResult, body: str) -> str | None:
    """Why ``result`` cannot be trusted, or None when its signatures check out.

    The signatures must cover the signed URL's query as far as its last X-Bogus
    (:func:`providers.urls.parse_signed`).
    """
    signed = parse_signed(result.signed_url)
    if signed is None:
        return "the signed URL carries no X-Bogus"
    try:
        verify_signatures(
            signed.signed_query, body, result.user_agent, result.x_bogus, result.x_gnarly
        )
    except SelfCheckFailed as exc:
        return exc.message
    return None
