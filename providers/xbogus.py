"""X-Bogus: the 28-character, fully decodable query signature of TikTok's web SDK.

Layout (``shared/reference/web-signing.md`` section 2.1): a 19-byte block

====== === ==========================================================
offset len value
====== === ==========================================================
0      1   ``0x40``
1      3   the flag bytes ``f1 f2 f3`` (also the RC4 key of the UA hash)
4      2   bytes 14..15 of ``MD5(MD5(query))``
6      2   bytes 14..15 of ``MD5(MD5(body))``
8      2   bytes 14..15 of ``MD5(Base64(RC4(flags, user_agent)))``
10     4   Unix seconds, big-endian
14     4   canvas fingerprint, big-endian
18     1   XOR of bytes 0..17
====== === ==========================================================

is RC4-encrypted under the one-byte key ``0xFF``, prefixed with ``02 FF`` and written in
a custom Base64 alphabet. Nothing is random, so :func:`verify` can recompute a token.

The block is handled as one 152-bit integer: the RC4 keystream for key ``0xFF`` is a
constant, so encryption is a single XOR, and the UA part (which depends only on the UA
and the flags) is cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from providers import _b64
from providers._hash import md5
from providers.errors import TokenDecodeError

__all__ = ["ALPHABET", "XBogusFields", "decode", "encode", "verify"]

ALPHABET = "Dkdpgh4ZKsQB80/Mfvw36XI1R25-WUAlEi7NLboqYTOPuzmFjJnryx9HVGcaStCe"
# 21 bytes make 28 digits exactly: a token never has padding.
_BASE64 = _b64.Alphabet(ALPHABET, padded=False)

TOKEN_LENGTH = 28
_RAW_LENGTH = 21  # 02 FF + 19 encrypted bytes
_BLOCK_LENGTH = 19
_MARKER = 0x40
_U32 = 0xFFFFFFFF


def _rc4(key: bytes, data: bytes) -> bytes:
    """Encrypt ``data`` with RC4 under ``key`` (plain textbook RC4)."""
    s = list(range(256))
    j = 0
    key_len = len(key)
    for i in range(256):
        j = (j + s[i] + key[i % key_len]) & 0xFF
        s[i], s[j] = s[j], s[i]
    out = bytearray(data)
    i = j = 0
    for n in range(len(out)):
        i = (i + 1) & 0xFF
        si = s[i]
        j = (j + si) & 0xFF
        sj = s[i] = s[j]
        s[j] = si
        out[n] ^= s[(si + sj) & 0xFF]
    return bytes(out)


# RC4 under the key 0xFF is the same 19 bytes for every token: XOR with this integer.
_KEYSTREAM = int.from_bytes(_rc4(b"\xff", bytes(_BLOCK_LENGTH)), "big")
_PREFIX = 0x02FF << (_BLOCK_LENGTH * 8)
_EMPTY_BODY_TAIL = 0x453F  # bytes 14..15 of MD5(MD5(b"")), the tail of every GET


@dataclass(frozen=True, slots=True)
class XBogusFields:
    """What an X-Bogus carries; the three tails are 2-byte hash fragments."""

    timestamp: int
    canvas: int
    flags: tuple[int, int, int]
    query_tail: bytes
    body_tail: bytes
    ua_tail: bytes


def _double_md5_tail(text: str) -> int:
    """Bytes 14..15 of ``MD5(MD5(text))`` (outer hash over the raw digest) as an int."""
    digest = md5(md5(text.encode()))
    return (digest[14] << 8) | digest[15]


@lru_cache(maxsize=256)
def _ua_part(user_agent: str, flags: tuple[int, int, int]) -> tuple[int, int, int]:
    """Return ``(bytes 0..3 as int, UA tail, XOR of bytes 0..3)`` for one UA and flag set."""
    f1, f2, f3 = flags
    if not (0 <= f1 <= 0xFF and 0 <= f2 <= 0xFF and 0 <= f3 <= 0xFF):
        raise ValueError(f"flags must be three bytes, got {flags!r}")
    encrypted = _rc4(bytes(flags), user_agent.encode())
    digest = md5(_b64.encode(encrypted).encode("ascii"))
    head = (_MARKER << 24) | (f1 << 16) | (f2 << 8) | f3
    return head, (digest[14] << 8) | digest[15], _MARKER ^ f1 ^ f2 ^ f3


def encode(
    query: str,
    body: str,
    user_agent: str,
    timestamp: int,
    canvas: int,
    flags: tuple[int, int, int],
) -> str:
    """Return the 28-character X-Bogus of one request.

    ``query`` must be exactly the string that is sent (``msToken`` appended, non-ASCII
    percent-encoded); query, body and UA are hashed as UTF-8. ``timestamp`` is in
    seconds; ``canvas`` and ``timestamp`` must fit in 32 bits, ``flags`` are three bytes.
    """
    if not (0 <= timestamp <= _U32 and 0 <= canvas <= _U32):
        raise ValueError("timestamp and canvas must be unsigned 32-bit integers")
    head, ua_tail, head_xor = _ua_part(user_agent, flags)
    query_tail = _double_md5_tail(query)
    body_tail = _double_md5_tail(body) if body else _EMPTY_BODY_TAIL
    # Fold the 16-bit halves first, then the two bytes of what is left.
    folded = (
        query_tail
        ^ body_tail
        ^ ua_tail
        ^ (timestamp >> 16)
        ^ (timestamp & 0xFFFF)
        ^ (canvas >> 16)
        ^ (canvas & 0xFFFF)
    )
    block = (
        (head << 120)
        | (query_tail << 104)
        | (body_tail << 88)
        | (ua_tail << 72)
        | (timestamp << 40)
        | (canvas << 8)
        | (head_xor ^ (folded >> 8) ^ (folded & 0xFF))
    )
    raw = (_PREFIX | (block ^ _KEYSTREAM)).to_bytes(_RAW_LENGTH, "big")
    return _BASE64.encode(raw)


def decode(token: str) -> XBogusFields:
    """Read an X-Bogus back into its fields.

    Raises :class:`~providers.errors.TokenDecodeError` when the token has the wrong length,
    a character outside the alphabet, the wrong leading bytes or a bad checksum.
    """
    if len(token) != TOKEN_LENGTH:
        raise TokenDecodeError(f"X-Bogus must be {TOKEN_LENGTH} characters, got {len(token)}")
    try:
        raw = _BASE64.decode(token)
    except ValueError as exc:
        raise TokenDecodeError("X-Bogus has a character outside its alphabet") from exc
    if raw[0] != 0x02 or raw[1] != 0xFF:
        raise TokenDecodeError("X-Bogus does not start with the bytes 02 FF")
    block = (int.from_bytes(raw[2:], "big") ^ _KEYSTREAM).to_bytes(_BLOCK_LENGTH, "big")
    if block[0] != _MARKER:
        raise TokenDecodeError("X-Bogus block does not start with 0x40")
    checksum = 0
    for byte in block[:18]:
        checksum ^= byte
    if checksum != block[18]:
        raise TokenDecodeError("X-Bogus checksum does not match")
    return XBogusFields(
        timestamp=int.from_bytes(block[10:14], "big"),
        canvas=int.from_bytes(block[14:18], "big"),
        flags=(block[1], block[2], block[3]),
        query_tail=block[4:6],
        body_tail=block[6:8],
        ua_tail=block[8:10],
    )


def verify(token: str, query: str, body: str, user_agent: str) -> bool:
    """Tell whether ``token`` is exactly the X-Bogus of these inputs.

    The time, canvas and flags are taken from the token itself, so this checks the three
    hashes and the framing; an undecodable token is simply not valid.
    """
    try:
        fields = decode(token)
    except TokenDecodeError:
        return False
    expected = encode(query, body, user_agent, fields.timestamp, fields.canvas, fields.flags)
    return expected == token
