"""X-Gnarly codec: SDK and carcabot vectors, round trips, record building, bad tokens."""

from __future__ import annotations

import base64
import hashlib
import random
from functools import reduce
from operator import xor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers import xgnarly
from providers.errors import TokenDecodeError
from providers.gnarly_cipher import KeystreamPool
from providers.xgnarly import Field
from tests.support import load_vectors

VECTORS = load_vectors("xgnarly-sdk.json")
SDK_VECTORS: list[dict[str, Any]] = VECTORS["vectors"]
CARCABOT = VECTORS["carcabot_native_vectors"]["vectors"][0]

sdk_vectors = pytest.mark.parametrize(
    "vector", SDK_VECTORS, ids=[f"{v['sdk_version']}-{v['case']}" for v in SDK_VECTORS]
)

STANDARD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
KEY = bytes(range(48))
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/138.0.0.0 Safari/537.36"
RECORD: dict[str, Any] = {
    "timestamp": 1750000000,
    "canvas": 3666844619,
    "flags": (2, 73, 14),
    "page_load_us": 542860260,
    "sdk_version": "5.1.3-ZTCA",
    "sdk_build": "1.0.0.368",
    "ubcode": 14,
    "requests_seen": 2,
    "requests_signed": 1,
    "session_random16": 0x1234,
    "random32": 0xDEADBEEF,
    "order": xgnarly.ASCENDING_ORDER,
}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _fields(vector: dict[str, Any]) -> tuple[Field, ...]:
    return tuple(Field(*entry) for entry in vector["decoded_fields"])


def _int_xor(fields: tuple[Field, ...] | list[Field]) -> int:
    return reduce(xor, (f.value for f in fields if f.id != 0 and isinstance(f.value, int)), 0)


def _wrap(raw: bytes) -> str:
    """Write raw bytes in the X-Gnarly alphabet (to forge malformed tokens)."""
    table = bytes.maketrans(STANDARD, xgnarly.ALPHABET.encode())
    return base64.b64encode(raw).translate(table).decode()


@sdk_vectors
def test_decode_gives_vector_fields_in_wire_order(vector: dict[str, Any]) -> None:
    """Decoding an SDK token gives the vector's fields, in the vector's wire order."""
    assert xgnarly.decode(vector["x_gnarly"]).fields == _fields(vector)


@sdk_vectors
def test_decode_gives_vector_key_position_and_rounds(vector: dict[str, Any]) -> None:
    """Decoding an SDK token finds the embedded key, its insert position and round count."""
    token = xgnarly.decode(vector["x_gnarly"])
    assert (token.key.hex(), token.insert_pos, token.rounds) == (
        vector["embedded_key_hex"],
        vector["insert_pos"],
        vector["rounds"],
    )


@sdk_vectors
def test_fields_3_4_5_are_md5_of_query_body_and_ua(vector: dict[str, Any]) -> None:
    """Fields 3, 4 and 5 are the MD5 hex of the signed query, the body and the UA."""
    token = xgnarly.decode(vector["x_gnarly"])
    assert (token.get(3), token.get(4), token.get(5)) == (
        _md5(vector["query"]),
        _md5(vector["body"]),
        _md5(vector["user_agent"]),
    )


@sdk_vectors
def test_field_3_hashes_the_query_with_the_appended_mstoken(vector: dict[str, Any]) -> None:
    """Field 3 covers the SDK's appended '&msToken=', not the query as the page built it."""
    query = vector["query"]
    assert query.endswith("&msToken=")
    token = xgnarly.decode(vector["x_gnarly"])
    assert token.get(3) == _md5(query)
    assert token.get(3) != _md5(query.removesuffix("&msToken="))


@sdk_vectors
def test_field_0_is_xor_of_integer_fields(vector: dict[str, Any]) -> None:
    """Field 0 of an SDK token is the XOR of every other integer field."""
    token = xgnarly.decode(vector["x_gnarly"])
    assert token.get(0) == _int_xor(token.fields)


