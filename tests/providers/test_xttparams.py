"""x-tt-params: AES-128-CBC round trips, structure, a regression pin and bad input."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from providers import xttparams
from providers.errors import TokenDecodeError

QUERY = "aid=1988&count=30&msToken=abc"
# Computed once with this module and pasted in: any change to key, IV, padding or
# encoding shows up here.
PINNED = "mb+z3Pl1d/bc+N0SKnc7nYCt5g3ZXEsSByyTz+1k4S9xGKgIzEEPgjOL27oGpARj"


@given(text=st.text())
def test_decrypt_inverts_encrypt(text: str) -> None:
    """decrypt(encrypt(x)) == x for any text."""
    assert xttparams.decrypt(xttparams.encrypt(text)) == text


@given(text=st.text())
def test_ciphertext_is_whole_blocks_with_padding(text: str) -> None:
    """The ciphertext is the UTF-8 length rounded up to the next whole 16-byte block."""
    data = base64.b64decode(xttparams.encrypt(text), validate=True)
    assert len(data) == (len(text.encode()) // 16 + 1) * 16


def test_encrypt_is_deterministic() -> None:
    """The same plaintext always gives the same value (fixed key and IV)."""
    assert xttparams.encrypt(QUERY) == xttparams.encrypt(QUERY)


def test_for_query_appends_is_encryption() -> None:
    """for_query() encrypts the query with '&is_encryption=1' appended."""
    assert xttparams.decrypt(xttparams.for_query(QUERY)) == QUERY + "&is_encryption=1"


def test_for_query_matches_regression_pin() -> None:
    """for_query() of a fixed query still gives the value pinned when it was written."""
    assert xttparams.for_query(QUERY) == PINNED


def test_empty_plaintext_is_one_padding_block() -> None:
    """An empty plaintext encrypts to a single block of padding."""
    assert len(base64.b64decode(xttparams.encrypt(""))) == 16


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64!",
        "é",
        base64.b64encode(bytes(15)).decode(),
        base64.b64encode(bytes(16)).decode(),
    ],
    ids=["empty", "bad-chars", "non-ascii", "partial-block", "bad-padding"],
)
def test_decrypt_rejects_malformed_value(token: str) -> None:
    """Values that are not Base64 whole blocks with PKCS#7 padding raise TokenDecodeError."""
    with pytest.raises(TokenDecodeError):
        xttparams.decrypt(token)


def test_decrypt_rejects_non_utf8_plaintext() -> None:
    """A correctly padded plaintext that is not UTF-8 raises TokenDecodeError."""
    encryptor = Cipher(algorithms.AES(xttparams.KEY), modes.CBC(xttparams.KEY)).encryptor()
    block = b"\xff\xfe" + bytes([14]) * 14  # two invalid UTF-8 bytes, then PKCS#7 padding
    token = base64.b64encode(encryptor.update(block) + encryptor.finalize()).decode()
    with pytest.raises(TokenDecodeError, match="UTF-8"):
        xttparams.decrypt(token)
