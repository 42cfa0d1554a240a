"""The shapes every provider shares: what is asked, what is answered, the Protocol.

The service (``signer``) builds a :class:`SignRequest`, hands it to the chain of
providers, and renders the :class:`SignResult` it gets back. Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from providers.urls import browser_query, split_url

if TYPE_CHECKING:
    from collections.abc import Mapping

    from providers.config import BrowserConfig, NativeConfig, RemoteConfig

ProviderState = Literal["starting", "ready", "degraded", "failed", "stopped"]
#: ``http``: a fetch/XHR URL; ``ws``: a LIVE socket URL (``wss://``), signed by the SDK's
#: socket signer.
RequestKind = Literal["http", "ws"]


@dataclass(frozen=True, slots=True)
class Navigator:
    """The browser the caller must present with a signed URL, whatever API renders it."""

    user_agent: str
    language: str
    platform: str
    os: str
    screen_width: int
    screen_height: int
    device_scale_factor: float

    @property
    def browser_name(self) -> str:
        """``navigator.appCodeName``: always ``Mozilla`` in real browsers."""
        return "Mozilla"

    @property
    def browser_version(self) -> str:
        """``navigator.appVersion``: the user agent without its ``Mozilla/`` prefix."""
        return self.user_agent.removeprefix("Mozilla/")


@dataclass(frozen=True, slots=True)
class Persona:
    """The browser a signature claims to come from.

    The same values go into X-Bogus (flags, canvas, the UA hash), X-Gnarly (fields 1, 2,
    5, 7, 9, 10, 14) and the :class:`Navigator` returned to the caller, who must send
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
    gnarly_version: str = "5.3.2"
    gnarly_build: str | None = "1.0.0.417"
    #: The SDK build imitated (a key of :data:`providers.profiles.PROFILES`).
    sdk_build: str = "1.0.0.417"
    #: ``location.host + location.pathname`` of the page (X-Dynosaur record 0x35).
    location: str = "www.tiktok.com/"

    def navigator(self, user_agent: str | None = None) -> Navigator:
        """This persona's navigator, presenting ``user_agent`` (default: the persona's)."""
        return Navigator(
            user_agent=user_agent or self.user_agent,
            language=self.language,
            platform=self.platform,
            os=self.os,
            screen_width=self.screen_width,
            screen_height=self.screen_height,
            device_scale_factor=self.device_scale_factor,
        )


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
        sdk_build: str | None = None,
    ) -> bool:
        """Adopt what the SDK was seen to write; True when anything changed.

        ``sdk_build`` is the profile the observed tokens belong to (None: unchanged).
        """
        current = self.current
        build = current.sdk_build if sdk_build is None else sdk_build
        observed = (flags, canvas, gnarly_version, gnarly_build, build)
        if observed == (
            current.flags,
            current.canvas,
            current.gnarly_version,
            current.gnarly_build,
            current.sdk_build,
        ):
            return False
        self.current = dataclasses.replace(
            current,
            flags=flags,
            canvas=canvas,
            gnarly_version=gnarly_version,
            gnarly_build=gnarly_build,
            sdk_build=build,
        )
        return True


@dataclass(frozen=True, slots=True)
class SignRequest:
    """One URL to sign, already validated by the route that built it.

    ``ms_token`` is the token the SDK would append (its ``localStorage.xmst``); ``None``
    means "take the last ``msToken`` of the URL, or an empty one", which is what a caller
    who put the token in the URL expects.

    ``base`` (the URL before ``?``) and ``query`` are computed once, when the request is
    built: every provider signs that form. For ``http`` the query is percent-encoded as
    Chromium sends it (the fragment dropped); for ``ws`` it is the raw query the socket
    signer signs verbatim (``%20`` decoded to spaces, nothing else touched).
    """

    url: str
    method: str = "GET"
    body: str = ""
    user_agent: str | None = None
    ms_token: str | None = None
    kind: RequestKind = "http"
    base: str = field(init=False, repr=False, compare=False)
    query: str = field(init=False, repr=False, compare=False)
    #: The query as the caller wrote it (fragment dropped): what a 2026 build's page
    #: hands its SDK, which applies its own rewriting rule (``urls.sdk_query``).
    raw_query: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Split the URL into the form every provider signs."""
        base, raw = split_url(self.url)
        query = raw.replace("%20", " ") if self.kind == "ws" else browser_query(raw)
        # Frozen: set the derived fields the way the generated __init__ sets the others.
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "query", query)
        object.__setattr__(self, "raw_query", raw)


@dataclass(frozen=True, slots=True)
class SignResult:
    """What a provider produced for one :class:`SignRequest`.

    x-tt-params is not here: the service computes it from ``signed_url`` for every
    provider, so it never depends on which one signed.

    ``x_bogus`` is what the build appended (``"1"`` for 2026 builds; None for a socket
    URL); ``x_dynosaur`` is None for builds without it and for socket URLs;
    ``sdk_version`` is the SDK build the tokens come from, when known.
    """

    signed_url: str
    x_bogus: str | None
    x_gnarly: str | None
    ms_token: str
    user_agent: str
    navigator: Navigator
    provider: str
    #: SignTok's ``_signature``, when an upstream of that kind appended one.
    signature: str | None = None
    x_dynosaur: str | None = None
    sdk_version: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """A provider's view of itself, shown in ``/health`` and ``/admin/state``.

    ``last_error`` is public (``/health``): one short line, no URL, nothing a client or an
    upstream wrote. ``error_detail`` is the operator's (``/admin/state``): longer, still
    without any query, msToken or key.
    """

    name: str
    state: ProviderState
    last_error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error_detail: str | None = None


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

    def sdk_build_seen(self, provider: str, build: str, *, known: bool) -> None:
        """A provider signed with SDK ``build``; ``known`` is False for a build without profile."""


class NoEvents:
    """Events that go nowhere (tests and scripts that build a provider alone)."""

    def self_check_failed(self, provider: str) -> None:
        """Ignore it."""

    def browser_event(self, event: str) -> None:
        """Ignore it."""

    def sdk_build_seen(self, provider: str, build: str, *, known: bool) -> None:
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