@sdk_vectors
def test_reencoding_with_embedded_key_reproduces_sdk_token(vector: dict[str, Any]) -> None:
    """encode_fields(decoded fields, decoded key) gives the SDK token byte for byte."""
    token = xgnarly.decode(vector["x_gnarly"])
    assert xgnarly.encode_fields(token.fields, key=token.key) == vector["x_gnarly"]


def _int_field(token: xgnarly.XGnarlyToken, field_id: int) -> int:
    value = token.get(field_id)
    assert isinstance(value, int)
    return value


@sdk_vectors
def test_build_fields_rebuilds_sdk_record(vector: dict[str, Any]) -> None:
    """build_fields from the request inputs and the SDK's page state rebuilds the SDK token."""
    decoded = xgnarly.decode(vector["x_gnarly"])
    # Page state the vector does not list on its own is read back from the token:
    # the SDK build string (1.0.0.328 in the 5.1.3 file) and the two random words.
    build = decoded.get(10)
    assert isinstance(build, str)
    index = vector["request_index_in_page"]
    fields = xgnarly.build_fields(
        vector["query"],
        vector["body"],
        vector["user_agent"],
        timestamp=vector["pinned_date_now_ms"] // 1000,
        canvas=3666844619,  # the test machine's canvas (the X-Bogus vectors decode to it too)
        flags=(2, 73, 14),  # the X-Bogus vectors' flags for this headless Chromium
        page_load_us=542860260,  # constant for the page, see reference section 3.3
        sdk_version="5.1.3" if vector["sdk_version"] == "5.1.3" else "5.1.3-ZTCA",
        sdk_build=build,
        ubcode=14,
        requests_seen=index + 1,  # the SDK's own start-up request is counted as seen
        requests_signed=index,
        session_random16=_int_field(decoded, 14) & 0xFFFF,
        random32=_int_field(decoded, 15),
        order=[f.id for f in decoded.fields],
    )
    assert xgnarly.encode_fields(fields, key=decoded.key) == vector["x_gnarly"]


def _carcabot_fields() -> list[Field]:
    options = CARCABOT["options"]
    counters = CARCABOT["counters"]
    ms = options["timestampMs"]
    return xgnarly.build_fields(
        CARCABOT["query"],
        CARCABOT["body"],
        CARCABOT["user_agent"],
        timestamp=ms // 1000,
        canvas=3181061566,  # carcabot's hard-coded canvas
        flags=(0, 65, options["ubcode"]),  # carcabot's field 1 is 65 = 0 << 8 | 65
        page_load_us=ms,  # carcabot writes ms mod 2**31 into field 8
        sdk_version="5.1.3-ZTCA",  # carcabot's fixed field 9
        sdk_build=options["sdkVersion"],  # carcabot's "sdkVersion" option is field 10
        ubcode=options["ubcode"],
        requests_seen=counters["totalXHRRequests"] + counters["totalFetchRequests"],
        requests_signed=counters["interceptedXHRRequests"] + counters["interceptedFetchRequests"],
        session_random16=int.from_bytes(bytes(options["randomLow16"]), "big"),
        random32=int.from_bytes(bytes(options["random32"]), "big"),
        order=xgnarly.CARCABOT_ORDER,
    )


def test_build_fields_reproduces_carcabot_vector() -> None:
    """build_fields in carcabot's order with its injected randoms gives its token."""
    key = bytes.fromhex(CARCABOT["options"]["randomKey_hex"])
    assert xgnarly.encode_fields(_carcabot_fields(), key=key) == CARCABOT["x_gnarly"]


def test_carcabot_order_is_the_carcabot_wire_order() -> None:
    """CARCABOT_ORDER is the wire order found in carcabot's token."""
    decoded = xgnarly.decode(CARCABOT["x_gnarly"])
    assert tuple(f.id for f in decoded.fields) == xgnarly.CARCABOT_ORDER
    assert decoded.fields == tuple(Field(*entry) for entry in CARCABOT["decoded_fields"])


