"""The one Base64 of the codecs: standard, and in the SDK's own alphabets."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers import _b64, xbogus, xgnarly

BOGUS = _b64.Alphabet(xbogus.ALPHABET, padded=False)
GNARLY = _b64.Alphabet(xgnarly.ALPHABET, padded=True)


@given(st.binary())
def test_encode_is_standard_base64(data: bytes) -> None:
    """Standard encoding is what the standard library writes."""
    assert _b64.encode(data) == base64.b64encode(data).decode("ascii")


@given(st.binary())
def test_decode_inverts_encode(data: bytes) -> None:
    """Standard Base64 round-trips."""
    assert _b64.decode(_b64.encode(data)) == data


@pytest.mark.parametrize("text", ["QU JD", "QUJDRA=", "QUJDRA=a", "QUJ\u00e9"])
def test_decode_is_strict(text: str) -> None:
    """Spaces, bad padding, data after padding and non-ASCII are refused."""
    with pytest.raises(ValueError, match=r"."):
        _b64.decode(text)


@given(st.binary())
def test_alphabet_is_standard_base64_with_its_digits_swapped(data: bytes) -> None:
    """A custom alphabet writes digit i where standard Base64 writes its digit i."""
    swap = str.maketrans(_b64.STANDARD, xgnarly.ALPHABET)
    assert GNARLY.encode(data) == _b64.encode(data).translate(swap)


@given(st.binary())
def test_alphabet_decode_inverts_encode(data: bytes) -> None:
    """Each alphabet round-trips, padding included where it is allowed."""
    assert GNARLY.decode(GNARLY.encode(data)) == data
    if len(data) % 3 == 0:
        assert BOGUS.decode(BOGUS.encode(data)) == data


def test_alphabet_refuses_standard_digits_it_does_not_have() -> None:
    """A standard digit missing from the alphabet ("+" for X-Bogus) is not read as one."""
    assert "+" not in xbogus.ALPHABET
    with pytest.raises(ValueError, match=r"."):
        BOGUS.decode("DFSz+aaa")


def test_unpadded_alphabet_refuses_padding() -> None:
    """X-Bogus has no padding: "=" is outside its alphabet; X-Gnarly reads it."""
    padded = GNARLY.encode(b"ab")
    assert padded.endswith("=")
    assert GNARLY.decode(padded) == b"ab"
    with pytest.raises(ValueError, match=r"."):
        BOGUS.decode(BOGUS.encode(b"abc")[:2] + "==")


def test_alphabet_must_be_64_distinct_characters() -> None:
    """A short or repeating alphabet is a programming error, caught at once."""
    with pytest.raises(ValueError, match="64 distinct"):
        _b64.Alphabet(xbogus.ALPHABET[:-1] + "D", padded=False)
