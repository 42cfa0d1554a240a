"""X-Dynosaur: the second token TikTok's 2026 web SDK (1.0.0.417) appends, before msToken.

Same envelope as X-Gnarly (:func:`providers.xgnarly.encipher`: magic ``0x4B``, a random
48-byte key spliced in, the same cipher and alphabet). The plaintext is a run of records
``[tag][2-byte big-endian length][value]``, tags ``0x20``-``0x38`` ascending, no count
byte (``shared/reference/sdk-2026.md``, the ``x_dynosaur_records`` section of
``shared/vectors/sdk-1.0.0.417-http.json``):

* ``0x2b`` body, ``0x2e`` the business query (before ``X-Dynosaur`` and ``msToken``),
  ``0x30`` User-Agent and ``0x38`` an SDK-internal value are 4-byte :func:`fnv` hashes;
* every other record is a decimal or text string, each byte scrambled by its position
  (encoder B for ``0x20``-``0x22``, encoder A for the rest), padded to 4 bytes, followed
  by the 2-byte string length;
* ``0x20`` is a checksum: the XOR of byte 1 of every record value, ``0x20`` itself taken
  as the A-encoded ``"0"``, written in decimal.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from providers import xgnarly
from providers.errors import TokenDecodeError
from providers.gnarly_cipher import KeystreamPool, rounds_for

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "CHECKSUM_TAG",
    "CHUNK_STATES_MAX",
    "HASH_TAGS",
    "TAGS",
    "Record",
    "SessionRecords",
    "XDynosaurToken",
    "build_records",
    "cached_chunks",
    "checksum",
    "decode",
    "default_pool",
    "encode_records",
    "encode_value",
    "fnv",
    "fnv_bytes",
]

#: The tags of build 1.0.0.417, in wire order.
TAGS = tuple(range(0x20, 0x39))
#: Tags whose value is a 4-byte :func:`fnv` hash (an int); the others hold strings.
HASH_TAGS = frozenset({0x2B, 0x2E, 0x30, 0x38})
CHECKSUM_TAG = 0x20
#: Tags written with encoder B; the other string tags use encoder A.
_B_TAGS = frozenset({0x20, 0x21, 0x22})

#: Keystream blocks per pooled key: the record is about 250 bytes, more with a long host.
DEFAULT_POOL_BLOCKS = 5

_FNV_START = 2166136260
#: One step is ``((v ^ b) * 16777619 mod 2**32) * 33 mod 2**32``: one multiplication.
_FNV_MULTIPLIER = (16777619 * 33) & 0xFFFFFFFF
_U32 = 0xFFFFFFFF
_HEAD = struct.Struct(">BH")
_ZERO_A_BYTE_1 = 221 + 1  # byte 1 of the A-encoded "0": the first padding byte


@dataclass(frozen=True, slots=True)
class Record:
    """One X-Dynosaur record: an int for the hash tags, a string otherwise."""

    tag: int
    value: int | str


@dataclass(frozen=True, slots=True)
class XDynosaurToken:
    """A decoded X-Dynosaur: its records in wire order and how it was enciphered."""

    records: tuple[Record, ...]
    key: bytes
    insert_pos: int
    rounds: int

    def get(self, tag: int) -> int | str | None:
        """Return the value of record ``tag``, or None when the token lacks it."""
        for record in self.records:
            if record.tag == tag:
                return record.value
        return None


def fnv(text: str) -> int:
    """The SDK's 32-bit FNV-style hash of ``text`` as UTF-8 (records 0x2b 0x2e 0x30 0x38).

    Start 2166136260; per byte ``v = ((v ^ b) * 16777619 mod 2**32) * 33 mod 2**32``.
    """
    return fnv_bytes(text.encode())


def fnv_bytes(data: bytes) -> int:
    """:func:`fnv` of raw bytes.

    The hash is a left fold, so the state after a prefix can be reused: queries signed for
    the same client share most of their bytes (device, browser and app parameters), and a
    pure-Python byte loop costs about 60 ns a byte. Whole 64-byte chunks are looked up by
    (state before, chunk) in a bounded cache and only the rest is folded here.
    """
    if len(data) < _CACHED_FROM:
        return _fold(_FNV_START, data)
    value = _FNV_START
    cache = _CHUNK_STATES
    whole = len(data) - len(data) % _CHUNK
    for at in range(0, whole, _CHUNK):
        key = (value, data[at : at + _CHUNK])
        found = cache.get(key)
        if found is None:
            found = _fold(value, key[1])
            if len(cache) >= CHUNK_STATES_MAX:
                cache.clear()
            cache[key] = found
        value = found
    return _fold(value, data[whole:])


_CHUNK = 64
#: Shorter inputs (user agents, most bodies) are folded directly.
_CACHED_FROM = 2 * _CHUNK
#: About 1.5 MiB at most; a hostile stream of distinct queries only clears it.
CHUNK_STATES_MAX = 8192
_CHUNK_STATES: dict[tuple[int, bytes], int] = {}


def cached_chunks() -> int:
    """How many chunk states :func:`fnv_bytes` holds (at most ``CHUNK_STATES_MAX``)."""
    return len(_CHUNK_STATES)


def _fold(value: int, data: bytes) -> int:
    """Fold ``data`` into the hash state ``value``.

    Eight bytes per loop turn, reduced mod 2**32 once per turn: XOR with a byte and
    multiplication both commute with the reduction, and the interpreter's loop overhead
    is most of the cost.
    """
    m = _FNV_MULTIPLIER
    whole = len(data) & ~7
    it = iter(data[:whole])
    for a, b, c, d, e, f, g, h in zip(it, it, it, it, it, it, it, it, strict=True):
        value = (
            ((((((((value ^ a) * m ^ b) * m ^ c) * m ^ d) * m ^ e) * m ^ f) * m ^ g) * m ^ h) * m
        ) & _U32
    for byte in data[whole:]:
        value = ((value ^ byte) * m) & _U32
    return value


def _rotl8(value: int, by: int) -> int:
    return ((value << by) | (value >> (8 - by))) & 0xFF


def _encoder_a(i: int, c: int) -> int:
    v = ((c ^ (103 + i)) + 1 + (i & 170)) & 0xFF
    return ((_rotl8(v, 2) ^ 187) + 1) & 0xFF


def _encoder_b(i: int, c: int) -> int:
    v = (((c ^ (102 + i)) + (i & 170)) & 0xFF) ^ 165
    return _rotl8(v, 1) ^ 187


# Bounded: a hostile token's long string must not grow it without limit.
@lru_cache(maxsize=512)
def _tables(position: int, *, kind_b: bool) -> tuple[bytes, bytes]:
    """(encode, decode) tables of the string byte at ``position`` (encoder B or A)."""
    encoder = _encoder_b if kind_b else _encoder_a
    forward = bytes(encoder(position, c) for c in range(256))
    backward = bytearray(256)
    for c, out in enumerate(forward):
        backward[out] = c
    return forward, bytes(backward)


# Per request: two counters (up to the session's signatures, 500 by default, each), the
# checksum byte, the second and its mix. A cache smaller than the counters' cycle would
# miss every time (LRU under a cyclic scan).
@lru_cache(maxsize=4096)
def _encode_string(tag: int, text: str) -> bytes:
    """A string record's value: scrambled bytes, padding up to 4, the 2-byte length."""
    data = text.encode()
    kind_b = tag in _B_TAGS
    out = bytearray(_tables(i, kind_b=kind_b)[0][c] for i, c in enumerate(data))
    out += bytes((221 + i) & 0xFF for i in range(len(data), 4))
    if len(data) > 0xFFFF:
        raise ValueError(f"record {tag:#x}: a string of {len(data)} bytes is too long")
    out += len(data).to_bytes(2, "big")
    return bytes(out)