@st.composite
def records(draw: st.DrawFn) -> list[Field]:
    """Random records: unique ids in random order, any values, fields 0 and 16 right."""
    ids = draw(st.lists(st.integers(min_value=0, max_value=40), unique=True, max_size=20))
    fields: list[Field] = []
    for field_id in ids:
        if field_id in xgnarly.STRING_FIELD_IDS:
            text = draw(st.text(max_size=40))
            fields.append(Field(field_id, len(text.encode()), text))
        elif field_id not in {0, 16}:
            width = draw(st.integers(min_value=1, max_value=8))
            value = draw(st.integers(min_value=0, max_value=256**width - 1))
            fields.append(Field(field_id, width, value))
    if 16 in ids:
        fields.insert(ids.index(16), Field(16, 8, xgnarly.field_16(fields)))
    if 0 in ids:
        fields.insert(ids.index(0), Field(0, 8, _int_xor(fields)))
    return fields


@settings(max_examples=60)
@given(fields=records(), key=st.binary(min_size=48, max_size=48))
def test_decode_inverts_encode_fields(fields: list[Field], key: bytes) -> None:
    """decode(encode_fields(fields, key)) gives back the fields, in order, and the key."""
    token = xgnarly.decode(xgnarly.encode_fields(fields, key=key))
    assert token.fields == tuple(fields)
    assert token.key == key


def test_encode_fields_with_pool_gives_fresh_keys() -> None:
    """Without a key, each token gets a new pooled key and still decodes to the fields."""
    fields = xgnarly.build_fields("aid=1988&msToken=", "", UA, **RECORD)
    pool = KeystreamPool(nblocks=4, batch=2)
    first = xgnarly.decode(xgnarly.encode_fields(fields, pool=pool))
    second = xgnarly.decode(xgnarly.encode_fields(fields, pool=pool))
    assert first.fields == second.fields == tuple(fields)
    assert first.key != second.key
    assert len(pool) == 0


def test_encode_fields_uses_default_pool() -> None:
    """Without key or pool, the module's default pool supplies the key."""
    fields = xgnarly.build_fields("aid=1988&msToken=", "", UA, **RECORD)
    before = len(xgnarly.default_pool())
    decoded = xgnarly.decode(xgnarly.encode_fields(fields))
    assert decoded.fields == tuple(fields)
    assert len(xgnarly.default_pool()) in {before - 1, xgnarly.default_pool().batch - 1}


def test_record_longer_than_pool_stream_falls_back_to_scalar() -> None:
    """A record longer than the pooled keystream is encoded with a fresh key, pool untouched."""
    fields = xgnarly.build_fields("aid=1988&msToken=", "", UA, **RECORD)
    pool = KeystreamPool(nblocks=1, batch=4)
    decoded = xgnarly.decode(xgnarly.encode_fields(fields, pool=pool))
    assert decoded.fields == tuple(fields)
    assert pool.refills == 0


def test_encode_is_build_then_encode_fields() -> None:
    """encode() with injected key and randoms equals encode_fields(build_fields(...), key)."""
    fields = xgnarly.build_fields("aid=1988&msToken=", "{}", UA, **RECORD)
    assert xgnarly.encode("aid=1988&msToken=", "{}", UA, key=KEY, **RECORD) == (
        xgnarly.encode_fields(fields, key=KEY)
    )


def test_encode_draws_random_words_when_not_given() -> None:
    """encode() without the random words still builds a record with a valid field 0."""
    record = {k: v for k, v in RECORD.items() if k not in {"session_random16", "random32"}}
    decoded = xgnarly.decode(xgnarly.encode("aid=1988", "", UA, **record))
    assert _int_field(decoded, 14) >> 16 == (2 << 8) | 73
    assert decoded.get(0) == _int_xor(decoded.fields)


