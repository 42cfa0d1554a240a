"""X-Gnarly: the encrypted key/value record TikTok's web SDK (5.1.x, 5.3.x) appends after X-Bogus.

Wire format (``shared/reference/web-signing.md`` sections 3.2 and 3.3):

* record = field count byte, then per field: id byte, 2-byte big-endian width, value
  (integers big-endian at a fixed width per id, strings as raw UTF-8);
* the record is XORed with the :mod:`providers.gnarly_cipher` keystream of a random
  48-byte key;
* the key is spliced into the ciphertext at ``p = (sum(key) + sum(ciphertext)) mod
  (len(ciphertext) + 1)``, the magic byte ``75`` goes in front, and the whole is written
  in a custom Base64 alphabet (``=`` padding).

Both sums together are the sum of every byte after the magic byte, whatever ``p`` is, so
a decoder reads ``p`` off the payload in one pass: exactly one position satisfies the
equation, and the record must then parse.

That envelope (:func:`encipher`, :func:`decipher`) also carries X-Dynosaur
(:mod:`providers.xdynosaur`). Two record layouts are known: 5.1.3 (fields 0-15, 2025
builds) and 5.3.2 (fields 0-16, build 1.0.0.417; ``shared/reference/sdk-2026.md``): field
16 is the XOR of fields 1-15, each string taken as its first 4 UTF-8 bytes, big-endian.
"""

from __future__ import annotations

import os
import random
import struct
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from providers import _b64
from providers._hash import md5_hex
from providers.errors import TokenDecodeError
from providers.gnarly_cipher import KEY_SIZE, KeystreamPool, keystream, rounds_for

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ALPHABET",
    "ASCENDING_ORDER",
    "CARCABOT_ORDER",
    "FIELD_IDS",
    "FIELD_IDS_532",
    "INT_WIDTHS",
    "INT_WIDTHS_532",
    "STRING_FIELD_IDS",
    "Field",
    "SessionRecord",
    "SessionRecord532",
    "XGnarlyToken",
    "build_fields",
    "build_fields_532",
    "decipher",
    "decode",
    "default_pool",
    "encipher",
    "encode",
    "encode_fields",
    "field_16",
    "mix",
    "random_order",
    "string_word",
]

ALPHABET = "u09tbS3UvgDEe6r-ZVMXzLpsAohTn7mdINQlW412GqBjfYiyk8JORCF5/xKHwacP"
MAGIC = 75

#: Every field id of the 5.1.3 record; 10 (the SDK build string) may be absent.
FIELD_IDS = tuple(range(16))
STRING_FIELD_IDS = frozenset({3, 4, 5, 9, 10})
#: Wire widths of the integer fields as the 5.1.3 SDK writes them.
INT_WIDTHS = {0: 4, 1: 2, 2: 2, 6: 4, 7: 4, 8: 4, 11: 2, 12: 2, 13: 2, 14: 4, 15: 4}
ASCENDING_ORDER = FIELD_IDS
#: Every field id of the 5.3.2 record (build 1.0.0.417): 16 is the XOR of fields 1-15.
FIELD_IDS_532 = tuple(range(17))
INT_WIDTHS_532 = {**INT_WIDTHS, 16: 4}
#: The fixed wire order of carcabot's native encoder (tiktok-signature 4.3.6).
CARCABOT_ORDER = (1, 8, 12, 11, 6, 9, 4, 7, 0, 14, 15, 2, 3, 10, 5, 13)

#: Keystream blocks per pooled key: the 5.1.3 and 5.3.2 records are about 200 bytes.
DEFAULT_POOL_BLOCKS = 4

_BASE64 = _b64.Alphabet(ALPHABET, padded=True)

_FIELD_HEAD = struct.Struct(">BH")
_MAGIC_BYTE = bytes((MAGIC,))
_EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
_U16 = 0xFFFF
_U31 = 2**31
#: Field 15 of 5.3.2 is the nonce of field 8 XOR this word with the low 16 bits of the
#: time: the high half was 0x9BCB in every 1.0.0.417 vector (all seeds, all times).
_FIELD15_HIGH = 0x9BCB0000


