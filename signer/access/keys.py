"""Client API keys of the sign routes, stored hashed.

``SIGNER_API_KEYS_FILE`` holds one ``name:sha256-hex-of-key`` a line (``#`` comments),
``SIGNER_API_KEYS`` more such entries; with none at all the sign routes are open. Keys never
reach a log line, an error message or a response: only the client's name does.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from signer.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from signer.settings import Settings

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_HASH = re.compile(r"[0-9a-fA-F]{64}")
NAME_RULE = "1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"


def generate_key() -> str:
    """A new client key: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The sha256 hex digest of a key, as the keys file stores it."""
    return hashlib.sha256(key_bytes(key)).hexdigest()


def key_bytes(key: str) -> bytes:
    """A key as bytes, for hashing and constant-time comparison."""
    # surrogatepass: a header aiohttp could not decode still hashes instead of raising.
    return key.encode("utf-8", "surrogatepass")


def valid_name(name: str) -> bool:
    """Whether ``name`` may name a client."""
    return _NAME.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class ClientKey:
    """One client: its name and the sha256 digest of its key."""

    name: str
    digest: bytes


def parse_entry(entry: str, where: str) -> ClientKey:
    """Read one ``name:sha256-hex`` entry; ``where`` names it in the error (never the text)."""
    name, colon, digest = entry.strip().rpartition(":")
    if not colon:
        raise ConfigError(f"{where}: expected name:sha256-hex-of-key")
    if not valid_name(name):
        raise ConfigError(f"{where}: the client name must be {NAME_RULE}")
    if not _HASH.fullmatch(digest):
        raise ConfigError(
            f"{where}: expected the 64 hex characters of the key's sha256, not the key itself"
        )
    return ClientKey(name, bytes.fromhex(digest))


def read_keys_file(path: Path) -> list[tuple[ClientKey, str]]:
    """Every entry of a keys file, with where it is (``file line N``) for later errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"keys file {path} does not exist") from None
    except UnicodeDecodeError:
        raise ConfigError(f"keys file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"keys file {path} cannot be read: {exc.strerror}") from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        # Neither a name nor a hex digest holds '#', so it always starts a comment.
        entry = line.split("#", 1)[0].strip()
        if entry:
            where = f"keys file {path} line {number}"
            entries.append((parse_entry(entry, where), where))
    return entries


def append_key(path: Path, name: str, key: str) -> None:
    """Append a client's ``name:hash`` line; a new file is created readable by its owner only."""
    try:
        existing = path.read_bytes()
    except FileNotFoundError:
        existing = b""
    # A file whose last line lacks its newline must not swallow the new entry.
    separator = "\n" if existing and not existing.endswith(b"\n") else ""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
        handle.write(f"{separator}{name}:{hash_key(key)}\n")


class KeyStore:
    """The client keys, loaded once at start; empty means the sign routes are open."""

    def __init__(self, entries: Iterable[tuple[ClientKey, str]] = ()) -> None:
        self._keys: list[ClientKey] = []
        first: dict[str, str] = {}
        owners: dict[bytes, str] = {}
        for key, where in entries:
            if key.name in first:
                raise ConfigError(
                    f"{where}: client {key.name!r} is already named at {first[key.name]}"
                )
            if key.digest in owners:
                raise ConfigError(f"{where}: the same key as client {owners[key.digest]!r}")
            first[key.name] = where
            owners[key.digest] = key.name
            self._keys.append(key)

    @classmethod
    def load(cls, path: Path | None, entries: Sequence[str] = ()) -> KeyStore:
        """The keys of a keys file (when given) and of ``SIGNER_API_KEYS`` entries."""
        found = read_keys_file(path) if path is not None else []
        for number, entry in enumerate(entries, start=1):
            where = f"SIGNER_API_KEYS entry {number}"
            found.append((parse_entry(entry, where), where))
        return cls(found)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyStore:
        """The configured client keys; :class:`ConfigError` names a bad file line or entry."""
        return cls.load(settings.api_keys_file, settings.api_keys)

    @property
    def enabled(self) -> bool:
        """Whether any client key is configured (else the sign routes are open)."""
        return bool(self._keys)

    @property
    def names(self) -> list[str]:
        """The clients' names, in the order they were configured."""
        return [key.name for key in self._keys]

    def __len__(self) -> int:
        """How many client keys there are."""
        return len(self._keys)

    def __contains__(self, name: object) -> bool:
        """Whether a client of that name exists."""
        return any(key.name == name for key in self._keys)

    def authenticate(self, presented: str) -> str | None:
        """The name of the client whose key this is, or None.

        Every stored digest is compared, in constant time, whichever matches.
        """
        digest = hashlib.sha256(key_bytes(presented)).digest()
        found = None
        for key in self._keys:
            if hmac.compare_digest(digest, key.digest):
                found = key.name
        return found
