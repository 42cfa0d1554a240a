"""Provider names and their factories; the configured list of names is the fallback order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from providers.browser import BrowserProvider
from providers.native import NativeProvider
from providers.persona import PersonaStore, persona_from
from providers.remote import RemoteProvider
from signer.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from providers.typing import Provider
    from signer.metrics import Metrics
    from signer.settings import Settings

    Factory = Callable[["ProviderContext"], Provider]


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What a provider factory gets: the settings, the shared persona, the app's metrics."""

    settings: Settings
    personas: PersonaStore
    metrics: Metrics


FACTORIES: Mapping[str, Factory] = {
    BrowserProvider.name: BrowserProvider.from_context,
    NativeProvider.name: NativeProvider.from_context,
}


def known_names(settings: Settings) -> list[str]:
    """The built-in provider names and the configured remotes' (``SIGNER_REMOTES``)."""
    return sorted({*FACTORIES, *settings.remotes})


def check_names(settings: Settings) -> None:
    """Fail at start-up on a provider name that is neither built in nor a remote."""
    known = known_names(settings)
    unknown = [name for name in settings.providers if name not in known]
    if unknown:
        raise ConfigError(
            f"invalid setting providers: unknown provider {', '.join(unknown)} "
            f"(known: {', '.join(known)})"
        )


def build_providers(settings: Settings, metrics: Metrics) -> list[Provider]:
    """One provider per configured name, in order, sharing one persona."""
    check_names(settings)
    context = ProviderContext(settings, PersonaStore(persona_from(settings)), metrics)
    providers: list[Provider] = []
    for name in settings.providers:
        remote = settings.remotes.get(name)
        if remote is not None:
            providers.append(RemoteProvider(name, remote, context))
        else:
            providers.append(FACTORIES[name](context))
    return providers