@dataclass(frozen=True, slots=True)
class Field:
    """One record entry: ``width`` is the wire byte length of ``value``.

    Integers are written big-endian in ``width`` bytes; strings are written as their
    UTF-8 bytes, so ``width`` must equal that length.
    """

    id: int
    width: int
    value: int | str


@dataclass(frozen=True, slots=True)
class XGnarlyToken:
    """A decoded X-Gnarly: its fields in wire order and how it was enciphered."""

    fields: tuple[Field, ...]
    key: bytes
    insert_pos: int
    rounds: int

    def get(self, field_id: int) -> int | str | None:
        """Return the value of field ``field_id``, or None when the record lacks it."""
        for field in self.fields:
            if field.id == field_id:
                return field.value
        return None


def _serialize(fields: Sequence[Field]) -> bytes:
    """Return the plaintext record for ``fields``, written in the given order."""
    if len(fields) > 0xFF:
        raise ValueError("an X-Gnarly record holds at most 255 fields")
    parts = [bytes((len(fields),))]
    append = parts.append
    head = _FIELD_HEAD.pack
    for field in fields:
        value = field.value
        try:
            if isinstance(value, str):
                data = value.encode()
                if len(data) != field.width:
                    raise ValueError(
                        f"field {field.id}: width {field.width} but the value is {len(data)} bytes"
                    )
            else:
                data = value.to_bytes(field.width, "big")
            append(head(field.id, field.width))
        except (OverflowError, struct.error) as exc:
            raise ValueError(f"field {field.id} does not fit its id/width/value: {exc}") from exc
        append(data)
    return b"".join(parts)


def _xor(data: bytes, stream: bytes) -> bytes:
    """XOR ``data`` with the start of ``stream`` (one big-integer XOR, no byte loop)."""
    length = len(data)
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream[:length], "big")).to_bytes(
        length, "big"
    )


@cache
def default_pool() -> KeystreamPool:
    """Return the module's keystream pool, created on first use (one per process)."""
    return KeystreamPool(DEFAULT_POOL_BLOCKS)


def encode_fields(
    fields: Sequence[Field],
    key: bytes | None = None,
    *,
    pool: KeystreamPool | None = None,
) -> str:
    """Encipher ``fields`` exactly as given (order, field 0 and all) into an X-Gnarly.

    With ``key`` the keystream is computed here (scalar). Without, a fresh key and its
    precomputed keystream come from ``pool`` (default: :func:`default_pool`); a record
    longer than the pool's keystream gets a fresh key and the scalar cipher instead.
    """
    return encipher(_serialize(fields), key, pool=pool)


def encipher(
    plaintext: bytes, key: bytes | None = None, *, pool: KeystreamPool | None = None
) -> str:
    """The envelope: XOR with the key's keystream, splice the key in, magic byte, Base64.

    ``key`` and ``pool`` as for :func:`encode_fields`. X-Gnarly and X-Dynosaur share it.
    """
    length = len(plaintext)
    if key is not None:
        if len(key) != KEY_SIZE:
            raise ValueError(f"an X-Gnarly key is {KEY_SIZE} bytes, got {len(key)}")
        stream = keystream(key, length)
    else:
        source = pool if pool is not None else default_pool()
        if length <= source.length:
            key, stream = source.take()
        else:
            key = os.urandom(KEY_SIZE)
            stream = keystream(key, length)
    cipher = _xor(plaintext, stream)
    at = (sum(key) + sum(cipher)) % (length + 1)
    raw = b"".join((_MAGIC_BYTE, cipher[:at], key, cipher[at:]))
    return _BASE64.encode(raw)


def _xor_of_ints(fields: Sequence[Field]) -> int:
    """XOR of every integer field other than field 0 (what field 0 must hold)."""
    checksum = 0
    for field in fields:
        value = field.value
        if field.id != 0 and not isinstance(value, str):
            checksum ^= value
    return checksum


