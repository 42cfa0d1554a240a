"""The optional signature cache: reuse a signature for the same request for a short time.

Keyed by (URL, method, body, user agent, msToken). Bounded in bytes (oldest entries go
first) and never answers with a signature older than its TTL. Off when the TTL is 0.
"""

from __future__ import annotations

import sys
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
    """A TTL cache of sign results bounded in bytes, insertion-ordered for cheap eviction.

    An entry's size is the size of the strings it holds (the key's and the result's) plus
    :data:`ENTRY_OVERHEAD` for the objects around them: a few 60 KB URLs must not cost what
    ten thousand short ones do.
    """

    def __init__(
        self, ttl_s: float, max_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[CacheKey, tuple[float, SignResult, int]] = OrderedDict()
        #: Bytes held now (expired entries included until they are looked up or evicted).
        self.size = 0

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
        stored_at, result, size = entry
        if self._clock() - stored_at >= self.ttl_s:
            del self._entries[key]
            self.size -= size
            return None
        return result

    def put(self, key: CacheKey, result: SignResult) -> None:
        """Remember a result; drop the oldest entries until the cache fits ``max_bytes``."""
        size = entry_size(key, result)
        if size > self.max_bytes:
            return  # larger than the whole cache: not worth evicting everything for
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= old[2]
        self._entries[key] = (self._clock(), result, size)
        self.size += size
        while self.size > self.max_bytes:
            _, (_, _, dropped) = self._entries.popitem(last=False)
            self.size -= dropped


#: What an entry costs beyond its strings: the tuples, the result and its navigator.
ENTRY_OVERHEAD = 1024


def entry_size(key: CacheKey, result: SignResult) -> int:
    """The bytes an entry holds, near enough: its strings and a fixed overhead."""
    strings = (
        *key,
        result.signed_url,
        result.x_bogus,
        result.x_gnarly,
        result.x_dynosaur,
        result.ms_token,
        result.user_agent,
    )
    return ENTRY_OVERHEAD + sum(sys.getsizeof(text) for text in strings if text is not None)
