"""The one place that maps the service's settings to what the providers library takes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.config import BrowserConfig, NativeConfig
from providers.typing import Persona, PersonaStore, ProviderContext
from providers.useragent import navigator_platform
from signer import __version__
from signer.state import operator

if TYPE_CHECKING:
    from providers.typing import ProviderEvents
    from signer.settings import Settings
    from signer.state.operator import OperatorState

#: What the service calls itself on the wire (e.g. the remote provider's User-Agent).
CLIENT_ID = f"tiktok-signer/{__version__}"


def persona_from(settings: Settings) -> Persona:
    """The configured persona (``user_agent``, ``browser_*``, ``screen_*``, ``sdk_*``).

    The SDK profile of ``sdk_version`` supplies the environment and version strings;
    ``sdk_flags``, ``sdk_canvas``, ``gnarly_version`` and ``gnarly_sdk_build`` override
    them only when set.
    """
    profile = settings.profile
    return Persona(
        user_agent=settings.user_agent,
        platform=settings.browser_platform or navigator_platform(settings.user_agent) or "Win32",
        language=settings.browser_language,
        screen_width=settings.screen_width,
        screen_height=settings.screen_height,
        device_scale_factor=settings.device_scale_factor,
        os=settings.browser_os,
        flags=settings.flags,
        canvas=profile.canvas if settings.sdk_canvas is None else settings.sdk_canvas,
        gnarly_version=settings.gnarly_version or profile.gnarly_version,
        gnarly_build=(
            profile.gnarly_build
            if settings.gnarly_sdk_build is None
            else settings.gnarly_sdk_build or None
        ),
        sdk_build=profile.build,
    )


def native_config(settings: Settings) -> NativeConfig:
    """The native provider's slice."""
    return NativeConfig(
        order_policy=settings.gnarly_field_order,
        max_signatures=settings.session_max_signatures,
        max_age_s=settings.session_max_age_s,
    )


def browser_config(settings: Settings) -> BrowserConfig:
    """The browser provider's slice (the SDK file is resolved when the provider is built)."""
    return BrowserConfig(
        chromium_path=settings.chromium_path,
        origin=settings.tiktok_www_url,
        sdk_source=settings.sdk_source,
        sdk_dir=settings.sdk_dir,
        sdk_version=settings.sdk_version,
        pages=settings.browser_pages,
        batch_max=settings.browser_batch_max,
        queue_max=settings.browser_queue_max,
        stealth=settings.browser_stealth,
        start_timeout_s=settings.browser_start_timeout_s,
        batch_timeout_s=settings.sign_timeout_s,
        max_signatures=settings.session_max_signatures,
        max_age_s=settings.session_max_age_s,
    )


def standby_remotes(settings: Settings) -> list[str]:
    """Remotes that SIGNER_PROVIDERS does not list: built, but off until ordered in."""
    return [name for name in settings.remotes if name not in settings.providers]


def operator_state(settings: Settings) -> OperatorState:
    """The operator state at start: the configured order, then the standby remotes, off."""
    standby = standby_remotes(settings)
    return operator.initial([*settings.providers, *standby], disabled=standby)


def provider_context(
    settings: Settings, events: ProviderEvents, personas: PersonaStore | None = None
) -> ProviderContext:
    """Every slice the providers need, with one persona store shared by all of them."""
    return ProviderContext(
        personas=personas or PersonaStore(persona_from(settings)),
        native=native_config(settings),
        browser=browser_config(settings),
        remotes=dict(settings.remotes),
        events=events,
        client_id=CLIENT_ID,
    )