def test_build_fields_follows_the_5_1_3_layout() -> None:
    """Values and widths of every field built from known inputs."""
    fields = xgnarly.build_fields("q=1", "", UA, **{**RECORD, "page_load_us": 2**31 + 5})
    by_id = {f.id: f for f in fields}
    assert [f.id for f in fields] == list(range(16))
    assert {i: by_id[i].width for i in xgnarly.INT_WIDTHS} == xgnarly.INT_WIDTHS
    assert by_id[1].value == (2 << 8) | 73
    assert by_id[2].value == 14
    assert (by_id[3].value, by_id[4].value, by_id[5].value) == (_md5("q=1"), _md5(""), _md5(UA))
    assert (by_id[6].value, by_id[7].value, by_id[8].value) == (1750000000, 3666844619, 5)
    assert (by_id[9].value, by_id[10].value, by_id[11].value) == ("5.1.3-ZTCA", "1.0.0.368", 1)
    assert (by_id[12].value, by_id[13].value) == (2, 1)
    assert by_id[14].value == (((2 << 8) | 73) << 16) | 0x1234
    assert by_id[15].value == 0xDEADBEEF
    assert by_id[0].value == _int_xor(fields)


def test_build_fields_without_build_omits_field_10() -> None:
    """sdk_build=None leaves field 10 out; the order must then lack it too."""
    order = tuple(i for i in xgnarly.CARCABOT_ORDER if i != 10)
    fields = xgnarly.build_fields("q", "", UA, **{**RECORD, "sdk_build": None, "order": order})
    assert tuple(f.id for f in fields) == order


@pytest.mark.parametrize(
    ("order", "sdk_build"),
    [
        (tuple(range(15)), "1.0.0.368"),
        ((*range(16), 16), "1.0.0.368"),
        ((*range(15), 14), "1.0.0.368"),
        (tuple(range(16)), None),
    ],
    ids=["missing-id", "extra-id", "duplicate-id", "id-10-without-build"],
)
def test_build_fields_rejects_order_that_is_not_a_permutation(
    order: tuple[int, ...], sdk_build: str | None
) -> None:
    """An order that is not a permutation of the present ids raises ValueError."""
    with pytest.raises(ValueError, match="permutation"):
        xgnarly.build_fields("q", "", UA, **{**RECORD, "order": order, "sdk_build": sdk_build})


def test_build_fields_rejects_wide_session_random() -> None:
    """A session random word over 16 bits would corrupt field 14's flag half."""
    with pytest.raises(ValueError, match="16 bits"):
        xgnarly.build_fields("q", "", UA, **{**RECORD, "session_random16": 0x10000})


@pytest.mark.parametrize(
    "field",
    [Field(1, 2, 0x10000), Field(3, 31, "a" * 32), Field(256, 1, 0), Field(1, 2, -1)],
    ids=["int-too-wide", "string-width-mismatch", "id-not-a-byte", "negative"],
)
def test_encode_fields_rejects_fields_that_do_not_fit(field: Field) -> None:
    """A field whose value does not fit its id/width raises ValueError."""
    with pytest.raises(ValueError, match="field"):
        xgnarly.encode_fields([field], key=KEY)


def test_encode_fields_rejects_more_than_255_fields() -> None:
    """The field count is one byte, so 256 fields raise ValueError."""
    with pytest.raises(ValueError, match="255 fields"):
        xgnarly.encode_fields([Field(11, 2, 1)] * 256, key=KEY)


def test_build_fields_rejects_flags_that_are_not_bytes() -> None:
    """Flags over 255 would spill into each other in field 1."""
    with pytest.raises(ValueError, match="flags"):
        xgnarly.build_fields("q", "", UA, **{**RECORD, "flags": (1, 256, 14)})


def test_encode_fields_rejects_short_key() -> None:
    """An explicit key must be 48 bytes."""
    with pytest.raises(ValueError, match="48 bytes"):
        xgnarly.encode_fields([Field(11, 2, 1)], key=bytes(47))


