"""Base64 as TikTok's codecs write it: standard, or with the SDK's own alphabet.

x-tt-params and the user-agent hash inside X-Bogus are standard Base64; X-Bogus and
X-Gnarly are standard Base64 with the 64 digits swapped for an alphabet of the SDK's.
Decoding is strict everywhere (``binascii`` strict mode): a character outside the
alphabet, bad or misplaced padding, or data after the padding is an error.
"""

from __future__ import annotations

import binascii

__all__ = ["STANDARD", "Alphabet", "decode", "encode"]

STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_STANDARD_BYTES = STANDARD.encode("ascii")


def encode(data: bytes) -> str:
    """Standard Base64 of ``data``, ``=``-padded, without a newline."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def decode(text: str) -> bytes:
    """The bytes of standard Base64 ``text``.

    Raises ValueError (``UnicodeEncodeError`` for a non-ASCII character,
    ``binascii.Error`` for anything else that is not strict Base64).
    """
    return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)


class Alphabet:
    """Base64 written in the 64 digits of ``digits`` instead of the standard ones."""

    __slots__ = ("_from", "_to", "digits")

    def __init__(self, digits: str, *, padded: bool) -> None:
        """``padded``: whether ``=`` padding may appear (X-Gnarly) or not (X-Bogus)."""
        raw = digits.encode("ascii")
        if len(raw) != len(_STANDARD_BYTES) or len(set(raw)) != len(raw):
            raise ValueError("a Base64 alphabet is 64 distinct ASCII characters")
        self.digits = digits
        self._to = bytes.maketrans(_STANDARD_BYTES, raw)
        # Characters outside the alphabet become "!", which the strict decoder rejects; a
        # plain inverse table would let a standard digit such as "+" through as valid.
        table = bytearray(b"!" * 256)
        for standard, custom in zip(_STANDARD_BYTES, raw, strict=True):
            table[custom] = standard
        if padded:
            table[ord("=")] = ord("=")
        self._from = bytes(table)

    def encode(self, data: bytes) -> str:
        """``data`` in this alphabet (padded with ``=`` when its length asks for it)."""
        return binascii.b2a_base64(data, newline=False).translate(self._to).decode("ascii")

    def decode(self, text: str) -> bytes:
        """The bytes of ``text`` written in this alphabet.

        Raises ValueError (``UnicodeEncodeError`` for a non-ASCII character,
        ``binascii.Error`` for a character outside the alphabet or bad padding).
        """
        return binascii.a2b_base64(text.encode("ascii").translate(self._from), strict_mode=True)
