"""The provider chain: try each provider in the configured order until one signs."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from signer.errors import AllProvidersFailed, ProviderError, UnknownProvider

if TYPE_CHECKING:
    from collections.abc import Sequence

    from providers.typing import Provider, ProviderHealth, SignRequest, SignResult
    from signer.metrics import Metrics

log = structlog.get_logger("signer.chain")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One provider's try at one request."""

    provider: str
    ok: bool
    seconds: float
    cause: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Signed:
    """A signature and how the chain got it."""

    result: SignResult
    attempts: tuple[Attempt, ...]


class Chain:
    """Providers in fallback order, each bounded by the sign timeout."""

    def __init__(self, providers: Sequence[Provider], metrics: Metrics, timeout_s: float) -> None:
        self.providers = list(providers)
        self._by_name = {provider.name: provider for provider in self.providers}
        self._metrics = metrics
        self._timeout_s = timeout_s

    @property
    def names(self) -> list[str]:
        """Provider names in fallback order."""
        return [provider.name for provider in self.providers]

    def health(self) -> list[ProviderHealth]:
        """Every provider's health, in order."""
        return [provider.health() for provider in self.providers]

    def select(self, only: str | None) -> list[Provider]:
        """The providers a request will try: all in order, or the one it names."""
        if only is None:
            return self.providers
        provider = self._by_name.get(only)
        if provider is None:
            raise UnknownProvider(
                f"provider {only!r} is not configured (configured: {', '.join(self.names)})"
            )
        return [provider]

    async def sign(self, request: SignRequest, only: str | None = None) -> Signed:
        """Sign with the first provider that succeeds; raise when all of them fail."""
        attempts: list[Attempt] = []
        for provider in self.select(only):
            started = time.perf_counter()
            try:
                if provider.awaits:
                    async with asyncio.timeout(self._timeout_s):
                        result = await provider.sign(request)
                else:
                    result = await provider.sign(request)
            except ProviderError as exc:
                attempts.append(self._failed(provider.name, started, exc.code, exc.message))
            except TimeoutError:
                cause = f"no answer within {self._timeout_s:g} s"
                attempts.append(self._failed(provider.name, started, "timeout", cause))
            except Exception as exc:
                log.exception("provider_crashed", provider=provider.name)
                attempts.append(self._failed(provider.name, started, "crash", repr(exc)))
            else:
                seconds = time.perf_counter() - started
                self._metrics.observe_sign(provider.name, seconds)
                attempts.append(Attempt(provider.name, ok=True, seconds=seconds))
                return Signed(result, tuple(attempts))
        causes = [
            {"provider": attempt.provider, "code": attempt.code, "message": attempt.cause}
            for attempt in attempts
        ]
        summary = "; ".join(f"{c['provider']}: {c['message']}" for c in causes)
        raise AllProvidersFailed(f"every provider failed ({summary})", causes=causes)

    def _failed(self, name: str, started: float, code: str, cause: str) -> Attempt:
        self._metrics.provider_failed(name, code)
        return Attempt(
            name, ok=False, seconds=time.perf_counter() - started, cause=cause, code=code
        )
