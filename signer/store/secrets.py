"""Secrets at rest: a wrapper that never prints its value, and the box that encrypts it.

Every secret the store keeps (an app secret, access and refresh tokens) is a :class:`Secret`
in memory, whose ``repr`` and ``str`` are ``'***'``, and AES-256-GCM ciphertext on disk. The
key comes from ``SIGNER_SECRET_KEY`` (any string; HKDF-SHA256 derives the AES key from it),
else from ``<data dir>/secret.key``, generated on first use with mode 0600. Each ciphertext
is bound to the column and row it belongs to (the GCM associated data), so a value copied
into another row does not decrypt, and it carries the key's id, so a wrong key is reported
as such instead of decrypting to garbage.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from typing import TYPE_CHECKING, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from signer.errors import ConfigError, SecretKeyMismatch

if TYPE_CHECKING:
    from pathlib import Path

#: The file the generated key lives in, inside the data dir.
KEY_FILE: Final = "secret.key"
#: The format byte of every ciphertext (version 1: AES-256-GCM).
_FORMAT: Final = b"\x01"
_KEY_ID_BYTES: Final = 8
_NONCE_BYTES: Final = 12
_HEADER: Final = len(_FORMAT) + _KEY_ID_BYTES + _NONCE_BYTES


class Secret:
    """A secret string that shows as ``'***'`` wherever it is printed, logged or repr'd.

    :meth:`reveal` is the one way to the value, for the code that must send it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself."""
        return self._value

    def __repr__(self) -> str:
        """Never the value."""
        return "'***'"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        """Never the value, whatever the format spec."""
        return "'***'"

    def __eq__(self, other: object) -> bool:
        """Equal to another Secret of the same value (compared in constant time)."""
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        """Hash of a digest, so equal secrets hash alike without exposing the value."""
        return hash(hashlib.sha256(self._value.encode()).digest())

    def __reduce__(self) -> str:
        """Refuse to be pickled (a pickle would carry the value in the clear)."""
        raise TypeError("a Secret cannot be pickled")


def _derive(material: bytes, info: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"tiktok-signer/store", info=info
    ).derive(material)


class SecretBox:
    """Encrypts and decrypts the store's secrets with one key (AES-256-GCM).

    ``key_material`` is any non-empty string (``SIGNER_SECRET_KEY`` or the key file's text);
    the AES key and the key id are derived from it with HKDF-SHA256.
    """

    __slots__ = ("_aead", "_key_id")

    def __init__(self, key_material: str) -> None:
        if not key_material:
            raise ConfigError("SIGNER_SECRET_KEY: must not be empty")
        material = key_material.encode()
        self._aead = AESGCM(_derive(material, b"aes-256-gcm v1"))
        self._key_id = _derive(material, b"key id v1")[:_KEY_ID_BYTES]

    def __repr__(self) -> str:
        """Never the key."""
        return "SecretBox(***)"

    def encrypt(self, secret: Secret, context: str) -> bytes:
        """Ciphertext of ``secret``, bound to ``context`` (which column of which row)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.reveal().encode(), context.encode())
        return _FORMAT + self._key_id + nonce + sealed

    def decrypt(self, blob: bytes, context: str) -> Secret:
        """The secret sealed in ``blob`` for ``context``.

        Raises :class:`~signer.errors.SecretKeyMismatch` when it was sealed with another key,
        for another row, or altered.
        """
        blob = bytes(blob)
        if len(blob) < _HEADER or blob[:1] != _FORMAT:
            raise SecretKeyMismatch(
                f"stored secret ({context}) is not in a format this version reads"
            )
        if not hmac.compare_digest(blob[1 : 1 + _KEY_ID_BYTES], self._key_id):
            raise SecretKeyMismatch(
                f"stored secret ({context}) was encrypted with a different key: "
                "set SIGNER_SECRET_KEY (or the data dir's secret.key) to the key it was stored with"
            )
        nonce = blob[1 + _KEY_ID_BYTES : _HEADER]
        try:
            plain = self._aead.decrypt(nonce, blob[_HEADER:], context.encode())
        except InvalidTag:
            raise SecretKeyMismatch(
                f"stored secret ({context}) does not decrypt: it was altered or moved"
            ) from None
        return Secret(plain.decode())


def load_box(secret_key: str | None, data_dir: Path) -> SecretBox:
    """The box of ``SIGNER_SECRET_KEY`` when set, else of ``<data_dir>/secret.key``.

    The key file is created on first use (atomically, mode 0600). One that other users may
    read or write is refused: whoever reads it reads every stored secret.
    """
    if secret_key is not None:
        return SecretBox(secret_key)
    return SecretBox(_key_file(data_dir))


def _key_file(data_dir: Path) -> str:
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        _create_key_file(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"SIGNER_SECRET_KEY: the key file {path} is open to other users "
            f"(mode {stat.S_IMODE(mode):04o}); run chmod 600 on it"
        )
    text = path.read_text(encoding="ascii").strip()
    if not text:
        raise ConfigError(f"SIGNER_SECRET_KEY: the key file {path} is empty")
    return text


def _create_key_file(path: Path) -> None:
    """Write a new random key to ``path`` with mode 0600, unless another process just did."""
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(key)
            file.flush()
            os.fsync(file.fileno())
        # A hard link never replaces an existing file: the first writer's key wins.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