def test_random_order_is_a_seeded_permutation() -> None:
    """random_order() permutes all 16 ids and follows the given RNG."""
    order = xgnarly.random_order(random.Random(7))
    assert sorted(order) == list(range(16))
    assert order == xgnarly.random_order(random.Random(7))
    assert sorted(xgnarly.random_order()) == list(range(16))


def test_token_get_returns_none_for_absent_field() -> None:
    """XGnarlyToken.get() gives None for an id the record lacks."""
    token = xgnarly.decode(xgnarly.encode_fields([Field(11, 2, 1)], key=KEY))
    assert token.get(11) == 1
    assert token.get(10) is None


def test_decode_rejects_wrong_field_0() -> None:
    """A field 0 that is not the XOR of the integer fields raises TokenDecodeError."""
    token = xgnarly.encode_fields([Field(11, 2, 1), Field(0, 4, 0)], key=KEY)
    with pytest.raises(TokenDecodeError, match="field 0"):
        xgnarly.decode(token)


def test_decode_can_skip_the_field_0_check() -> None:
    """verify_checksum=False reads a record whose field 0 is wrong."""
    token = xgnarly.encode_fields([Field(11, 2, 1), Field(0, 4, 0)], key=KEY)
    assert xgnarly.decode(token, verify_checksum=False).get(0) == 0


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "too short"),
        ("MF9L7bY0", "too short"),
        (SDK_VECTORS[0]["x_gnarly"].replace("M", "+", 1), "alphabet"),
        (SDK_VECTORS[0]["x_gnarly"] + "é", "alphabet"),
        (SDK_VECTORS[0]["x_gnarly"][:-1], "alphabet"),
        (_wrap(bytes([74]) + bytes(200)), "magic"),
        (_wrap(bytes([75]) + bytes(200)), "record|field"),
    ],
    ids=["empty", "short", "plus-sign", "non-ascii", "bad-padding", "wrong-magic", "zeros"],
)
def test_decode_rejects_malformed_token(token: str, message: str) -> None:
    """Malformed tokens raise TokenDecodeError naming what is wrong."""
    with pytest.raises(TokenDecodeError, match=message):
        xgnarly.decode(token)


@settings(max_examples=60)
@given(payload=st.binary(min_size=120, max_size=300))
def test_decode_rejects_random_payload(payload: bytes) -> None:
    """Random bytes behind a correct magic byte do not parse as a record."""
    with pytest.raises(TokenDecodeError):
        xgnarly.decode(_wrap(bytes([xgnarly.MAGIC]) + payload))


@sdk_vectors
def test_decode_rejects_sdk_token_with_any_byte_altered(vector: dict[str, Any]) -> None:
    """Flipping the low bit of any byte of a real token makes it undecodable."""
    table = bytes.maketrans(xgnarly.ALPHABET.encode(), STANDARD)
    raw = base64.b64decode(vector["x_gnarly"].encode().translate(table))
    accepted = []
    for position in range(len(raw)):
        altered = bytearray(raw)
        altered[position] ^= 0x01
        try:
            xgnarly.decode(_wrap(bytes(altered)))
        except TokenDecodeError:
            continue
        accepted.append(position)
    assert accepted == []


PER_REQUEST = st.fixed_dictionaries(
    {
        "timestamp": st.integers(0, 2**32 - 1),
        "requests_seen": st.integers(0, 0xFFFF),
        "requests_signed": st.integers(0, 0xFFFF),
        "random32": st.integers(0, 2**32 - 1),
    }
)
SESSION = st.fixed_dictionaries(
    {
        "canvas": st.integers(0, 2**32 - 1),
        "flags": st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
        "page_load_us": st.integers(0, 2**40),
        "sdk_version": st.sampled_from(["5.1.3-ZTCA", "5.1.3", "5.2.0"]),
        "sdk_build": st.sampled_from([None, "1.0.0.368", "2.0.0.485"]),
        "ubcode": st.integers(0, 0xFFFF),
        "session_random16": st.integers(0, 0xFFFF),
        "seed": st.integers(0, 2**16),
    }
)


