"""Shared state: what every worker and replica of the service must agree on.

Operator state (maintenance, provider order and switches, recent changes), the clients'
rate-limit counters and the signature cache live behind one async :class:`SharedState`. The
memory backend (``memory.py``) keeps them in the process; with several workers the supervisor
relays operator state to each of them (``relay.py``), while counters and cache stay per
worker. A Redis backend shares all of it between workers and replicas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from providers.typing import SignResult
    from signer.access.ratelimit import Decision, WindowUsage
    from signer.cache import CacheKey
    from signer.state.operator import OperatorChange, OperatorState

    #: Called with the new operator state whenever it changes (here or elsewhere).
    Listener = Callable[[OperatorState], None]


class SharedState(Protocol):
    """The one seam for state shared between workers and replicas."""

    @property
    def operator(self) -> OperatorState:
        """The operator state as this process knows it now (no I/O: read on every request)."""

    async def change(self, change: OperatorChange) -> OperatorState:
        """Apply an operator's change everywhere; return the new state once it holds.

        Raises :class:`~signer.errors.BadRequest` (nothing changed) when it cannot apply.
        """

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every new operator state, whoever changed it."""

    async def hit(self, client: str) -> Decision:
        """Count one request of ``client`` against its limits; say whether it may pass."""

    async def usage(self, client: str) -> dict[str, WindowUsage]:
        """The client's minute, hour and day windows, spending nothing."""

    async def cache_get(self, key: CacheKey) -> SignResult | None:
        """A cached signature younger than the cache's TTL, or None."""

    async def cache_put(self, key: CacheKey, result: SignResult) -> None:
        """Remember a signature for the cache's TTL."""

    async def start(self) -> None:
        """Connect (to the supervisor, to Redis) on the running loop, before serving."""

    async def aclose(self) -> None:
        """Release connections and tasks."""
