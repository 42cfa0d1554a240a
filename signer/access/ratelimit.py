"""Per-client rate limits: a token bucket per client (its key's name, or its address)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from signer.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from signer.settings import Settings

    Clock = Callable[[], float]

#: Token buckets kept at most; the least recently used go first.
MAX_BUCKETS = 100_000
# Float slack so a bucket refilled to 0.9999999999 still counts as one token.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Decision:
    """What a rate limiter says about one request.

    ``limit`` is the bucket's size, ``remaining`` the whole tokens left, ``reset_s`` the
    seconds until the bucket is full again and ``retry_after_s`` (0 when allowed, else at
    least 1) the seconds until the next request may pass.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit``, ``-Remaining``, ``-Reset``; and ``Retry-After`` when refused."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class TokenBucket:
    """One client's tokens at the time of its last request."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """A token bucket per key (a client's name or address): ``rps`` refill, ``burst`` size.

    Memory is bounded: buckets idle long enough to be full again are dropped (a new one
    starts full anyway), and past ``max_buckets`` the least recently used go.
    """

    def __init__(
        self,
        rps: float,
        burst: int | None = None,
        *,
        clock: Clock = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self.rps = rps
        self.burst = burst if burst is not None else max(1, math.ceil(rps))
        self._clock = clock
        self._max_buckets = max_buckets
        self._refill_s = self.burst / rps
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Clock = time.monotonic
    ) -> RateLimiter | None:
        """The configured limiter, or None when rate limiting is off."""
        if settings.rate_limit_rps is None:
            if settings.rate_limit_burst is not None:
                raise ConfigError("SIGNER_RATE_LIMIT_BURST needs SIGNER_RATE_LIMIT_RPS as well")
            return None
        return cls(settings.rate_limit_rps, settings.rate_limit_burst, clock=clock)

    @property
    def bucket_count(self) -> int:
        """How many buckets are kept (no ``__len__``: an idle limiter must stay truthy)."""
        return len(self._buckets)

    def check(self, key: str) -> Decision:
        """Take one token from ``key``'s bucket if there is one."""
        now = self._clock()
        self._drop_idle(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.burst, now)
            if len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rps)
            bucket.stamp = now
        allowed = bucket.tokens + _EPSILON >= 1
        if allowed:
            bucket.tokens -= 1
        tokens = bucket.tokens
        return Decision(
            allowed=allowed,
            limit=self.burst,
            remaining=max(0, math.floor(tokens + _EPSILON)),
            reset_s=max(0, math.ceil((self.burst - tokens) / self.rps - _EPSILON)),
            retry_after_s=0 if allowed else max(1, math.ceil((1 - tokens) / self.rps - _EPSILON)),
        )

    def _drop_idle(self, now: float) -> None:
        # The least recently used come first; two per call keeps up with one new per call.
        for _ in range(2):
            if not self._buckets:
                return
            key, bucket = next(iter(self._buckets.items()))
            if now - bucket.stamp < self._refill_s:
                return
            del self._buckets[key]