def encode_value(tag: int, value: int | str) -> bytes:
    """The wire bytes of one record value (ValueError when it does not fit)."""
    if isinstance(value, str):
        return _encode_string(tag, value)
    if not 0 <= value <= _U32:
        raise ValueError(f"record {tag:#x}: a hash is 32 bits, got {value}")
    return value.to_bytes(4, "big")


def _decode_value(tag: int, raw: bytes) -> int | str:
    """Read one record value; TokenDecodeError unless it is well formed for its tag."""
    if tag in HASH_TAGS or (tag not in TAGS and len(raw) == 4):
        if len(raw) != 4:
            raise TokenDecodeError(f"X-Dynosaur record {tag:#x} is not a 4-byte hash")
        return int.from_bytes(raw, "big")
    if len(raw) < 6:
        raise TokenDecodeError(f"X-Dynosaur record {tag:#x} is too short for a string")
    length = int.from_bytes(raw[-2:], "big")
    if len(raw) != max(length, 4) + 2:
        raise TokenDecodeError(f"X-Dynosaur record {tag:#x} has a wrong string length")
    kind_b = tag in _B_TAGS
    data = bytes(_tables(i, kind_b=kind_b)[1][c] for i, c in enumerate(raw[:length]))
    if raw[length:-2] != bytes((221 + i) & 0xFF for i in range(length, 4)):
        raise TokenDecodeError(f"X-Dynosaur record {tag:#x} has wrong padding")
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise TokenDecodeError(f"X-Dynosaur record {tag:#x} is not UTF-8") from exc