@settings(max_examples=60)
@given(
    texts=st.tuples(st.text(max_size=300), st.text(max_size=100), st.text(max_size=80)),
    session=SESSION,
    request=PER_REQUEST,
    key=st.binary(min_size=48, max_size=48),
)
def test_session_record_equals_build_fields(
    texts: tuple[str, str, str], session: dict[str, Any], request: dict[str, Any], key: bytes
) -> None:
    """The prepared session layout gives byte for byte what build_fields + encode_fields give."""
    order = xgnarly.random_order(random.Random(session.pop("seed")))
    if session["sdk_build"] is None:
        order = tuple(i for i in order if i != 10)
    record = xgnarly.SessionRecord(order=order, **session)
    fast = record.encode(*texts, key=key, **request)
    query, body, user_agent = texts
    fields = xgnarly.build_fields(
        query=query, body=body, user_agent=user_agent, order=order, **session, **request
    )
    assert fast == xgnarly.encode_fields(fields, key=key)


def test_session_record_rejects_counters_over_16_bits() -> None:
    """A counter past 65535 cannot be written in its 2-byte field."""
    record = xgnarly.SessionRecord(
        canvas=1, flags=(6, 65, 14), page_load_us=0, sdk_version="5.1.3", sdk_build=None,
        ubcode=14, session_random16=0, order=tuple(i for i in xgnarly.ASCENDING_ORDER if i != 10),
    )  # fmt: skip
    with pytest.raises(ValueError, match="does not fit"):
        record.encode(
            "q", "", "ua", timestamp=0, requests_seen=70000, requests_signed=1, random32=0
        )


# 5.3.2 (webmssdk 1.0.0.417): fetch/XHR and socket tokens of TikTok's own SDK.
HTTP_417: list[dict[str, Any]] = load_vectors("sdk-1.0.0.417-http.json")["vectors"]
WS_417: list[dict[str, Any]] = load_vectors("sdk-1.0.0.417-ws.json")["vectors"]
VECTORS_417 = [*HTTP_417, *WS_417]
vectors_417 = pytest.mark.parametrize("vector", VECTORS_417, ids=[v["id"] for v in VECTORS_417])


def _signed_input(vector: dict[str, Any]) -> tuple[str, str]:
    """What fields 3 and 4 hash: the query up to X-Bogus (or the socket query), the body."""
    if "xgnarly_query" in vector:
        return vector["xgnarly_query"], vector["body"]
    return vector["X-MS-Q"], vector["X-MS-STUB"]


def _fields_417(vector: dict[str, Any]) -> tuple[Field, ...]:
    return tuple(Field(*entry) for entry in vector["x_gnarly_decoded"]["decoded_fields"])


@vectors_417
def test_532_decode_gives_vector_fields_key_and_rounds(vector: dict[str, Any]) -> None:
    """A 5.3.2 token decodes to the vector's 17 fields in wire order, key, position, rounds."""
    decoded = vector["x_gnarly_decoded"]
    token = xgnarly.decode(vector["expected_x_gnarly"])
    assert token.fields == _fields_417(vector)
    assert sorted(f.id for f in token.fields) == list(xgnarly.FIELD_IDS_532)
    assert (token.key.hex(), token.insert_pos, token.rounds) == (
        decoded["embedded_key_hex"],
        decoded["insert_pos"],
        decoded["rounds"],
    )


@vectors_417
def test_532_reencoding_the_decoded_form_reproduces_the_token(vector: dict[str, Any]) -> None:
    """encode_fields(decoded fields in wire order, embedded key) is the SDK token."""
    key = bytes.fromhex(vector["x_gnarly_decoded"]["embedded_key_hex"])
    assert xgnarly.encode_fields(_fields_417(vector), key=key) == vector["expected_x_gnarly"]


