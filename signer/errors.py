"""Every error the service raises on purpose, in one flat module.

Each class carries the HTTP status and the snake_case ``code`` the error middleware
answers with; the middleware is the only place that turns them into responses. The
providers library's own errors (``providers.errors``) carry a code and no status:
:func:`provider_error_status` is how the edge answers one that reaches it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Mapping


class SignerError(Exception):
    """Base of every error the service raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self, message: str, *, headers: Mapping[str, str] | None = None, **details: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        #: Response headers the error needs (Retry-After, RateLimit-*, WWW-Authenticate).
        self.headers: dict[str, str] = dict(headers or {})
        self.details = details


class ConfigError(SignerError):
    """Raised at start-up when a setting is invalid; the message names the setting."""

    code = "invalid_setting"


class BadRequest(SignerError):
    """Raised when a request cannot be understood (wrong shape, bad value)."""

    status = 400
    code = "bad_request"


class EmptyBody(BadRequest):
    """Raised when a sign route gets no body at all."""

    code = "empty_body"


class InvalidJson(BadRequest):
    """Raised when a JSON body does not parse."""

    code = "invalid_json"


class InvalidUrl(BadRequest):
    """Raised when the URL to sign is not an absolute http(s) URL."""

    code = "invalid_url"


class PathNotSigned(BadRequest):
    """Raised for an HTTP path TikTok's SDK build in use does not sign (see its profile)."""

    code = "path_not_signed"


class UrlTooLong(BadRequest):
    """Raised when the URL to sign is longer than ``SIGNER_MAX_URL_BYTES``."""

    code = "url_too_long"


class UrlNotAllowed(BadRequest):
    """Raised when the URL's host is not on the allowlist (``SIGNER_ALLOWED_HOSTS``)."""

    status = 403
    code = "host_not_allowed"


class UnknownProvider(BadRequest):
    """Raised when a request names a provider that is not configured."""

    code = "unknown_provider"


class ProviderDisabled(BadRequest):
    """Raised when a client pins a provider that an operator switched off."""

    code = "provider_disabled"


class RequestTimeout(SignerError):
    """Raised when a request's body does not arrive within ``SIGNER_READ_TIMEOUT_S``."""

    status = 408
    code = "request_timeout"


class UnsignableRequest(BadRequest):
    """Raised when no provider could sign this request's own input correctly.

    Each provider that tried signs a plain probe correctly: what differs is the caller's
    input (characters the SDK and the codecs read differently).
    """

    code = "unsignable_request"


class UnsupportedMediaType(SignerError):
    """Raised when a body comes with a content type the route does not read."""

    status = 415
    code = "unsupported_media_type"


class BodyTooLarge(SignerError):
    """Raised when a body exceeds ``SIGNER_MAX_BODY_BYTES``."""

    status = 413
    code = "body_too_large"


class AllProvidersFailed(SignerError):
    """Raised by the chain when every provider failed; ``causes`` lists each one."""

    status = 503
    code = "all_providers_failed"


class ServiceOverloaded(AllProvidersFailed):
    """Raised by the chain when every provider failed and overload was one of the causes.

    The answer carries ``Retry-After``: the queues drain in a moment.
    """

    code = "overloaded"


class StateUnavailable(SignerError):
    """Raised when shared state cannot be reached or confirmed.

    An operator's change not confirmed by every worker in time, or Redis unreachable (a
    change, or a rate-limit check with ``SIGNER_RATE_LIMIT_FAIL=closed``).
    """

    status = 503
    code = "state_unavailable"


class Maintenance(SignerError):
    """Raised by the sign routes while an operator has maintenance mode on."""

    status = 503
    code = "maintenance"


class Unauthorized(SignerError):
    """Base of the refusals of a sign route for its client key (``SIGNER_API_KEYS_FILE``)."""

    status = 401
    code = "unauthorized"


class MissingApiKey(Unauthorized):
    """Raised when client keys are on and a sign request carries none.

    Neither ``X-Api-Key`` nor ``Authorization: Bearer`` holds a key.
    """

    code = "missing_api_key"


class InvalidApiKey(Unauthorized):
    """Raised when a sign request's key is not one of the client keys.

    The admin key is not a client key (unless it is also listed as one).
    """

    code = "invalid_api_key"