def checksum(raw_values: Iterable[tuple[int, bytes]]) -> int:
    """Record 0x20's value from ``(tag, wire value)`` pairs: XOR of every value's byte 1.

    Record 0x20 itself counts as the A-encoded ``"0"`` whatever it holds.
    """
    total = 0
    for tag, raw in raw_values:
        total ^= _ZERO_A_BYTE_1 if tag == CHECKSUM_TAG else raw[1]
    return total


def _serialize(records: Sequence[Record]) -> bytes:
    parts: list[bytes] = []
    for record in records:
        data = encode_value(record.tag, record.value)
        try:
            parts.append(_HEAD.pack(record.tag, len(data)))
        except struct.error as exc:
            raise ValueError(f"record {record.tag!r} does not fit its header: {exc}") from exc
        parts.append(data)
    return b"".join(parts)


@cache
def default_pool() -> KeystreamPool:
    """The module's keystream pool (5 blocks a key), created on first use."""
    return KeystreamPool(DEFAULT_POOL_BLOCKS)


def encode_records(
    records: Sequence[Record],
    key: bytes | None = None,
    *,
    pool: KeystreamPool | None = None,
) -> str:
    """Encipher ``records`` exactly as given (order, checksum and all) into an X-Dynosaur.

    ``key``: as for :func:`providers.xgnarly.encode_fields`; without it a fresh key comes
    from ``pool`` (default: :func:`default_pool`).
    """
    return xgnarly.encipher(
        _serialize(records), key, pool=pool if pool is not None else default_pool()
    )


def _parse(plaintext: bytes) -> tuple[list[Record], list[tuple[int, bytes]]]:
    records: list[Record] = []
    raws: list[tuple[int, bytes]] = []
    at = 0
    end = len(plaintext)
    last = -1
    while at < end:
        if at + 3 > end:
            raise TokenDecodeError("X-Dynosaur ends inside a record header")
        tag = plaintext[at]
        length = (plaintext[at + 1] << 8) | plaintext[at + 2]
        at += 3
        if at + length > end:
            raise TokenDecodeError(f"X-Dynosaur record {tag:#x} runs past the end")
        if tag <= last:
            raise TokenDecodeError(f"X-Dynosaur record {tag:#x} is out of order")
        last = tag
        raw = plaintext[at : at + length]
        records.append(Record(tag, _decode_value(tag, raw)))
        raws.append((tag, raw))
        at += length
    return records, raws


