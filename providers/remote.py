"""Placeholder replaced by the remote provider (issue 5); see providers/registry.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from signer.errors import ProviderUnavailable

if TYPE_CHECKING:
    from providers.registry import ProviderContext
    from providers.typing import ProviderHealth, SignRequest, SignResult
    from signer.settings import RemoteConfig


class RemoteProvider:
    """Signs through an upstream sign server (being written)."""

    awaits = True

    def __init__(self, name: str, config: RemoteConfig, context: ProviderContext) -> None:
        self.name = name
        del config, context

    async def start(self) -> None:
        """Not written yet."""
        raise NotImplementedError

    async def sign(self, request: SignRequest) -> SignResult:
        """Not written yet."""
        raise ProviderUnavailable(f"{self.name}: {request.url}")

    async def aclose(self) -> None:
        """Not written yet."""

    def health(self) -> ProviderHealth:
        """Not written yet."""
        raise NotImplementedError
