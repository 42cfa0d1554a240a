"""Who may call the sign routes, and how often: client API keys and per-client rate limits.

Client keys are stored hashed: ``SIGNER_API_KEYS_FILE`` holds one ``name:sha256-hex-of-key``
a line (``#`` comments), ``SIGNER_API_KEYS`` more such entries; with none at all the sign
routes are open. A client sends its key in ``X-Api-Key`` or ``Authorization: Bearer``. The
admin key is not a client key. ``SIGNER_RATE_LIMIT_RPS`` and ``SIGNER_RATE_LIMIT_BURST`` give
each client (its key's name, or its address when keys are off) a token bucket; past it the
answer is a 429 with ``RateLimit-*`` and ``Retry-After``.

Keys never reach a log line, an error message or a response: only the client's name does.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import os
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import structlog
from aiohttp import web

from signer.errors import ConfigError, InvalidApiKey, MissingApiKey, RateLimited, SignerError
from signer.middleware import LOG_FIELDS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

    from signer.metrics import Metrics
    from signer.middleware import Handler
    from signer.settings import Settings

    Clock = Callable[[], float]

log = structlog.get_logger("signer.access")

API_KEY_HEADER = "X-Api-Key"
#: The routes a client key and the rate limit guard, by their canonical path.
SIGN_ROUTES = frozenset({"/signature", "/sign"})
#: Token buckets kept at most; the least recently used go first.
MAX_BUCKETS = 100_000
#: The client's name (never its key), for handlers and the request's log line.
CLIENT = web.RequestKey("client", str)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_HASH = re.compile(r"[0-9a-fA-F]{64}")
NAME_RULE = "1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
# Float slack so a bucket refilled to 0.9999999999 still counts as one token.
_EPSILON = 1e-9


def generate_key() -> str:
    """A new client key: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The sha256 hex digest of a key, as the keys file stores it."""
    return hashlib.sha256(_key_bytes(key)).hexdigest()


def _key_bytes(key: str) -> bytes:
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
        digest = hashlib.sha256(_key_bytes(presented)).digest()
        found = None
        for key in self._keys:
            if hmac.compare_digest(digest, key.digest):
                found = key.name
        return found


@dataclass(frozen=True, slots=True)
class Decision:
    """What a rate limiter says about one request.

    ``limit`` is the bucket's size, ``remaining`` the whole tokens left, ``reset_s`` the
    seconds until the bucket is full again and ``retry_after_s`` (0 when allowed, else at
    least 1) the seconds until the next request may pass.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit``, ``-Remaining``, ``-Reset``; and ``Retry-After`` when refused."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class TokenBucket:
    """One client's tokens at the time of its last request."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """A token bucket per key (a client's name or address): ``rps`` refill, ``burst`` size.

    Memory is bounded: buckets idle long enough to be full again are dropped (a new one
    starts full anyway), and past ``max_buckets`` the least recently used go.
    """

    def __init__(
        self,
        rps: float,
        burst: int | None = None,
        *,
        clock: Clock = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self.rps = rps
        self.burst = burst if burst is not None else max(1, math.ceil(rps))
        self._clock = clock
        self._max_buckets = max_buckets
        self._refill_s = self.burst / rps
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Clock = time.monotonic
    ) -> RateLimiter | None:
        """The configured limiter, or None when rate limiting is off."""
        if settings.rate_limit_rps is None:
            if settings.rate_limit_burst is not None:
                raise ConfigError("SIGNER_RATE_LIMIT_BURST needs SIGNER_RATE_LIMIT_RPS as well")
            return None
        return cls(settings.rate_limit_rps, settings.rate_limit_burst, clock=clock)

    @property
    def bucket_count(self) -> int:
        """How many buckets are kept (no ``__len__``: an idle limiter must stay truthy)."""
        return len(self._buckets)

    def check(self, key: str) -> Decision:
        """Take one token from ``key``'s bucket if there is one."""
        now = self._clock()
        self._drop_idle(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.burst, now)
            if len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rps)
            bucket.stamp = now
        allowed = bucket.tokens + _EPSILON >= 1
        if allowed:
            bucket.tokens -= 1
        tokens = bucket.tokens
        return Decision(
            allowed=allowed,
            limit=self.burst,
            remaining=max(0, math.floor(tokens + _EPSILON)),
            reset_s=max(0, math.ceil((self.burst - tokens) / self.rps - _EPSILON)),
            retry_after_s=0 if allowed else max(1, math.ceil((1 - tokens) / self.rps - _EPSILON)),
        )

    def _drop_idle(self, now: float) -> None:
        # The least recently used come first; two per call keeps up with one new per call.
        for _ in range(2):
            if not self._buckets:
                return
            key, bucket = next(iter(self._buckets.items()))
            if now - bucket.stamp < self._refill_s:
                return
            del self._buckets[key]


