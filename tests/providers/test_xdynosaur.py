"""X-Dynosaur codec: the 1.0.0.417 SDK vectors, records from inputs, round trips, bad tokens."""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers import xdynosaur, xgnarly
from providers.errors import TokenDecodeError
from providers.xdynosaur import Record
from tests.support import load_vectors

FILE = load_vectors("sdk-1.0.0.417-http.json")
VECTORS: list[dict[str, Any]] = FILE["vectors"]
vectors = pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
KEY = bytes(range(48))
STANDARD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _records(vector: dict[str, Any]) -> tuple[Record, ...]:
    return tuple(Record(tag, value) for tag, _, _, value in vector["x_dynosaur_decoded"]["records"])


def _key(vector: dict[str, Any]) -> bytes:
    return bytes.fromhex(vector["x_dynosaur_decoded"]["embedded_key_hex"])


def _gnarly(vector: dict[str, Any]) -> dict[int, Any]:
    return {f[0]: f[2] for f in vector["x_gnarly_decoded"]["decoded_fields"]}


def _reference_fnv(data: bytes) -> int:
    """The hash exactly as the vectors' description words it, one byte at a time."""
    value = 2166136260
    for byte in data:
        value = (((value ^ byte) * 16777619) % 2**32 * 33) % 2**32
    return value


def _wrap(raw: bytes) -> str:
    """Write raw bytes in the envelope's alphabet (to forge malformed tokens)."""
    table = bytes.maketrans(STANDARD, xgnarly.ALPHABET.encode())
    return base64.b64encode(raw).translate(table).decode()


def test_fnv_of_nothing_is_the_start_value() -> None:
    """fnv('') is 0x811c9dc4, the value record 0x38 holds in every vector."""
    assert xdynosaur.fnv("") == 0x811C9DC4


@settings(max_examples=200)
@given(data=st.binary(max_size=100))
def test_fnv_bytes_agrees_with_the_byte_at_a_time_rule(data: bytes) -> None:
    """The eight-bytes-a-turn loop equals the rule applied one byte at a time."""
    assert xdynosaur.fnv_bytes(data) == _reference_fnv(data)


def test_fnv_hashes_utf8() -> None:
    """The hash of a string is the hash of its UTF-8 bytes."""
    assert xdynosaur.fnv("Größe 東京") == _reference_fnv("Größe 東京".encode())


@vectors
def test_decode_gives_the_vector_records_key_and_rounds(vector: dict[str, Any]) -> None:
    """Decoding the SDK token gives exactly the vector's records, key, position and rounds."""
    decoded = vector["x_dynosaur_decoded"]
    token = xdynosaur.decode(vector["expected_x_dynosaur"])
    assert token.records == _records(vector)
    assert [r.tag for r in token.records] == list(xdynosaur.TAGS)
    assert (token.key.hex(), token.insert_pos, token.rounds) == (
        decoded["embedded_key_hex"],
        decoded["insert_pos"],
        decoded["rounds"],
    )


@vectors
def test_each_record_value_encodes_to_its_raw_bytes(vector: dict[str, Any]) -> None:
    """encode_value writes every decoded value as the vector's raw hex."""
    for tag, length, raw_hex, value in vector["x_dynosaur_decoded"]["records"]:
        raw = xdynosaur.encode_value(tag, value)
        assert (raw.hex(), len(raw)) == (raw_hex, length)


@vectors
def test_raw_records_with_the_embedded_key_reproduce_the_token(vector: dict[str, Any]) -> None:
    """The raw record bytes enciphered with the embedded key are the SDK token."""
    plaintext = b"".join(
        bytes((tag,)) + length.to_bytes(2, "big") + bytes.fromhex(raw_hex)
        for tag, length, raw_hex, _ in vector["x_dynosaur_decoded"]["records"]
    )
    assert xgnarly.encipher(plaintext, _key(vector)) == vector["expected_x_dynosaur"]


@vectors
def test_decoded_values_alone_reproduce_the_token(vector: dict[str, Any]) -> None:
    """encode_records(decoded values, embedded key) is the SDK token byte for byte."""
    assert xdynosaur.encode_records(_records(vector), _key(vector)) == vector["expected_x_dynosaur"]


@vectors
def test_hash_records_cover_body_base_query_and_ua(vector: dict[str, Any]) -> None:
    """0x2b, 0x2e and 0x30 hash the body, the query before X-Dynosaur and the UA."""
    token = xdynosaur.decode(vector["expected_x_dynosaur"])
    assert (token.get(0x2B), token.get(0x2E), token.get(0x30), token.get(0x38)) == (
        _reference_fnv(vector["body"].encode()),
        _reference_fnv(vector["base_query"].encode()),
        _reference_fnv(vector["user_agent"].encode()),
        0x811C9DC4,
    )
    assert vector["signed_query"].startswith(vector["base_query"])


