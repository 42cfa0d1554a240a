"""X-Bogus codec: the SDK vectors, a public vector, round trips and rejection of bad tokens."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers import xbogus
from providers.errors import TokenDecodeError
from tests.support import load_vectors

SDK_VECTORS: list[dict[str, Any]] = load_vectors("xbogus-sdk.json")["vectors"]


def _vector_id(index: int, vector: dict[str, Any]) -> str:
    path = vector["path"].split("(")[0]
    return f"{vector['sdk_version']}-{path}-{vector['case']}-{index}"


sdk_vectors = pytest.mark.parametrize(
    "vector",
    SDK_VECTORS,
    ids=[_vector_id(i, v) for i, v in enumerate(SDK_VECTORS)],
)

# smalls0098/xb's Go test: Douyin query and UA, flags (0, 1, 14), canvas 3845494467.
GO_QUERY = (
    "device_platform=webapp&aid=6383&channel=channel_pc_web&aweme_id=7346145148188904742"
    "&pc_client_type=3&version_code=190500&version_name=19.5.0&cookie_enabled=true"
    "&screen_width=1792&screen_height=1120&browser_language=zh-CN&browser_platform=MacIntel"
    "&browser_name=Chrome&browser_version=104.0.5112.102&browser_online=true&engine_name=Blink"
    "&engine_version=104.0.5112.102&os_name=Mac+OS&os_version=10.15.7&cpu_core_num=12"
    "&device_memory=8&platform=PC&downlink=9.6&effective_type=4g&round_trip_time=0"
    "&webid=7209940127916459575&msToken=191ZZJ5jsfzviU7JMotGDULg3e8hVIh9B9CqqeNmFOMF7qHrbmi_"
    "44Vri00ssGlSI46oyGcOPMVtIFqdze7bYWGm40CDtmqJHV_YterqNVoC220dvjMP"
)
GO_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko)"
    " douyin/3.4.0 Chrome/104.0.5112.102 Electron/20.1.0-tt.4.release.douyin.155"
    " TTElectron/20.1.0-tt.4.release.douyin.155 Safari/537.36 awemePcClient/3.4.0"
    " buildId/11509980 osName/Mac"
)
GO_EXPECTED = "DFSzswVO/72ANVartLGTYN7TlqCM"

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/138.0.0.0 Safari/537.36"
VALID = xbogus.encode(
    "aid=1988&count=30&msToken=", "", USER_AGENT, 1750000000, 3666844619, (6, 65, 14)
)

u32 = st.integers(min_value=0, max_value=2**32 - 1)
flag_bytes = st.tuples(*(st.integers(min_value=0, max_value=255),) * 3)


def _rc4(key: bytes, data: bytes) -> bytes:
    """Textbook RC4, written independently of the module under test."""
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out = []
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def _double_md5_tail(text: str) -> bytes:
    inner = hashlib.md5(text.encode()).digest()
    return hashlib.md5(inner).digest()[14:]


def _ua_tail(user_agent: str, flags: tuple[int, int, int]) -> bytes:
    encrypted = base64.b64encode(_rc4(bytes(flags), user_agent.encode()))
    return hashlib.md5(encrypted).digest()[14:]


def _wrap(raw: bytes) -> str:
    """Write 21 raw bytes in the X-Bogus alphabet (to forge malformed tokens)."""
    standard = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    table = bytes.maketrans(standard, xbogus.ALPHABET.encode())
    return base64.b64encode(raw).translate(table).decode()


def _raw(token: str) -> bytearray:
    standard = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    table = bytes.maketrans(xbogus.ALPHABET.encode(), standard)
    return bytearray(base64.b64decode(token.encode().translate(table)))


@sdk_vectors
def test_encode_reproduces_sdk_vector(vector: dict[str, Any]) -> None:
    """Encoding the vector's inputs with its decoded constants gives the SDK's token."""
    decoded = vector["decoded"]
    token = xbogus.encode(
        vector["query"],
        vector["body"],
        vector["user_agent"],
        decoded["ts"],
        decoded["canvas"],
        tuple(decoded["flags"]),
    )
    assert token == vector["expected_x_bogus"]


@sdk_vectors
def test_decode_reads_sdk_vector(vector: dict[str, Any]) -> None:
    """Decoding the SDK's token yields the vector's time, canvas and flags."""
    fields = xbogus.decode(vector["expected_x_bogus"])
    decoded = vector["decoded"]
    assert (fields.timestamp, fields.canvas, fields.flags) == (
        decoded["ts"],
        decoded["canvas"],
        tuple(decoded["flags"]),
    )
    assert fields.timestamp == vector["pinned_timestamp_s"]


@sdk_vectors
def test_decoded_tails_match_sdk_inputs(vector: dict[str, Any]) -> None:
    """The SDK token's three hash tails are those of its query, body and UA."""
    fields = xbogus.decode(vector["expected_x_bogus"])
    assert fields.query_tail == _double_md5_tail(vector["query"])
    assert fields.body_tail == _double_md5_tail(vector["body"])
    assert fields.ua_tail == _ua_tail(vector["user_agent"], fields.flags)


def test_encode_reproduces_public_go_vector() -> None:
    """The smalls0098/xb Go test vector is reproduced."""
    assert xbogus.encode(GO_QUERY, "", GO_UA, 1710927309, 3845494467, (0, 1, 14)) == GO_EXPECTED


