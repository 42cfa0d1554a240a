"""The guard of every signing route: client key, then rate limit, then maintenance.

A client sends its key in ``X-Api-Key`` or ``Authorization: Bearer`` (on the Euler routes
also in the ``apiKey`` query parameter); the admin key is not a client key. The rate limits
(``SIGNER_RATE_LIMIT_*``) count per client (its key's name, or its address when keys are
off); past them the answer is a 429 with ``RateLimit-*`` and ``Retry-After``. While an
operator has maintenance on, the answer is a 503 with ``Retry-After``. A request that
brings the admin key in ``X-Admin-Key`` passes without a client key, is not rate limited
and is served during maintenance (the monitor's probes).
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from signer.access.keys import KeyStore, key_bytes
from signer.access.ratelimit import RateLimiter
from signer.access.throttle import AuthThrottle
from signer.errors import (
    AdminUnauthorized,
    InvalidApiKey,
    Maintenance,
    MissingApiKey,
    RateLimited,
    SignerError,
)
from signer.middleware import LOG_FIELDS

if TYPE_CHECKING:
    from pydantic import SecretStr

    from signer.metrics import Metrics
    from signer.middleware import Handler
    from signer.settings import Settings
    from signer.state import SharedState

log = structlog.get_logger("signer.access")

API_KEY_HEADER = "X-Api-Key"
ADMIN_KEY_HEADER = "X-Admin-Key"
#: The client's name (never its key), for handlers and the request's log line.
CLIENT = web.RequestKey("client", str)
#: True on a request that brought the admin key (it may pin any provider).
ADMIN = web.RequestKey("admin", bool)


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


class Guard:
    """Wraps the handlers of guarded route groups (see :meth:`protect`)."""

    def __init__(
        self,
        keys: KeyStore,
        limits: str | None,
        state: SharedState,
        metrics: Metrics,
        admin_key: SecretStr | None = None,
    ) -> None:
        self.keys = keys
        #: The rate limits in words (for a 429's message); None when there are none.
        self.limits = limits
        self._state = state
        self._metrics = metrics
        self._admin_key = None if admin_key is None else key_bytes(admin_key.get_secret_value())
        #: Failed authentications per address, shared with the /admin routes.
        self.throttle = AuthThrottle()

    @classmethod
    def from_settings(cls, settings: Settings, state: SharedState, metrics: Metrics) -> Guard:
        """The guard for these settings (the counters themselves live in ``state``).

        Raises :class:`ConfigError` for a missing or bad keys file (naming the line, never
        a key) or a bad limit setting.
        """
        keys = KeyStore.from_settings(settings)
        limiter = RateLimiter.from_settings(settings)
        _log_configuration(settings, keys, limiter)
        limits = None if limiter is None else limiter.describe()
        return cls(keys, limits, state, metrics, settings.admin_key)

    def is_admin(self, request: web.Request) -> bool:
        """Whether the request brings the admin key in ``X-Admin-Key``.

        A wrong one counts as a failed authentication and is a 401 (throttled per address).
        """
        presented = request.headers.get(ADMIN_KEY_HEADER, "").strip()
        if self._admin_key is None or not presented:
            return False
        address = client_address(request.remote)
        self.throttle.check(address)
        if hmac.compare_digest(key_bytes(presented), self._admin_key):
            return True
        self.throttle.failed(address)
        raise AdminUnauthorized("wrong admin key", headers={"WWW-Authenticate": "Bearer"})

    def protect(
        self, handler: Handler, *, key_param: str | None = None, spend: bool = True
    ) -> Handler:
        """``handler`` behind the client key, the rate limit and maintenance mode.

        ``key_param`` names a query parameter that may carry the client key too (the Euler
        clients' ``apiKey``); with ``spend`` False the request is authenticated but spends
        nothing from the rate limit (reading what is left of it).
        """
        if self._admin_key is None and not self.keys.enabled and self.limits is None:
            return self._maintenance_only(handler)
        metered = spend and self.limits is not None

        async def guarded(request: web.Request) -> web.StreamResponse:
            if self._admin_key is not None and self.is_admin(request):
                request[ADMIN] = True
                return await handler(request)
            client = self._authenticate(request, key_param) if self.keys.enabled else None
            try:
                decision = None
                if metered:
                    decision = await self._state.hit(client or client_address(request.remote))
                    if not decision.allowed:
                        self._metrics.rate_limited()
                        raise RateLimited(
                            f"rate limit reached ({self.limits}); "
                            f"retry in {decision.retry_after_s} s",
                            headers=decision.headers(),
                            retry_after_s=decision.retry_after_s,
                            limit=decision.label,
                        )
                try:
                    self._check_maintenance()
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

        return guarded

    def _maintenance_only(self, handler: Handler) -> Handler:
        """With no keys and no limits only maintenance guards (the embedded defaults)."""
        state = self._state

        async def guarded(request: web.Request) -> web.StreamResponse:
            if state.operator.maintenance.enabled:
                self._check_maintenance()
            return await handler(request)

        return guarded

    def _check_maintenance(self) -> None:
        maintenance = self._state.operator.maintenance
        if maintenance.enabled:
            message = "the service is in maintenance" + (
                f": {maintenance.reason}" if maintenance.reason else ""
            )
            raise Maintenance(message, headers={"Retry-After": str(maintenance.retry_after_s)})

    def _authenticate(self, request: web.Request, key_param: str | None = None) -> str:
        address = client_address(request.remote)
        self.throttle.check(address)
        presented = presented_key(request)
        if presented is None and key_param is not None:
            presented = request.query.get(key_param, "").strip() or None
        if presented is None:
            self.throttle.failed(address)
            self._metrics.auth_failed(MissingApiKey.code)
            where = (
                f"{API_KEY_HEADER}, Authorization: Bearer or the {key_param} query parameter"
                if key_param
                else f"{API_KEY_HEADER} or Authorization: Bearer"
            )
            raise MissingApiKey(
                f"this route needs a client key, in {where}",
                headers={"WWW-Authenticate": "Bearer"},
            )
        client = self.keys.authenticate(presented)
        if client is None:
            self.throttle.failed(address)
            self._metrics.auth_failed(InvalidApiKey.code)
            # One message for every wrong key, so it tells nothing about the key it got.
            raise InvalidApiKey(
                "the key is not a client key of this service (the admin key is not one)",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        request[CLIENT] = client
        return client


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
        rate_limit_windows={name: cap for name, _, cap in limiter.windows} if limiter else {},
        rate_limit_per="client" if keys.enabled else "address",
    )