def client_address(remote: str | None) -> str:
    """The rate-limit key of a caller without a client key: its address (IPv6: its /64)."""
    if remote is None:
        return "unknown"
    if ":" not in remote:
        return remote
    try:
        address = ipaddress.IPv6Address(remote)
    except ValueError:
        return remote
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    # One IPv6 host usually holds a whole /64; per address it could dodge the limit.
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def presented_key(request: web.Request, header: str = API_KEY_HEADER) -> str | None:
    """The key in ``header`` (X-Api-Key by default), else in Authorization: Bearer."""
    value = request.headers.get(header, "").strip()
    if value:
        return value
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class AccessControl:
    """The middleware guarding the sign routes: client key first, then the rate limit.

    Other routes (``/health``, ``/metrics``, ``/admin``) pass untouched. ``protected`` holds
    the guarded routes' canonical paths (``SIGN_ROUTES`` plus, e.g., the Euler routes).
    """

    __middleware_version__: ClassVar[int] = 1  # aiohttp: a new-style middleware

    def __init__(
        self,
        keys: KeyStore,
        limiter: RateLimiter | None,
        metrics: Metrics,
        protected: Iterable[str] = SIGN_ROUTES,
    ) -> None:
        self.keys = keys
        self.limiter = limiter
        self.protected = frozenset(protected)
        self._metrics = metrics

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authenticate and rate-limit a request to a protected route, then handle it."""
        resource = request.match_info.route.resource
        if resource is None or resource.canonical not in self.protected:
            return await handler(request)
        client = self._authenticate(request) if self.keys.enabled else None
        try:
            decision = None
            if self.limiter is not None:
                decision = self.limiter.check(client or client_address(request.remote))
                if not decision.allowed:
                    self._metrics.rate_limited()
                    raise RateLimited(
                        f"rate limit reached ({self.limiter.rps:g} requests a second, bursts "
                        f"of {self.limiter.burst}); retry in {decision.retry_after_s} s",
                        headers=decision.headers(),
                        retry_after_s=decision.retry_after_s,
                    )
            try:
                response = await handler(request)
            except SignerError as exc:  # a refused request still shows what is left
                if decision is not None:
                    exc.headers = {**decision.headers(), **exc.headers}
                raise
        finally:
            if client is not None:
                request[LOG_FIELDS] = {**request.get(LOG_FIELDS, {}), "client": client}
        if decision is not None and not response.prepared:
            response.headers.update(decision.headers())
        return response

    def _authenticate(self, request: web.Request) -> str:
        presented = presented_key(request)
        if presented is None:
            self._metrics.auth_failed(MissingApiKey.code)
            raise MissingApiKey(
                f"this route needs a client key, in {API_KEY_HEADER} or Authorization: Bearer",
                headers={"WWW-Authenticate": "Bearer"},
            )
        client = self.keys.authenticate(presented)
        if client is None:
            self._metrics.auth_failed(InvalidApiKey.code)
            # One message for every wrong key, so it tells nothing about the key it got.
            raise InvalidApiKey(
                "the key is not a client key of this service (the admin key is not one)",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        request[CLIENT] = client
        return client


def make_access_middleware(
    settings: Settings,
    metrics: Metrics,
    *,
    protected: Iterable[str] = SIGN_ROUTES,
    clock: Clock = time.monotonic,
) -> AccessControl | None:
    """The access middleware for these settings, or None when keys and limits are both off.

    Raises :class:`ConfigError` for a missing or bad keys file (naming the line, never a key).
    """
    keys = KeyStore.from_settings(settings)
    limiter = RateLimiter.from_settings(settings, clock=clock)
    _log_configuration(settings, keys, limiter)
    if not keys.enabled and limiter is None:
        return None
    return AccessControl(keys, limiter, metrics, protected)


def check_access(settings: Settings) -> None:
    """Fail at start-up, before any worker starts, on a bad keys file or limit setting."""
    KeyStore.from_settings(settings)
    RateLimiter.from_settings(settings)


def _log_configuration(settings: Settings, keys: KeyStore, limiter: RateLimiter | None) -> None:
    if settings.api_keys_file is not None and not keys.enabled:
        log.warning("api_keys_file_empty", path=str(settings.api_keys_file))
    admin_key = settings.admin_key
    if admin_key is not None and keys.enabled:
        also_client = keys.authenticate(admin_key.get_secret_value())
        if also_client is not None:
            log.warning("admin_key_is_a_client_key", client=also_client)
    log.info(
        "access_control",
        client_keys=len(keys),
        rate_limit_rps=None if limiter is None else limiter.rps,
        rate_limit_burst=None if limiter is None else limiter.burst,
        rate_limit_per="client" if keys.enabled else "address",
    )