def string_word(text: str) -> int:
    """A string field as field 16 takes it: its first 4 UTF-8 bytes, big-endian."""
    return int.from_bytes(text.encode()[:4], "big")


def field_16(fields: Sequence[Field]) -> int:
    """What field 16 of a 5.3.2 record must hold: the XOR of fields 1-15.

    Integers are taken whole, strings as :func:`string_word`.
    """
    checksum = 0
    for field in fields:
        if 1 <= field.id <= 15:
            value = field.value
            checksum ^= string_word(value) if isinstance(value, str) else value
    return checksum


def mix(timestamp: int, nonce: int, envcode: int) -> int:
    """Field 14 of 5.3.2 (and X-Dynosaur record 0x24): a time/nonce mix under the envcode.

    ``((ts >> 16) ^ (nonce >> 16) ^ ts ^ nonce) & 0xFFFF | envcode << 16``.
    """
    return (((timestamp >> 16) ^ (nonce >> 16) ^ timestamp ^ nonce) & _U16) | (envcode << 16)


def _parse(record: bytes) -> tuple[Field, ...]:
    """Split a plaintext record into fields; TokenDecodeError unless it parses exactly."""
    end = len(record)
    at = 1
    fields: list[Field] = []
    seen: set[int] = set()
    for _ in range(record[0]):
        if at + 3 > end:
            raise TokenDecodeError("X-Gnarly record ends inside a field header")
        field_id = record[at]
        width = (record[at + 1] << 8) | record[at + 2]
        at += 3
        stop = at + width
        if stop > end:
            raise TokenDecodeError(f"X-Gnarly field {field_id} runs past the record")
        if field_id in seen:
            raise TokenDecodeError(f"X-Gnarly field {field_id} appears twice")
        seen.add(field_id)
        chunk = record[at:stop]
        value: int | str
        if field_id in STRING_FIELD_IDS:
            try:
                value = chunk.decode()
            except UnicodeDecodeError as exc:
                raise TokenDecodeError(f"X-Gnarly field {field_id} is not UTF-8") from exc
        else:
            value = int.from_bytes(chunk, "big")
        fields.append(Field(field_id, width, value))
        at = stop
    if at != end:
        raise TokenDecodeError("X-Gnarly record has bytes after its last field")
    return tuple(fields)


def decipher(token: str, *, name: str = "X-Gnarly") -> tuple[bytes, bytes, int]:
    """Undo the envelope: ``(plaintext, key, insert position)``.

    Raises :class:`~providers.errors.TokenDecodeError` (naming the token ``name``) on a
    character outside the alphabet, bad padding, a wrong magic byte or a payload too short
    to hold the key.
    """
    try:
        raw = _BASE64.decode(token)
    except ValueError as exc:
        raise TokenDecodeError(f"{name} is not valid in its Base64 alphabet: {exc}") from exc
    if len(raw) < 2 + KEY_SIZE:
        raise TokenDecodeError(f"{name} is too short ({len(raw)} bytes) to hold a key")
    if raw[0] != MAGIC:
        raise TokenDecodeError(f"{name} magic byte is {raw[0]}, expected {MAGIC}")
    payload = raw[1:]
    length = len(payload) - KEY_SIZE
    at = sum(payload) % (length + 1)
    key = payload[at : at + KEY_SIZE]
    cipher = payload[:at] + payload[at + KEY_SIZE :]
    return _xor(cipher, keystream(key, length)), key, at


def decode(token: str, *, verify_checksum: bool = True) -> XGnarlyToken:
    """Decipher an X-Gnarly with the key it carries.

    Raises :class:`~providers.errors.TokenDecodeError` on a character outside the alphabet,
    bad padding, a wrong magic byte, a payload too short to hold the key, a record that
    does not parse, or (unless ``verify_checksum`` is false) a field 0 that is not the
    XOR of the integer fields or a field 16 (5.3.2) that is not the XOR of fields 1-15.
    """
    record, key, at = decipher(token)
    fields = _parse(record)
    if verify_checksum:
        for field in fields:
            if field.id == 0 and field.value != _xor_of_ints(fields):
                raise TokenDecodeError("X-Gnarly field 0 is not the XOR of the integer fields")
            if field.id == 16 and field.value != field_16(fields):
                raise TokenDecodeError("X-Gnarly field 16 is not the XOR of fields 1-15")
    return XGnarlyToken(fields=fields, key=key, insert_pos=at, rounds=rounds_for(key))


