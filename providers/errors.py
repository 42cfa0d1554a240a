"""Every error the signing library raises on purpose, in one flat module.

Each class carries a snake_case ``code`` and a ``message`` that names what failed; none
carries an HTTP status: the service's edge decides how to answer (``signer.errors``).
"""

from __future__ import annotations

from typing import Any, ClassVar


class ProvidersError(Exception):
    """Base of every error the providers library raises on purpose (except TokenDecodeError)."""

    code: ClassVar[str] = "provider_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ProviderError(ProvidersError):
    """Raised by a provider that cannot sign this request; the chain tries the next one."""


class ProviderDeclined(ProviderError):
    """Raised by a provider that does not sign this kind of request.

    For example a browser page holding another msToken than the one asked for. The chain
    moves on to the next provider without counting it as a failure.
    """

    code = "declined"


class Overloaded(ProviderDeclined):
    """Raised by a provider whose queue is full: it declines at once, the next one signs.

    Overload is not a failure of the provider: it never counts towards its breaker.
    """

    code = "overloaded"


class ProviderUnavailable(ProviderError):
    """Raised by a provider that is not started, stopped, or has failed."""

    code = "provider_unavailable"


class SelfCheckFailed(ProviderError):
    """Raised when a provider's output does not decode to what was asked."""

    code = "self_check_failed"


class UpstreamError(ProviderError):
    """Raised by a remote provider whose upstream sign server did not give a usable answer.

    An HTTP error status, an error body (SignTok's HTTP 200 ``{"status":"error"}``, Euler's
    ``{"code":401}``), a body that is not JSON, has the wrong shape or is too large, or a
    redirect to another host; the message names the remote and quotes the upstream's own.
    """

    code = "upstream_error"


class ProviderConfigError(ProvidersError):
    """Raised when a provider's configuration cannot work; the message names the setting.

    For example no Chromium binary at the configured path, or an SDK build that is not
    pinned. The service treats it as a settings error.
    """

    code = "invalid_setting"


class SdkMissing(ProviderConfigError):
    """Raised when a pinned SDK file is absent from the SDK cache or does not match its pin.

    The browser provider needs the file with ``SIGNER_SDK_SOURCE=file``; the message names
    the file and tells the operator to run ``tiktok-signer sdk fetch``.
    """

    code = "sdk_missing"


class ProviderStartFailed(ProvidersError):
    """Raised by ``Provider.start`` when its resources could not be brought up.

    For example Chromium exits at launch or the SDK page does not load in time; the
    configuration may be right, the machine could not run it.
    """

    code = "start_failed"


class SdkFetchFailed(ProvidersError):
    """Raised by ``sdk.fetch`` when the pinned SDK package cannot be fetched.

    npm is missing, fails or times out, or the tarball or one of its files does not match
    its pinned sha256; the message says which, and nothing was written to the cache.
    """

    code = "sdk_fetch_failed"


class TokenDecodeError(ValueError):
    """Raised by the X-Bogus / X-Gnarly / x-tt-params codecs on a token they cannot read."""