def decode(token: str, *, verify_checksum: bool = True) -> XDynosaurToken:
    """Decipher an X-Dynosaur with the key it carries.

    Raises :class:`~providers.errors.TokenDecodeError` on anything malformed: the envelope
    (alphabet, padding, magic byte, length), a record that does not parse, tags out of
    ascending order, a string badly scrambled or padded, or (unless ``verify_checksum``
    is false) a checksum record 0x20 that does not match. Another build's record set is
    read as long as it keeps this layout (4-byte values of unknown tags as hashes).
    """
    plaintext, key, at = xgnarly.decipher(token, name="X-Dynosaur")
    records, raws = _parse(plaintext)
    if verify_checksum:
        for record in records:
            if record.tag == CHECKSUM_TAG and record.value != str(checksum(raws)):
                raise TokenDecodeError("X-Dynosaur record 0x20 is not the checksum of the others")
    return XDynosaurToken(records=tuple(records), key=key, insert_pos=at, rounds=rounds_for(key))


# The UA is the same for most calls: its hash is cached.
_ua_fnv = lru_cache(maxsize=256)(fnv)
_EMPTY_FNV = _FNV_START


def _mix(timestamp: int, nonce: int, envcode: int) -> int:
    return xgnarly.mix(timestamp, nonce, envcode)


def build_records(  # noqa: PLR0913 -- one keyword per record
    *,
    base_query: str,
    body: str,
    user_agent: str,
    timestamp: int,
    envcode: int,
    ubcode: int,
    canvas: int,
    nonce: int,
    requests_signed: int,
    requests_seen: int,
    sdk_version: str,
    sdk_build: str,
    location: str,
    extension_version: str = "0",
    extension_digest: str = "0",
    internal: str = "",
) -> list[Record]:
    """The 25 records (0x20-0x38) of one request as build 1.0.0.417 writes them.

    ``base_query`` is the query before ``&X-Dynosaur=``; ``nonce`` the page's
    microsecond-clock value of record 0x34 (0x24 mixes it with the time and envcode, as
    X-Gnarly field 14); ``requests_signed`` (0x25) counts signatures so far and
    ``requests_seen`` (0x2f) the fetch/XHR calls the interceptor saw, this one included;
    ``location`` is ``location.host + location.pathname`` (0x35); the extension values
    (0x32, 0x33) are ``"0"`` without ``webmssdk_ex.js``; 0x38 hashes ``internal``.
    """
    values: dict[int, int | str] = {
        0x20: "0",
        0x21: "1",
        0x22: "1",
        0x23: "0",
        0x24: str(_mix(timestamp, nonce, envcode)),
        0x25: str(requests_signed),
        0x26: str(envcode),
        0x27: str(timestamp),
        0x28: "0",
        0x29: "0",
        0x2A: sdk_version,
        0x2B: fnv(body) if body else _EMPTY_FNV,
        0x2C: str(canvas),
        0x2D: "0",
        0x2E: fnv(base_query),
        0x2F: str(requests_seen),
        0x30: _ua_fnv(user_agent),
        0x31: sdk_build,
        0x32: extension_version,
        0x33: extension_digest,
        0x34: str(nonce),
        0x35: location,
        0x36: str(ubcode),
        0x37: "0",
        0x38: fnv(internal),
    }
    values[CHECKSUM_TAG] = str(
        checksum((tag, encode_value(tag, value)) for tag, value in values.items())
    )
    return [Record(tag, value) for tag, value in values.items()]


#: Records that change with every request (0x24 follows the time).
_PER_REQUEST_TAGS = (0x20, 0x24, 0x25, 0x27, 0x2B, 0x2E, 0x2F, 0x30)