@vectors_417
def test_532_fields_hash_the_inputs_and_carry_the_time(vector: dict[str, Any]) -> None:
    """Fields 3, 4, 5 are MD5s of the signed query, body and UA; 6 is the pinned second."""
    query, body = _signed_input(vector)
    token = xgnarly.decode(vector["expected_x_gnarly"])
    assert (token.get(3), token.get(4), token.get(5), token.get(6)) == (
        _md5(query),
        _md5(body),
        _md5(vector["user_agent"]),
        vector["pinned_timestamp_s"],
    )
    assert (token.get(9), token.get(10), token.get(11)) == ("5.3.2", "1.0.0.417", 1)


@vectors_417
def test_532_field_16_and_field_0_checksums(vector: dict[str, Any]) -> None:
    """Field 16 XORs fields 1-15 (strings as 4-byte words); field 0 XORs every integer."""
    fields = _fields_417(vector)
    by_id = {f.id: f.value for f in fields}
    words = [
        int.from_bytes(v.encode()[:4], "big") if isinstance(v, str) else v
        for i, v in by_id.items()
        if 1 <= i <= 15
    ]
    assert by_id[16] == reduce(xor, words, 0)
    assert by_id[0] == _int_xor(fields)


@vectors_417
def test_build_fields_532_rebuilds_the_sdk_token(vector: dict[str, Any]) -> None:
    """build_fields_532 from the request, the page's nonce and the counters is the SDK token."""
    query, body = _signed_input(vector)
    decoded = xgnarly.decode(vector["expected_x_gnarly"])
    # The n-th fetch/XHR of a page: n seen, n signed; the socket signer writes zeros.
    index = vector.get("request_index_in_page", 0) if "xgnarly_query" in vector else 0
    fields = xgnarly.build_fields_532(
        query,
        body,
        vector["user_agent"],
        timestamp=vector["pinned_timestamp_s"],
        canvas=3666844619,
        envcode=1089 if vector["ua_label"] != "linux_chrome" else 65,
        ubcode=14,
        nonce=_int_field(decoded, 8),  # the page's microsecond-clock nonce
        sdk_version="5.3.2",
        sdk_build="1.0.0.417",
        requests_seen=index,
        requests_signed=index,
        order=[f.id for f in decoded.fields],
    )
    key = bytes.fromhex(vector["x_gnarly_decoded"]["embedded_key_hex"])
    assert xgnarly.encode_fields(fields, key=key) == vector["expected_x_gnarly"]


def test_build_fields_532_rejects_order_that_is_not_a_permutation() -> None:
    """A 5.3.2 order must name all 17 ids once."""
    with pytest.raises(ValueError, match="permutation"):
        xgnarly.build_fields_532(
            "q", "", "ua", timestamp=1, canvas=1, envcode=65, ubcode=14, nonce=1,
            sdk_version="5.3.2", sdk_build="1.0.0.417", requests_seen=1, requests_signed=1,
            order=xgnarly.ASCENDING_ORDER,
        )  # fmt: skip


def test_build_fields_532_rejects_a_wide_envcode() -> None:
    """The envcode is a 2-byte field."""
    with pytest.raises(ValueError, match="16 bits"):
        xgnarly.build_fields_532(
            "q", "", "ua", timestamp=1, canvas=1, envcode=0x10000, ubcode=14, nonce=1,
            sdk_version="5.3.2", sdk_build="1.0.0.417", requests_seen=1, requests_signed=1,
            order=xgnarly.FIELD_IDS_532,
        )  # fmt: skip


def test_decode_rejects_wrong_field_16() -> None:
    """A 5.3.2 record whose field 16 is not the XOR of fields 1-15 is refused."""
    fields = list(_fields_417(HTTP_417[0]))
    at = next(i for i, f in enumerate(fields) if f.id == 16)
    fields[at] = Field(16, 4, fields[at].value ^ 1)  # type: ignore[operator]
    at0 = next(i for i, f in enumerate(fields) if f.id == 0)
    fields[at0] = Field(0, 4, _int_xor(fields))  # field 0 still right
    token = xgnarly.encode_fields(fields, key=KEY)
    with pytest.raises(TokenDecodeError, match="field 16"):
        xgnarly.decode(token)
    assert xgnarly.decode(token, verify_checksum=False).get(16) == fields[at].value