# The UA is the same for most calls; the query and body are not, so only it is cached.
_ua_md5_hex = lru_cache(maxsize=256)(md5_hex)


def build_fields(  # noqa: PLR0913 -- one keyword per record field
    query: str,
    body: str,
    user_agent: str,
    *,
    timestamp: int,
    canvas: int,
    flags: tuple[int, int, int],
    page_load_us: int,
    sdk_version: str,
    sdk_build: str | None,
    ubcode: int,
    requests_seen: int,
    requests_signed: int,
    session_random16: int,
    random32: int,
    order: Sequence[int],
) -> list[Field]:
    """Return the 5.1.3 record for one request, in the wire order ``order``.

    ``query`` is the query exactly as sent and hashed (with ``&msToken=...`` appended,
    like X-Bogus). Field 1 is ``f1 << 8 | f2`` of the X-Bogus ``flags``; field 2 is
    ``ubcode`` (the SDK writes its ``f3`` there); field 8 is ``page_load_us`` mod 2**31;
    field 10 is left out when ``sdk_build`` is None. ``order`` must be a permutation of
    the ids present (ValueError otherwise).
    """
    f1, f2, _ = flags
    if not (0 <= f1 <= 0xFF and 0 <= f2 <= 0xFF):
        raise ValueError(f"flags must be bytes, got {flags!r}")
    if not 0 <= session_random16 <= _U16:
        raise ValueError("session_random16 must fit in 16 bits")
    env = (f1 << 8) | f2
    session = (env << 16) | session_random16
    page_load = page_load_us % _U31
    # Field 0: XOR of the integer fields 1, 2, 6, 7, 8, 11 (always 1), 12, 13, 14, 15.
    checksum = (env ^ ubcode ^ timestamp ^ canvas ^ page_load ^ 1) ^ (
        requests_seen ^ requests_signed ^ session ^ random32
    )
    by_id = {
        0: Field(0, 4, checksum),
        1: Field(1, 2, env),
        2: Field(2, 2, ubcode),
        3: Field(3, 32, md5_hex(query)),
        4: Field(4, 32, md5_hex(body) if body else _EMPTY_MD5),
        5: Field(5, 32, _ua_md5_hex(user_agent)),
        6: Field(6, 4, timestamp),
        7: Field(7, 4, canvas),
        8: Field(8, 4, page_load),
        9: Field(9, len(sdk_version.encode()), sdk_version),
        11: Field(11, 2, 1),
        12: Field(12, 2, requests_seen),
        13: Field(13, 2, requests_signed),
        14: Field(14, 4, session),
        15: Field(15, 4, random32),
    }
    if sdk_build is not None:
        by_id[10] = Field(10, len(sdk_build.encode()), sdk_build)
    if len(order) != len(by_id) or set(order) != by_id.keys():
        raise ValueError(
            f"order must be a permutation of the field ids {sorted(by_id)}, got {list(order)}"
        )
    return [by_id[field_id] for field_id in order]


def encode(  # noqa: PLR0913 -- one keyword per record field, plus the injectable randoms
    query: str,
    body: str,
    user_agent: str,
    *,
    timestamp: int,
    canvas: int,
    flags: tuple[int, int, int],
    page_load_us: int,
    sdk_version: str,
    sdk_build: str | None,
    ubcode: int,
    requests_seen: int,
    requests_signed: int,
    order: Sequence[int],
    session_random16: int | None = None,
    random32: int | None = None,
    key: bytes | None = None,
    pool: KeystreamPool | None = None,
) -> str:
    """Build and encipher the record of one request (see :func:`build_fields`).

    The random words and the key default to fresh random values; inject them to get a
    deterministic token. Without ``key`` the key comes from ``pool`` (or the default).
    """
    fields = build_fields(
        query,
        body,
        user_agent,
        timestamp=timestamp,
        canvas=canvas,
        flags=flags,
        page_load_us=page_load_us,
        sdk_version=sdk_version,
        sdk_build=sdk_build,
        ubcode=ubcode,
        requests_seen=requests_seen,
        requests_signed=requests_signed,
        session_random16=(random.getrandbits(16) if session_random16 is None else session_random16),
        random32=random.getrandbits(32) if random32 is None else random32,
        order=order,
    )
    return encode_fields(fields, key, pool=pool)


