"""The shapes every provider shares: what is asked, what is answered, the Protocol.

The service (``signer``) builds a :class:`SignRequest`, hands it to the chain of
providers, and renders the :class:`SignResult` it gets back. Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Mapping

    from providers.config import BrowserConfig, NativeConfig, RemoteConfig

ProviderState = Literal["starting", "ready", "degraded", "failed", "stopped"]


@dataclass(frozen=True, slots=True)
class Persona:
    """The browser a signature claims to come from.

    The same values go into X-Bogus (flags, canvas, the UA hash), X-Gnarly (fields 1, 2,
    5, 7, 9, 10, 14) and the ``navigator`` object returned to the caller, who must send
    exactly this user agent with the signed URL.
    """

    user_agent: str
    platform: str
    language: str
    screen_width: int
    screen_height: int
    device_scale_factor: float
    os: str
    flags: tuple[int, int, int]
    canvas: int
    #: X-Gnarly fields 9 and 10: the SDK's version string and build (None: no field 10).
    gnarly_version: str = "5.1.3-ZTCA"
    gnarly_build: str | None = "1.0.0.368"

    @property
    def browser_name(self) -> str:
        """``navigator.appCodeName``: always ``Mozilla`` in real browsers."""
        return "Mozilla"

    def navigator(self, user_agent: str | None = None) -> dict[str, Any]:
        """The ``navigator`` object of the API response (SignTok / carcabot keys)."""
        ua = user_agent or self.user_agent
        return {
            "deviceScaleFactor": self.device_scale_factor,
            "user_agent": ua,
            "browser_language": self.language,
            "browser_platform": self.platform,
            "browser_name": self.browser_name,
            # navigator.appVersion: the user agent without its "Mozilla/" prefix.
            "browser_version": ua.removeprefix("Mozilla/"),
            "os": self.os,
            "screen_width": self.screen_width,
            "screen_height": self.screen_height,
        }


class PersonaStore:
    """Holds the current persona, shared by the providers of one app.

    The browser provider publishes the flags and canvas it observes from TikTok's SDK, so
    the native fallback keeps signing as the same browser.
    """

    def __init__(self, persona: Persona) -> None:
        self.current = persona

    def publish(
        self,
        *,
        flags: tuple[int, int, int],
        canvas: int,
        gnarly_version: str,
        gnarly_build: str | None,
    ) -> bool:
        """Adopt what the SDK was seen to write; True when anything changed."""
        current = self.current
        observed = (flags, canvas, gnarly_version, gnarly_build)
        if observed == (
            current.flags,
            current.canvas,
            current.gnarly_version,
            current.gnarly_build,
        ):
            return False
        self.current = dataclasses.replace(
            current,
            flags=flags,
            canvas=canvas,
            gnarly_version=gnarly_version,
            gnarly_build=gnarly_build,
        )
        return True


@dataclass(frozen=True, slots=True)
class SignRequest:
    """One URL to sign, already validated by the route that built it.

    ``ms_token`` is the token the SDK would append (its ``localStorage.xmst``); ``None``
    means "take the last ``msToken`` of the URL, or an empty one", which is what a caller
    who put the token in the URL expects.
    """

    url: str
    method: str = "GET"
    body: str = ""
    user_agent: str | None = None
    ms_token: str | None = None


@dataclass(frozen=True, slots=True)
class SignResult:
    """What a provider produced for one :class:`SignRequest`."""

    signed_url: str
    x_bogus: str
    x_gnarly: str | None
    ms_token: str
    user_agent: str
    navigator: dict[str, Any]
    provider: str
    x_tt_params: str | None = None
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """A provider's view of itself, shown in ``/health`` and ``/admin/state``."""

    name: str
    state: ProviderState
    last_error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    """A way to sign; the chain tries providers in the configured order.

    ``sign`` raises :class:`providers.errors.ProviderError` (or a subclass) when it cannot
    sign; the chain then moves on to the next provider. ``awaits`` is False for a
    provider whose ``sign`` never waits (pure computation): the chain then spares it the
    timeout, which costs more than such a signature. ``checked`` is True when the provider
    verifies its own output with the codecs (or computes it with them); the chain checks
    the output of the others.
    """

    name: str
    awaits: bool
    checked: bool

    async def start(self) -> None:
        """Acquire resources (browser, sessions); called once before the first sign."""

    async def sign(self, request: SignRequest) -> SignResult:
        """Sign one request."""

    async def aclose(self) -> None:
        """Release every resource; the provider is not used afterwards."""

    def health(self) -> ProviderHealth:
        """Current state, cheap to call."""


class ProviderEvents(Protocol):
    """Where providers report what an operator watches (the service's metrics satisfy it)."""

    def self_check_failed(self, provider: str) -> None:
        """A signature a provider produced failed the codecs' check."""

    def browser_event(self, event: str) -> None:
        """A browser pool event: ``recycle``, ``page_crash``, ``browser_crash``, ``relaunch``."""


class NoEvents:
    """Events that go nowhere (tests and scripts that build a provider alone)."""

    def self_check_failed(self, provider: str) -> None:
        """Ignore it."""

    def browser_event(self, event: str) -> None:
        """Ignore it."""


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What a provider factory gets: its configuration slice, the shared persona, events.

    ``client_id`` is what the providers call themselves on the wire (the remote
    provider's ``User-Agent``), e.g. ``tiktok-signer/0.1.0``.
    """

    personas: PersonaStore
    native: NativeConfig
    browser: BrowserConfig
    remotes: Mapping[str, RemoteConfig] = field(default_factory=dict)
    events: ProviderEvents = field(default_factory=NoEvents)
    client_id: str = "tiktok-signer"