class RateLimited(SignerError):
    """Raised when a client has used up its token bucket (``SIGNER_RATE_LIMIT_*``).

    The client is its key's name, or its address when keys are off; the headers carry
    ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` and ``Retry-After``,
    the details ``retry_after_s`` and ``limit`` (which limit refused: ``second``,
    ``minute``, ``hour`` or ``day``).
    """

    status = 429
    code = "rate_limited"


class AuthThrottled(SignerError):
    """Raised when an address has sent too many wrong keys (client or admin) in a short time."""

    status = 429
    code = "auth_throttled"


class AdminUnauthorized(Unauthorized):
    """Raised when an /admin route gets no admin key or a wrong one."""

    code = "invalid_admin_key"


class NotFound(SignerError):
    """Raised when what a request names does not exist (a TikTok user, a LIVE room)."""

    status = 404
    code = "not_found"


class UserNotFound(NotFound):
    """Raised when TikTok knows no user of the unique id a LIVE request names."""

    code = "user_not_found"


class NotLive(NotFound):
    """Raised when a LIVE request names a user who has no LIVE room to connect to."""

    code = "no_live_room"


class NotImplementedHere(SignerError):
    """Raised by a route of a feature that is not built (sending LIVE chat)."""

    status = 501
    code = "not_implemented"


class TransportUnsupported(NotImplementedHere):
    """Raised when the LIVE transport configured cannot work with the SDK build in use.

    ``SIGNER_LIVE_TRANSPORT=fetch`` needs a build that signs ``webcast/im/fetch`` (2025),
    ``direct`` one with a socket signer (2026): the message names the setting to change.
    """

    code = "transport_unsupported"


class IncompleteSignature(SignerError):
    """Raised when a signed URL lacks what its API promises (``msToken`` for the LIVE clients)."""

    status = 502
    code = "incomplete_signature"


class TikTokError(SignerError):
    """Base of the failures of a call the service makes to TikTok itself (LIVE API)."""

    status = 502
    code = "tiktok_error"


class TikTokRefused(TikTokError):
    """Raised when TikTok refuses a call (403, 429, a guest visit without ``ttwid``)."""

    code = "tiktok_refused"


class TikTokUnavailable(TikTokError):
    """Raised when TikTok cannot be reached or answers what cannot be read."""

    code = "tiktok_unavailable"


class TikTokTimeout(TikTokError):
    """Raised when TikTok does not answer within the call's time-out."""

    status = 504
    code = "tiktok_timeout"


#: The HTTP status of a providers-library error that reaches the edge, by its code (an
#: operator's restart whose start fails, a provider that is unavailable); else 502.
_PROVIDER_STATUS = {
    "provider_unavailable": 503,
    "start_failed": 503,
    "invalid_setting": 503,
    "sdk_missing": 503,
}


def provider_error_status(code: str) -> int:
    """The HTTP status of a ``providers.errors`` error with this code."""
    return _PROVIDER_STATUS.get(code, 502)


class Conflict(SignerError):
    """Raised when a request would create what already exists."""

    status = 409
    code = "conflict"


class IntegrationExists(Conflict):
    """Raised when a partner integration of that id is already stored."""

    code = "integration_exists"


class AccountNotFound(NotFound):
    """Raised when an operation names a partner account the store does not hold."""

    code = "account_not_found"


class IntegrationNotFound(NotFound):
    """Raised when a request names a partner integration the store does not hold."""

    code = "integration_not_found"


class StoreError(SignerError):
    """Raised when the credential store cannot do what was asked (driver error, bad data)."""

    status = 503
    code = "store_unavailable"


class SecretKeyMismatch(StoreError):
    """Raised when a stored secret does not decrypt with the configured ``SIGNER_SECRET_KEY``.

    The stored value was encrypted with another key (or was altered): never garbage.
    """

    status = 500
    code = "secret_key_mismatch"


class WrongIntegrationKind(BadRequest):
    """Raised when a partner route names an integration of another kind (shop, business...)."""

    code = "wrong_integration_kind"


class ReauthorizationNeeded(Conflict):
    """Raised when a seller's account needs the OAuth authorization again (105xxx/360xxx)."""

    code = "reauthorization_needed"


class InvalidOAuthState(BadRequest):
    """Raised when an OAuth callback's ``state`` is unknown, used already or expired."""

    code = "invalid_state"


class InvalidWebhookSignature(Unauthorized):
    """Raised when a webhook's signature does not verify; nothing is delivered."""

    code = "invalid_signature"