def test_random_order_takes_the_532_ids() -> None:
    """random_order shuffles the 17 ids of 5.3.2 when asked."""
    order = xgnarly.random_order(random.Random(1), xgnarly.FIELD_IDS_532)
    assert sorted(order) == list(range(17))
    assert order != xgnarly.FIELD_IDS_532


SESSION_532 = st.fixed_dictionaries(
    {
        "canvas": st.integers(0, 2**32 - 1),
        "envcode": st.integers(0, 0xFFFF),
        "ubcode": st.integers(0, 0xFFFF),
        "nonce": st.integers(0, 2**31 - 1),
        "sdk_version": st.sampled_from(["5.3.2", "5.3.1", "5.4"]),
        "sdk_build": st.sampled_from(["1.0.0.417", "2.0.0.561", "9"]),
        "seed": st.integers(0, 2**16),
    }
)


@settings(max_examples=60)
@given(
    texts=st.tuples(st.text(max_size=300), st.text(max_size=100), st.text(max_size=80)),
    session=SESSION_532,
    timestamp=st.integers(0, 2**32 - 1),
    counters=st.tuples(st.integers(0, 0x7FFF), st.integers(0, 0x7FFF)),
    key=st.binary(min_size=48, max_size=48),
)
def test_session_record_532_equals_build_fields_532(
    texts: tuple[str, str, str],
    session: dict[str, Any],
    timestamp: int,
    counters: tuple[int, int],
    key: bytes,
) -> None:
    """The prepared 5.3.2 layout gives byte for byte what build_fields_532 gives."""
    order = xgnarly.random_order(random.Random(session.pop("seed")), xgnarly.FIELD_IDS_532)
    record = xgnarly.SessionRecord532(order=order, **session)
    seen, signed = counters
    fast = record.encode(
        *texts, timestamp=timestamp, requests_seen=seen, requests_signed=signed, key=key
    )
    fields = xgnarly.build_fields_532(
        *texts, timestamp=timestamp, requests_seen=seen, requests_signed=signed, order=order,
        **session,
    )  # fmt: skip
    assert fast == xgnarly.encode_fields(fields, key=key)
    assert xgnarly.decode(fast).fields == tuple(fields)


@vectors_417
def test_session_record_532_reproduces_the_sdk_token(vector: dict[str, Any]) -> None:
    """The session fast path with the page's values gives the SDK's token."""
    query, body = _signed_input(vector)
    decoded = xgnarly.decode(vector["expected_x_gnarly"])
    record = xgnarly.SessionRecord532(
        canvas=_int_field(decoded, 7),
        envcode=_int_field(decoded, 1),
        ubcode=_int_field(decoded, 2),
        nonce=_int_field(decoded, 8),
        sdk_version="5.3.2",
        sdk_build="1.0.0.417",
        order=[f.id for f in decoded.fields],
    )
    seen = _int_field(decoded, 12)
    token = record.encode(
        query, body, vector["user_agent"], timestamp=vector["pinned_timestamp_s"],
        requests_seen=seen, requests_signed=_int_field(decoded, 13) - seen, key=decoded.key,
    )  # fmt: skip
    assert token == vector["expected_x_gnarly"]


def test_session_record_532_rejects_counters_over_16_bits() -> None:
    """Field 13 (seen + signed) past 65535 cannot be written."""
    record = xgnarly.SessionRecord532(
        canvas=1, envcode=65, ubcode=14, nonce=5, sdk_version="5.3.2", sdk_build="1.0.0.417",
        order=xgnarly.FIELD_IDS_532,
    )  # fmt: skip
    with pytest.raises(ValueError, match="does not fit"):
        record.encode("q", "", "ua", timestamp=0, requests_seen=40000, requests_signed=40000)