@vectors
def test_records_carry_the_time_and_the_x_gnarly_environment(vector: dict[str, Any]) -> None:
    """0x27 is the pinned second; envcode, ubcode, canvas and versions match X-Gnarly."""
    token = xdynosaur.decode(vector["expected_x_dynosaur"])
    gnarly = _gnarly(vector)
    assert token.get(0x27) == str(vector["pinned_timestamp_s"])
    assert (token.get(0x26), token.get(0x36), token.get(0x2C)) == (
        str(gnarly[1]),
        str(gnarly[2]),
        str(gnarly[7]),
    )
    assert (token.get(0x2A), token.get(0x31), token.get(0x35)) == (
        "5.3.2",
        "1.0.0.417",
        "www.tiktok.com/",
    )
    index = vector["request_index_in_page"]
    assert (token.get(0x25), token.get(0x2F)) == (str(index), str(index))


@vectors
def test_mix_record_is_field_14_of_the_record_nonce(vector: dict[str, Any]) -> None:
    """0x24 mixes the time, the 0x34 nonce and the envcode like X-Gnarly field 14."""
    token = xdynosaur.decode(vector["expected_x_dynosaur"])
    nonce = int(str(token.get(0x34)))
    assert token.get(0x24) == str(
        xgnarly.mix(vector["pinned_timestamp_s"], nonce, _gnarly(vector)[1])
    )


def _build(vector: dict[str, Any]) -> list[Record]:
    token = xdynosaur.decode(vector["expected_x_dynosaur"])
    gnarly = _gnarly(vector)
    index = vector["request_index_in_page"]
    return xdynosaur.build_records(
        base_query=vector["base_query"],
        body=vector["body"],
        user_agent=vector["user_agent"],
        timestamp=vector["pinned_timestamp_s"],
        envcode=gnarly[1],
        ubcode=gnarly[2],
        canvas=gnarly[7],
        nonce=int(str(token.get(0x34))),  # the page's microsecond-clock nonce
        requests_signed=index,
        requests_seen=index,
        sdk_version="5.3.2",
        sdk_build="1.0.0.417",
        location="www.tiktok.com/",
    )


@vectors
def test_build_records_rebuilds_the_sdk_records_and_checksum(vector: dict[str, Any]) -> None:
    """build_records from the inputs gives the vector's 25 records, checksum and mix too."""
    built = _build(vector)
    assert tuple(built) == _records(vector)
    assert xdynosaur.encode_records(built, _key(vector)) == vector["expected_x_dynosaur"]


@vectors
def test_session_records_reproduce_the_sdk_token(vector: dict[str, Any]) -> None:
    """The per-session fast path with the page's values gives the SDK's token."""
    token = xdynosaur.decode(vector["expected_x_dynosaur"])
    gnarly = _gnarly(vector)
    session = xdynosaur.SessionRecords(
        envcode=gnarly[1],
        ubcode=gnarly[2],
        canvas=gnarly[7],
        nonce=int(str(token.get(0x34))),
        sdk_version="5.3.2",
        sdk_build="1.0.0.417",
        location="www.tiktok.com/",
    )
    index = vector["request_index_in_page"]
    result = session.encode(
        vector["base_query"], vector["body"], vector["user_agent"],
        timestamp=vector["pinned_timestamp_s"], requests_signed=index, requests_seen=index,
        key=_key(vector),
    )  # fmt: skip
    assert result == vector["expected_x_dynosaur"]


REQUEST = st.fixed_dictionaries(
    {
        "base_query": st.text(max_size=300),
        "body": st.text(max_size=100),
        "user_agent": st.text(max_size=80),
        "timestamp": st.integers(0, 2**32 - 1),
        "requests_signed": st.integers(0, 10**6),
        "requests_seen": st.integers(0, 10**6),
    }
)
PAGE = st.fixed_dictionaries(
    {
        "envcode": st.integers(0, 0xFFFF),
        "ubcode": st.integers(0, 0xFFFF),
        "canvas": st.integers(0, 2**32 - 1),
        "nonce": st.integers(0, 2**31 - 1),
        "sdk_version": st.sampled_from(["5.3.2", "5.3.1"]),
        "sdk_build": st.sampled_from(["1.0.0.417", "2.0.0.561"]),
        "location": st.text(min_size=1, max_size=60),
    }
)


@settings(max_examples=60)
@given(request=REQUEST, page=PAGE, key=st.binary(min_size=48, max_size=48))
def test_session_records_equal_build_records(
    request: dict[str, Any], page: dict[str, Any], key: bytes
) -> None:
    """The session fast path gives byte for byte what build_records + encode_records give."""
    fast = xdynosaur.SessionRecords(**page).encode(key=key, **request)
    records = xdynosaur.build_records(**request, **page)
    assert fast == xdynosaur.encode_records(records, key)
    assert xdynosaur.decode(fast).records == tuple(records)


def test_encode_records_takes_fresh_pooled_keys() -> None:
    """Without a key every token gets a new one, and decodes to the same records."""
    records = _build(VECTORS[0])
    first, second = (xdynosaur.encode_records(records) for _ in range(2))
    assert first != second
    assert xdynosaur.decode(first).records == xdynosaur.decode(second).records == tuple(records)


