"""The one status view of the providers: what /health, /admin/state and /metrics show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from providers.typing import ProviderHealth


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """One provider as /health, /admin/state and /metrics show it (the one status view)."""

    name: str
    enabled: bool
    breaker: dict[str, object]
    health: ProviderHealth

    @property
    def usable(self) -> bool:
        """Whether it can take requests now: up, switched on, breaker not open."""
        return (
            self.health.state in {"ready", "degraded"}
            and self.enabled
            and self.breaker["state"] != "open"
        )
