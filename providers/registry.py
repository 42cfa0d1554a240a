"""Provider names and their factories; the configured list of names is the fallback order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.native import NativeProvider
from providers.persona import PersonaStore, persona_from
from signer.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from providers.typing import Provider
    from signer.settings import Settings

    Factory = Callable[[Settings, PersonaStore], Provider]

FACTORIES: Mapping[str, Factory] = {
    NativeProvider.name: NativeProvider.from_settings,
}


def check_names(names: tuple[str, ...]) -> None:
    """Fail at start-up on a provider name nobody registered."""
    unknown = [name for name in names if name not in FACTORIES]
    if unknown:
        known = ", ".join(sorted(FACTORIES))
        raise ConfigError(
            f"invalid setting providers: unknown provider {', '.join(unknown)} (known: {known})"
        )


def build_providers(settings: Settings) -> list[Provider]:
    """One provider per configured name, in order, sharing one persona."""
    check_names(settings.providers)
    personas = PersonaStore(persona_from(settings))
    return [FACTORIES[name](settings, personas) for name in settings.providers]