def test_decode_reads_another_builds_record_set() -> None:
    """Fewer records and an unknown tag still decode: 4-byte values as hashes, others as text."""
    records = [Record(0x21, "1"), Record(0x27, "1800000000"), Record(0x3A, 7), Record(0x3B, "x")]
    token = xdynosaur.decode(xdynosaur.encode_records(records, KEY))
    assert token.records == tuple(records)
    assert token.get(0x20) is None


def test_decode_rejects_a_wrong_checksum() -> None:
    """A checksum record that is not the XOR of the others is refused (unless told not to)."""
    records = list(_records(VECTORS[0]))
    records[0] = Record(0x20, str(int(str(records[0].value)) ^ 1))
    token = xdynosaur.encode_records(records, KEY)
    with pytest.raises(TokenDecodeError, match="checksum"):
        xdynosaur.decode(token)
    assert xdynosaur.decode(token, verify_checksum=False).get(0x20) == records[0].value


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([Record(0x2B, "not a hash")], "4-byte hash"),
        ([Record(0x27, "1"), Record(0x21, "1")], "out of order"),
        ([Record(0x27, "1"), Record(0x27, "1")], "out of order"),
    ],
)
def test_decode_rejects_records_out_of_shape(records: list[Record], message: str) -> None:
    """A hash tag holding a string, or tags not ascending, is refused."""
    with pytest.raises(TokenDecodeError, match=message):
        xdynosaur.decode(xdynosaur.encode_records(records, KEY))


@pytest.mark.parametrize(
    ("plaintext", "message"),
    [
        (b"\x27\x00", "inside a record header"),
        (b"\x27\x00\x09abc", "runs past the end"),
        (b"\x27\x00\x03abc", "too short for a string"),
        (b"\x27\x00\x07abcde\x00\x09", "wrong string length"),
        (b"\x27\x00\x06ab\x00\x00\x00\x02", "wrong padding"),
    ],
)
def test_decode_rejects_malformed_records(plaintext: bytes, message: str) -> None:
    """Records that do not parse raise TokenDecodeError naming what is wrong."""
    with pytest.raises(TokenDecodeError, match=message):
        xdynosaur.decode(xgnarly.encipher(plaintext, KEY))


def _encoder_a(i: int, c: int) -> int:
    """Encoder A exactly as the vectors' description words it."""
    v = ((c ^ (103 + i)) + 1 + (i & 170)) & 255
    v = ((v << 2) | (v >> 6)) & 255
    return ((v ^ 187) + 1) & 255


def test_encoder_a_is_the_described_one() -> None:
    """encode_value of an A-encoded string follows the description byte for byte."""
    text = "www.tiktok.com/"
    expected = bytes(_encoder_a(i, c) for i, c in enumerate(text.encode()))
    assert xdynosaur.encode_value(0x35, text) == expected + len(text).to_bytes(2, "big")


def test_decode_rejects_a_string_that_is_not_utf8() -> None:
    """A scrambled string must unscramble to UTF-8."""
    raw = bytes(_encoder_a(i, c) for i, c in enumerate(b"\xff\xfe\xfd\xfc")) + b"\x00\x04"
    with pytest.raises(TokenDecodeError, match="UTF-8"):
        xdynosaur.decode(xgnarly.encipher(b"\x35\x00\x06" + raw, KEY))


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "too short"),
        ("!!!!", "Base64"),
        (_wrap(bytes((74,)) + bytes(60)), "magic"),
    ],
)
def test_decode_rejects_garbage(token: str, message: str) -> None:
    """Garbage raises TokenDecodeError naming X-Dynosaur."""
    with pytest.raises(TokenDecodeError, match=f"X-Dynosaur.*{message}|{message}"):
        xdynosaur.decode(token)


@vectors
def test_decode_rejects_the_sdk_token_with_any_byte_altered(vector: dict[str, Any]) -> None:
    """Flipping one bit anywhere in a real token is caught (envelope, parse or checksum)."""
    table = bytes.maketrans(xgnarly.ALPHABET.encode(), STANDARD)
    raw = base64.b64decode(vector["expected_x_dynosaur"].encode().translate(table))
    rng = random.Random(vector["id"])
    accepted = []
    for position in rng.sample(range(len(raw)), 60):
        altered = bytearray(raw)
        altered[position] ^= 1 << rng.randrange(8)
        try:
            xdynosaur.decode(_wrap(bytes(altered)))
        except TokenDecodeError:
            continue
        accepted.append(position)
    assert accepted == []


def test_encode_value_rejects_what_does_not_fit() -> None:
    """A hash wider than 32 bits cannot be written."""
    with pytest.raises(ValueError, match="32 bits"):
        xdynosaur.encode_value(0x2B, 2**32)
    with pytest.raises(ValueError, match="too long"):
        xdynosaur.encode_value(0x35, "x" * 70000)


def test_checksum_takes_its_own_record_as_the_encoded_zero() -> None:
    """Whatever 0x20 holds, it counts as the A-encoded '0' (byte 1 = 222)."""
    assert xdynosaur.checksum([(0x20, b"\x00\x00"), (0x21, b"\x00\x05")]) == 222 ^ 5
