"""MD5, the hash TikTok's signatures carry (an integrity fingerprint, not security)."""

from __future__ import annotations

import hashlib

__all__ = ["md5", "md5_hex"]


def md5(data: bytes) -> bytes:
    """The raw 16-byte MD5 digest of ``data`` (X-Bogus keeps two bytes of it)."""
    return hashlib.md5(data, usedforsecurity=False).digest()


def md5_hex(text: str) -> str:
    """The hex MD5 of ``text`` as UTF-8 (X-Gnarly fields 3, 4 and 5, and their check)."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
