"""Every error the service raises on purpose, in one flat module.

Each class carries the HTTP status and the snake_case ``code`` the error middleware
answers with; the middleware is the only place that turns them into responses.
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


class SdkMissing(ConfigError):
    """Raised when a pinned SDK file is absent from the SDK cache or does not match its pin.

    The browser provider needs the file with ``SIGNER_SDK_SOURCE=file``; the message names
    the file and tells the operator to run ``tiktok-signer sdk fetch``.
    """

    code = "sdk_missing"


class SdkFetchFailed(SignerError):
    """Raised by ``tiktok-signer sdk fetch`` when the pinned SDK package cannot be installed.

    npm is missing, fails or times out, or the tarball or one of its files does not match
    its pinned sha256; the message says which, and nothing was written to the cache.
    """

    code = "sdk_fetch_failed"


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


class UrlNotAllowed(BadRequest):
    """Raised when the URL's host is not on the allowlist (``SIGNER_ALLOWED_HOSTS``)."""

    status = 403
    code = "host_not_allowed"


class UnknownProvider(BadRequest):
    """Raised when a request names a provider that is not configured."""

    code = "unknown_provider"


class UnsupportedMediaType(SignerError):
    """Raised when a body comes with a content type the route does not read."""

    status = 415
    code = "unsupported_media_type"


class BodyTooLarge(SignerError):
    """Raised when a body exceeds ``SIGNER_MAX_BODY_BYTES``."""

    status = 413
    code = "body_too_large"


class ProviderError(SignerError):
    """Raised by a provider that cannot sign this request; the chain tries the next one."""

    status = 502
    code = "provider_error"


class ProviderDeclined(ProviderError):
    """Raised by a provider that does not sign this kind of request.

    For example a browser page holding another msToken than the one asked for. The chain
    moves on to the next provider without counting it as a failure.
    """

    code = "declined"


class ProviderUnavailable(ProviderError):
    """Raised by a provider that is not started, stopped, or has failed."""

    status = 503
    code = "provider_unavailable"


class SelfCheckFailed(ProviderError):
    """Raised when a provider's output does not decode to what was asked."""

    code = "self_check_failed"


class AllProvidersFailed(SignerError):
    """Raised by the chain when every provider failed; ``causes`` lists each one."""

    status = 503
    code = "all_providers_failed"


class TokenDecodeError(ValueError):
    """Raised by the X-Bogus / X-Gnarly / x-tt-params codecs on a token they cannot read."""


class Maintenance(SignerError):
    """Raised by the sign routes while an operator has maintenance mode on."""

    status = 503
    code = "maintenance"


class UpstreamError(ProviderError):
    """Raised by a remote provider whose upstream sign server did not give a usable answer.

    An HTTP error status, an error body (SignTok's HTTP 200 ``{"status":"error"}``, Euler's
    ``{"code":401}``), a body that is not JSON, has the wrong shape or is too large, or a
    redirect to another host; the message names the remote and quotes the upstream's own.
    """

    code = "upstream_error"


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
    ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` and ``Retry-After``.
    """

    status = 429
    code = "rate_limited"


class AdminUnauthorized(Unauthorized):
    """Raised when an /admin route gets no admin key or a wrong one."""

    code = "invalid_admin_key"
