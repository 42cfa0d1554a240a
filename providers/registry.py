"""Provider names and their factories; the configured list of names is the fallback order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from providers.browser import BrowserProvider
from providers.native import NativeProvider
from providers.persona import PersonaStore, persona_from
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


def check_names(names: tuple[str, ...]) -> None:
    """Fail at start-up on a provider name nobody registered."""
    unknown = [name for name in names if name not in FACTORIES]
    if unknown:
        known = ", ".join(sorted(FACTORIES))
        raise ConfigError(
            f"invalid setting providers: unknown provider {', '.join(unknown)} (known: {known})"
        )


def build_providers(settings: Settings, metrics: Metrics) -> list[Provider]:
    """One provider per configured name, in order, sharing one persona."""
    check_names(settings.providers)
    context = ProviderContext(settings, PersonaStore(persona_from(settings)), metrics)
    return [FACTORIES[name](context) for name in settings.providers]
