"""The guard of the sign routes: client key first, then the rate limit.

A client sends its key in ``X-Api-Key`` or ``Authorization: Bearer``; the admin key is not a
client key. ``SIGNER_RATE_LIMIT_RPS`` and ``SIGNER_RATE_LIMIT_BURST`` give each client (its
key's name, or its address when keys are off) a token bucket; past it the answer is a 429
with ``RateLimit-*`` and ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING, ClassVar

import structlog
from aiohttp import web

from signer.access.keys import KeyStore
from signer.access.ratelimit import RateLimiter
from signer.errors import InvalidApiKey, MissingApiKey, RateLimited, SignerError
from signer.middleware import LOG_FIELDS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from signer.access.ratelimit import Clock
    from signer.metrics import Metrics
    from signer.middleware import Handler
    from signer.settings import Settings

log = structlog.get_logger("signer.access")

API_KEY_HEADER = "X-Api-Key"
#: The routes a client key and the rate limit guard, by their canonical path.
SIGN_ROUTES = frozenset({"/signature", "/sign"})
#: The client's name (never its key), for handlers and the request's log line.
CLIENT = web.RequestKey("client", str)


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