def random_order(
    rng: random.Random | None = None, field_ids: Sequence[int] = FIELD_IDS
) -> tuple[int, ...]:
    """Return a random wire order of ``field_ids``, as the SDK picks once per page.

    The default is the 16 ids of 5.1.3 (drop id 10 when the record has no SDK build
    string); pass :data:`FIELD_IDS_532` for a 5.3.2 record.
    """
    ids = list(field_ids)
    (rng or random).shuffle(ids)
    return tuple(ids)


def build_fields_532(  # noqa: PLR0913 -- one keyword per record field
    query: str,
    body: str,
    user_agent: str,
    *,
    timestamp: int,
    canvas: int,
    envcode: int,
    ubcode: int,
    nonce: int,
    sdk_version: str,
    sdk_build: str,
    requests_seen: int,
    requests_signed: int,
    order: Sequence[int],
) -> list[Field]:
    """Return the 5.3.2 record (build 1.0.0.417) of one request, in the wire order ``order``.

    ``query`` is what field 3 hashes: for a fetch/XHR the signed query up to
    ``&X-Bogus=`` (X-Dynosaur and msToken included); for a socket the query as passed to
    the signer. Field 8 is ``nonce`` (a microsecond-clock value, constant for a page),
    field 12 ``requests_seen`` and field 13 ``requests_seen + requests_signed`` (both 0
    for a socket), 14 :func:`mix`, 15 the nonce XOR ``0x9BCB << 16 | ts & 0xFFFF``,
    16 :func:`field_16`, 0 the XOR of the integer fields. ``order`` must be a permutation
    of the 17 ids (ValueError otherwise).
    """
    if not 0 <= envcode <= _U16:
        raise ValueError(f"envcode must fit in 16 bits, got {envcode}")
    if len(order) != len(FIELD_IDS_532) or set(order) != set(FIELD_IDS_532):
        raise ValueError(
            f"order must be a permutation of the field ids {list(FIELD_IDS_532)}, got {list(order)}"
        )
    by_id = {
        1: Field(1, 2, envcode),
        2: Field(2, 2, ubcode),
        3: Field(3, 32, md5_hex(query)),
        4: Field(4, 32, md5_hex(body) if body else _EMPTY_MD5),
        5: Field(5, 32, _ua_md5_hex(user_agent)),
        6: Field(6, 4, timestamp),
        7: Field(7, 4, canvas),
        8: Field(8, 4, nonce),
        9: Field(9, len(sdk_version.encode()), sdk_version),
        10: Field(10, len(sdk_build.encode()), sdk_build),
        11: Field(11, 2, 1),
        12: Field(12, 2, requests_seen),
        13: Field(13, 2, requests_seen + requests_signed),
        14: Field(14, 4, mix(timestamp, nonce, envcode)),
        15: Field(15, 4, nonce ^ (_FIELD15_HIGH | (timestamp & _U16))),
    }
    fields = list(by_id.values())
    by_id[16] = Field(16, 4, field_16(fields))
    by_id[0] = Field(0, 4, _xor_of_ints(list(by_id.values())))
    return [by_id[field_id] for field_id in order]


