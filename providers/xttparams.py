"""x-tt-params: the legacy header holding the query AES-encrypted under a public key.

AES-128-CBC with key = IV = ASCII ``webapp1.0+202106``, PKCS#7 padding, standard Base64
(``shared/reference/web-signing.md`` section 4.3). Deterministic; nothing here is secret.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from providers import _b64
from providers.errors import TokenDecodeError

__all__ = ["KEY", "decrypt", "encrypt", "for_query"]

KEY = b"webapp1.0+202106"
_BLOCK_BITS = 128
_BLOCK_BYTES = _BLOCK_BITS // 8
_CIPHER = Cipher(algorithms.AES(KEY), modes.CBC(KEY))


def encrypt(plaintext: str) -> str:
    """Return the x-tt-params value for ``plaintext`` (UTF-8)."""
    data = plaintext.encode()
    fill = _BLOCK_BYTES - len(data) % _BLOCK_BYTES
    padded = data + bytes((fill,)) * fill  # PKCS#7
    encryptor = _CIPHER.encryptor()
    return _b64.encode(encryptor.update(padded) + encryptor.finalize())


def decrypt(token: str) -> str:
    """Return the plaintext of an x-tt-params value.

    Raises :class:`~providers.errors.TokenDecodeError` when the value is not Base64, not a
    whole number of AES blocks, badly padded, or not UTF-8 once decrypted.
    """
    try:
        data = _b64.decode(token)
    except ValueError as exc:
        raise TokenDecodeError(f"x-tt-params is not standard Base64: {exc}") from exc
    if not data or len(data) % _BLOCK_BYTES:
        raise TokenDecodeError(
            f"x-tt-params is {len(data)} bytes, not a whole number of {_BLOCK_BYTES}-byte blocks"
        )
    decryptor = _CIPHER.decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(_BLOCK_BITS).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        return plain.decode()
    except ValueError as exc:  # bad PKCS#7 padding, or UnicodeDecodeError
        raise TokenDecodeError("x-tt-params does not decrypt to padded UTF-8 text") from exc


def for_query(query: str) -> str:
    """Return the x-tt-params header for a query: ``encrypt(query + "&is_encryption=1")``."""
    return encrypt(query + "&is_encryption=1")
