"""The one MD5 of the codecs."""

from __future__ import annotations

from providers._hash import md5, md5_hex


def test_md5_hex_of_utf8_text() -> None:
    """Known digests (RFC 1321), the text taken as UTF-8."""
    assert md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e"
    assert md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72"
    assert md5_hex("é") == md5("é".encode()).hex()


def test_md5_is_the_raw_digest() -> None:
    """The 16 raw bytes, as X-Bogus takes its two bytes from them."""
    assert md5(b"abc") == bytes.fromhex("900150983cd24fb0d6963f7d28e17f72")