class _Layout:
    """A record whose session fields and every header are written once.

    ``fields`` is a whole record in wire order; the values of ``per_request`` ids are
    placeholders, filled per call by :meth:`render` (values already as bytes).
    """

    __slots__ = ("_chunks", "_tail")

    def __init__(self, fields: Sequence[Field], per_request: frozenset[int]) -> None:
        chunks: list[tuple[bytes, int]] = []
        current = bytearray((len(fields),))
        for field in fields:
            current += _FIELD_HEAD.pack(field.id, field.width)
            if field.id in per_request:
                chunks.append((bytes(current), field.id))
                current = bytearray()
            else:
                value = field.value
                current += (
                    value.encode() if isinstance(value, str) else value.to_bytes(field.width, "big")
                )
        self._chunks = tuple(chunks)
        self._tail = bytes(current)

    def render(self, values: dict[int, bytes]) -> bytes:
        """The plaintext record with the per-request ``values`` in their places."""
        parts: list[bytes] = []
        for chunk, slot in self._chunks:
            parts.append(chunk)
            parts.append(values[slot])
        parts.append(self._tail)
        return b"".join(parts)


#: Fields that change with every request; the others are fixed for a page session.
_PER_REQUEST_IDS = frozenset({0, 3, 4, 5, 6, 12, 13, 15})


class SessionRecord:
    """The 5.1.3 X-Gnarly record layout of one page session, prepared once.

    The fields that stay the same for a page (1, 2, 7, 8, 9, 10, 11, 14) and every field
    header are encoded when the session starts; :meth:`encode` only writes the
    per-request values (0, 3, 4, 5, 6, 12, 13, 15). The output is exactly what
    :func:`build_fields` + :func:`encode_fields` give for the same values, in less time.
    """

    def __init__(
        self,
        *,
        canvas: int,
        flags: tuple[int, int, int],
        page_load_us: int,
        sdk_version: str,
        sdk_build: str | None,
        ubcode: int,
        session_random16: int,
        order: Sequence[int],
    ) -> None:
        fields = build_fields(
            "",
            "",
            "",
            timestamp=0,
            canvas=canvas,
            flags=flags,
            page_load_us=page_load_us,
            sdk_version=sdk_version,
            sdk_build=sdk_build,
            ubcode=ubcode,
            requests_seen=0,
            requests_signed=0,
            session_random16=session_random16,
            random32=0,
            order=order,
        )
        self._layout = _Layout(fields, _PER_REQUEST_IDS)
        # With every per-request value at 0, field 0 is the XOR of the session fields.
        self._session_xor = _xor_of_ints(fields)

    def plaintext(
        self,
        query: str,
        body: str,
        user_agent: str,
        *,
        timestamp: int,
        requests_seen: int,
        requests_signed: int,
        random32: int,
    ) -> bytes:
        """The record of one request, before encryption."""
        checksum = self._session_xor ^ timestamp ^ requests_seen ^ requests_signed ^ random32
        try:
            values = {
                0: checksum.to_bytes(4, "big"),
                3: md5_hex(query).encode(),
                4: (md5_hex(body) if body else _EMPTY_MD5).encode(),
                5: _ua_md5_hex(user_agent).encode(),
                6: timestamp.to_bytes(4, "big"),
                12: requests_seen.to_bytes(2, "big"),
                13: requests_signed.to_bytes(2, "big"),
                15: random32.to_bytes(4, "big"),
            }
        except OverflowError as exc:
            raise ValueError(f"a per-request X-Gnarly value does not fit its field: {exc}") from exc
        return self._layout.render(values)

    def encode(  # noqa: PLR0913 -- the per-request values, plus the injectable key
        self,
        query: str,
        body: str,
        user_agent: str,
        *,
        timestamp: int,
        requests_seen: int,
        requests_signed: int,
        random32: int,
        key: bytes | None = None,
        pool: KeystreamPool | None = None,
    ) -> str:
        """The X-Gnarly of one request (a fresh pooled key unless ``key`` is given)."""
        record = self.plaintext(
            query,
            body,
            user_agent,
            timestamp=timestamp,
            requests_seen=requests_seen,
            requests_signed=requests_signed,
            random32=random32,
        )
        return encipher(record, key, pool=pool)


#: 5.3.2 fields that change with every request (14, 15 and 16 follow the time).
_PER_REQUEST_IDS_532 = frozenset({0, 3, 4, 5, 6, 12, 13, 14, 15, 16})
_EMPTY_MD5_WORD = string_word(_EMPTY_MD5)
_md5_word = lru_cache(maxsize=256)(string_word)


