"""The optional signature cache: reuse a signature for the same request for a short time.

Keyed by (URL, method, body, user agent, msToken). Bounded (oldest entries go first) and
never answers with a signature older than its TTL. Off when the TTL is 0.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from providers.typing import SignRequest, SignResult

CacheKey = tuple[str, str, str, str | None, str | None]


def cache_key(request: SignRequest) -> CacheKey:
    """What makes two requests get the same signature."""
    return (request.url, request.method, request.body, request.user_agent, request.ms_token)


class SignatureCache:
    """A TTL cache of sign results, insertion-ordered for cheap eviction."""

    def __init__(
        self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[CacheKey, tuple[float, SignResult]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """Whether the cache is on (a TTL above 0)."""
        return self.ttl_s > 0

    def __len__(self) -> int:
        """Entries held now (expired ones included until they are looked up or evicted)."""
        return len(self._entries)

    def get(self, key: CacheKey) -> SignResult | None:
        """The cached result, if there is one younger than the TTL."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, result = entry
        if self._clock() - stored_at >= self.ttl_s:
            del self._entries[key]
            return None
        return result

    def put(self, key: CacheKey, result: SignResult) -> None:
        """Remember a result; drop the oldest entries past ``max_entries``."""
        self._entries[key] = (self._clock(), result)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
