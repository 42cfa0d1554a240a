"""The in-process backend of :class:`~signer.state.SharedState` (the embedded default).

Operator state, rate-limit counters and the signature cache live in this process. With
several workers a :class:`~signer.state.relay.Relay` carries every operator change through
the supervisor to all of them before :meth:`MemoryState.change` returns; counters and cache
stay per worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from signer.access.ratelimit import UNLIMITED, Decision, RateLimiter, WindowUsage
from signer.cache import SignatureCache
from signer.state import operator
from signer.state.operator import Followed

if TYPE_CHECKING:
    from providers.typing import SignResult
    from signer.cache import CacheKey
    from signer.state.operator import OperatorChange, OperatorState
    from signer.state.relay import Relay

log = structlog.get_logger("signer.state")

#: Whose windows read "unlimited" (every cap None) when no limit is configured.
_NO_LIMITS = RateLimiter(None)


class MemoryState(Followed):
    """Everything in this process; operator changes through ``relay`` when one is given."""

    def __init__(
        self,
        initial: OperatorState,
        *,
        limiter: RateLimiter | None = None,
        cache: SignatureCache | None = None,
        relay: Relay | None = None,
    ) -> None:
        super().__init__(initial)
        self._limiter = limiter
        self._cache = cache if cache is not None else SignatureCache(0, 1)
        self._relay = relay
        if relay is not None:
            relay.on_state(self.adopt)

    async def change(self, change: OperatorChange) -> OperatorState:
        """Apply a change here, or through the relay to every worker."""
        operator.check(self._operator, change)  # a bad change answers before it travels
        if self._relay is not None:
            new = await self._relay.change(change)
        else:
            new = operator.apply(self._operator, change)
        self.adopt(new)
        log.warning("operator_change", version=new.version, **new.changes[-1])
        return new

    async def hit(self, client: str) -> Decision:
        """Count one request against the client's limits."""
        if self._limiter is None:
            return UNLIMITED
        return self._limiter.check(client)

    async def usage(self, client: str) -> dict[str, WindowUsage]:
        """The client's windows, spending nothing."""
        return (self._limiter or _NO_LIMITS).usage(client)

    async def cache_get(self, key: CacheKey) -> SignResult | None:
        """A cached signature, if one is young enough."""
        return self._cache.get(key)

    async def cache_put(self, key: CacheKey, result: SignResult) -> None:
        """Remember a signature."""
        self._cache.put(key, result)

    async def start(self) -> None:
        """Listen to the relay, when there is one."""
        if self._relay is not None:
            self._relay.start()

    async def aclose(self) -> None:
        """Stop listening to the relay."""
        if self._relay is not None:
            self._relay.close()