class SessionRecord532:
    """The 5.3.2 X-Gnarly record layout of one page session, prepared once.

    Fields 1, 2, 7, 8, 9, 10 and 11 and every header are encoded when the session
    starts; :meth:`encode` writes the rest. The output is exactly what
    :func:`build_fields_532` + :func:`encode_fields` give for the same values. The same
    session signs a page's fetch/XHR requests and its socket URLs (counters 0).
    """

    def __init__(
        self,
        *,
        canvas: int,
        envcode: int,
        ubcode: int,
        nonce: int,
        sdk_version: str,
        sdk_build: str,
        order: Sequence[int],
    ) -> None:
        fields = build_fields_532(
            "",
            "",
            "",
            timestamp=0,
            canvas=canvas,
            envcode=envcode,
            ubcode=ubcode,
            nonce=nonce,
            sdk_version=sdk_version,
            sdk_build=sdk_build,
            requests_seen=0,
            requests_signed=0,
            order=order,
        )
        self._layout = _Layout(fields, _PER_REQUEST_IDS_532)
        self._envcode = envcode
        self._nonce = nonce
        self._nonce_high = nonce >> 16
        # Fields 1-15 that never change, as field 16 takes them: 1, 2, 7, 8, 9, 10, 11.
        self._session_16 = field_16([f for f in fields if f.id not in _PER_REQUEST_IDS_532])
        # Integer fields that never change, as field 0 takes them: 1, 2, 7, 8, 11.
        self._session_0 = _xor_of_ints([f for f in fields if f.id not in _PER_REQUEST_IDS_532])

    def plaintext(
        self,
        query: str,
        body: str,
        user_agent: str,
        *,
        timestamp: int,
        requests_seen: int,
        requests_signed: int,
    ) -> bytes:
        """The record of one request, before encryption."""
        query_md5 = md5_hex(query)
        body_md5 = md5_hex(body) if body else _EMPTY_MD5
        ua_md5 = _ua_md5_hex(user_agent)
        nonce = self._nonce
        low = timestamp & _U16
        f13 = requests_seen + requests_signed
        f14 = ((((timestamp >> 16) ^ self._nonce_high) ^ low ^ nonce) & _U16) | (
            self._envcode << 16
        )
        f15 = nonce ^ (_FIELD15_HIGH | low)
        ints = timestamp ^ requests_seen ^ f13 ^ f14 ^ f15
        f16 = (
            self._session_16
            ^ ints
            ^ int.from_bytes(query_md5[:4].encode(), "big")
            ^ (_EMPTY_MD5_WORD if not body else int.from_bytes(body_md5[:4].encode(), "big"))
            ^ _md5_word(ua_md5)
        )
        try:
            values = {
                0: (self._session_0 ^ ints ^ f16).to_bytes(4, "big"),
                3: query_md5.encode(),
                4: body_md5.encode(),
                5: ua_md5.encode(),
                6: timestamp.to_bytes(4, "big"),
                12: requests_seen.to_bytes(2, "big"),
                13: f13.to_bytes(2, "big"),
                14: f14.to_bytes(4, "big"),
                15: f15.to_bytes(4, "big"),
                16: f16.to_bytes(4, "big"),
            }
        except OverflowError as exc:
            raise ValueError(f"a per-request X-Gnarly value does not fit its field: {exc}") from exc
        return self._layout.render(values)

    def encode(
        self,
        query: str,
        body: str,
        user_agent: str,
        *,
        timestamp: int,
        requests_seen: int,
        requests_signed: int,
        key: bytes | None = None,
        pool: KeystreamPool | None = None,
    ) -> str:
        """The X-Gnarly of one request (a fresh pooled key unless ``key`` is given)."""
        record = self.plaintext(
            query,
            body,
            user_agent,
            timestamp=timestamp,
            requests_seen=requests_seen,
            requests_signed=requests_signed,
        )
        return encipher(record, key, pool=pool)