class SessionRecords:
    """The X-Dynosaur records of one page session, the constant ones encoded once.

    :meth:`encode` writes only the per-request records (0x20, 0x24, 0x25, 0x27, 0x2b,
    0x2e, 0x2f, 0x30); the output is exactly what :func:`build_records` +
    :func:`encode_records` give for the same values.
    """

    def __init__(  # noqa: PLR0913 -- one keyword per page value
        self,
        *,
        envcode: int,
        ubcode: int,
        canvas: int,
        nonce: int,
        sdk_version: str,
        sdk_build: str,
        location: str,
        extension_version: str = "0",
        extension_digest: str = "0",
        internal: str = "",
    ) -> None:
        records = build_records(
            base_query="",
            body="",
            user_agent="",
            timestamp=0,
            envcode=envcode,
            ubcode=ubcode,
            canvas=canvas,
            nonce=nonce,
            requests_signed=0,
            requests_seen=0,
            sdk_version=sdk_version,
            sdk_build=sdk_build,
            location=location,
            extension_version=extension_version,
            extension_digest=extension_digest,
            internal=internal,
        )
        # Runs of constant records between the per-request ones, header and value.
        chunks: list[bytes] = []
        current = bytearray()
        constant_xor = 0
        for record in records:
            if record.tag in _PER_REQUEST_TAGS:
                chunks.append(bytes(current))
                current = bytearray()
                continue
            data = encode_value(record.tag, record.value)
            constant_xor ^= data[1]
            current += _HEAD.pack(record.tag, len(data)) + data
        chunks.append(bytes(current))
        self._chunks = tuple(chunks)
        # 0x20 counts as the A-encoded "0" in its own checksum.
        self._constant_xor = constant_xor ^ _ZERO_A_BYTE_1
        self._nonce = nonce
        self._envcode = envcode

    def plaintext(
        self,
        base_query: str,
        body: str,
        user_agent: str,
        *,
        timestamp: int,
        requests_signed: int,
        requests_seen: int,
    ) -> bytes:
        """The records of one request, before encryption."""
        body_hash = (fnv(body) if body else _EMPTY_FNV).to_bytes(4, "big")
        query_hash = fnv(base_query).to_bytes(4, "big")
        ua_hash = _ua_fnv(user_agent).to_bytes(4, "big")
        mixed = _encode_string(0x24, str(_mix(timestamp, self._nonce, self._envcode)))
        signed = _encode_string(0x25, str(requests_signed))
        time = _encode_string(0x27, str(timestamp))
        seen = _encode_string(0x2F, str(requests_seen))
        total = (
            self._constant_xor
            ^ mixed[1]
            ^ signed[1]
            ^ time[1]
            ^ body_hash[1]
            ^ query_hash[1]
            ^ seen[1]
            ^ ua_hash[1]
        )
        check = _encode_string(CHECKSUM_TAG, str(total))
        head = _HEAD.pack
        c = self._chunks
        return b"".join(
            (
                c[0],
                head(0x20, len(check)),
                check,
                c[1],
                head(0x24, len(mixed)),
                mixed,
                c[2],
                head(0x25, len(signed)),
                signed,
                c[3],
                head(0x27, len(time)),
                time,
                c[4],
                b"\x2b\x00\x04",
                body_hash,
                c[5],
                b"\x2e\x00\x04",
                query_hash,
                c[6],
                head(0x2F, len(seen)),
                seen,
                c[7],
                b"\x30\x00\x04",
                ua_hash,
                c[8],
            )
        )

    def encode(
        self,
        base_query: str,
        body: str,
        user_agent: str,
        *,
        timestamp: int,
        requests_signed: int,
        requests_seen: int,
        key: bytes | None = None,
        pool: KeystreamPool | None = None,
    ) -> str:
        """The X-Dynosaur of one request (a fresh pooled key unless ``key`` is given)."""
        plaintext = self.plaintext(
            base_query,
            body,
            user_agent,
            timestamp=timestamp,
            requests_signed=requests_signed,
            requests_seen=requests_seen,
        )
        return xgnarly.encipher(plaintext, key, pool=pool if pool is not None else default_pool())