def test_every_token_starts_with_dfsz() -> None:
    """The constant leading bytes and keystream make every token start with DFSz."""
    assert VALID.startswith("DFSz")
    assert len(VALID) == 28


@given(query=st.text(), body=st.text(), user_agent=st.text(), ts=u32, canvas=u32, flags=flag_bytes)
def test_decode_inverts_encode(
    query: str, body: str, user_agent: str, ts: int, canvas: int, flags: tuple[int, int, int]
) -> None:
    """decode(encode(x)) recovers time, canvas, flags and the inputs' hash tails."""
    fields = xbogus.decode(xbogus.encode(query, body, user_agent, ts, canvas, flags))
    assert fields == xbogus.XBogusFields(
        timestamp=ts,
        canvas=canvas,
        flags=flags,
        query_tail=_double_md5_tail(query),
        body_tail=_double_md5_tail(body),
        ua_tail=_ua_tail(user_agent, flags),
    )


@given(query=st.text(), body=st.text(), ts=u32, canvas=u32, flags=flag_bytes)
def test_verify_accepts_own_tokens(
    query: str, body: str, ts: int, canvas: int, flags: tuple[int, int, int]
) -> None:
    """verify() is true for a token encoded from the same inputs."""
    token = xbogus.encode(query, body, USER_AGENT, ts, canvas, flags)
    assert xbogus.verify(token, query, body, USER_AGENT)


@given(
    position=st.integers(min_value=0, max_value=27), replacement=st.sampled_from(xbogus.ALPHABET)
)
def test_verify_rejects_one_changed_character(position: int, replacement: str) -> None:
    """Any single changed character makes verify() false."""
    if VALID[position] == replacement:
        replacement = xbogus.ALPHABET[(xbogus.ALPHABET.index(replacement) + 1) % 64]
    tampered = VALID[:position] + replacement + VALID[position + 1 :]
    assert not xbogus.verify(tampered, "aid=1988&count=30&msToken=", "", USER_AGENT)


@pytest.mark.parametrize(
    ("query", "body", "user_agent"),
    [
        ("aid=1988&count=31&msToken=", "", USER_AGENT),
        ("aid=1988&count=30", "", USER_AGENT),
        ("aid=1988&count=30&msToken=", "{}", USER_AGENT),
        ("aid=1988&count=30&msToken=", "", USER_AGENT + " "),
    ],
    ids=["other-query", "query-without-mstoken", "other-body", "other-ua"],
)
def test_verify_rejects_other_inputs(query: str, body: str, user_agent: str) -> None:
    """verify() is false when the query, body or UA differs from the signed one."""
    assert not xbogus.verify(VALID, query, body, user_agent)


def test_verify_is_false_for_undecodable_token() -> None:
    """verify() answers false instead of raising on garbage."""
    assert not xbogus.verify("not a token", "aid=1988", "", USER_AGENT)


@pytest.mark.parametrize("token", ["", VALID[:-1], VALID + "D"], ids=["empty", "27", "29"])
def test_decode_rejects_wrong_length(token: str) -> None:
    """A token that is not 28 characters raises TokenDecodeError."""
    with pytest.raises(TokenDecodeError, match="28 characters"):
        xbogus.decode(token)


@pytest.mark.parametrize("bad", ["+", "=", "é", " "], ids=["plus", "pad", "non-ascii", "space"])
def test_decode_rejects_character_outside_alphabet(bad: str) -> None:
    """A character outside the custom alphabet raises TokenDecodeError."""
    with pytest.raises(TokenDecodeError, match="alphabet"):
        xbogus.decode(VALID[:10] + bad + VALID[11:])


def test_decode_rejects_wrong_leading_bytes() -> None:
    """A token whose bytes do not start with 02 FF raises TokenDecodeError."""
    raw = _raw(VALID)
    raw[0] = 0x03
    with pytest.raises(TokenDecodeError, match="02 FF"):
        xbogus.decode(_wrap(bytes(raw)))


def test_decode_rejects_bad_checksum() -> None:
    """A token whose checksum byte is off raises TokenDecodeError."""
    raw = _raw(VALID)
    raw[20] ^= 0x01
    with pytest.raises(TokenDecodeError, match="checksum"):
        xbogus.decode(_wrap(bytes(raw)))


def test_decode_rejects_wrong_marker_byte() -> None:
    """A block that does not start with 0x40 raises TokenDecodeError."""
    raw = _raw(VALID)
    raw[2] ^= 0x01
    raw[20] ^= 0x01  # keep the checksum right, so only the marker is wrong
    with pytest.raises(TokenDecodeError, match="0x40"):
        xbogus.decode(_wrap(bytes(raw)))


@pytest.mark.parametrize(
    ("ts", "canvas", "flags"),
    [(-1, 0, (0, 0, 0)), (2**32, 0, (0, 0, 0)), (0, 2**32, (0, 0, 0)), (0, 0, (0, 256, 0))],
    ids=["negative-ts", "ts-33-bits", "canvas-33-bits", "flag-not-a-byte"],
)
def test_encode_rejects_out_of_range_inputs(
    ts: int, canvas: int, flags: tuple[int, int, int]
) -> None:
    """Values that do not fit their wire width raise ValueError instead of wrapping."""
    with pytest.raises(ValueError, match=r"32-bit|bytes"):
        xbogus.encode("q", "", USER_AGENT, ts, canvas, flags)
