"""Per-client rate limits: a token bucket, and request counts per minute, hour and day.

The client is its key's name, or its address when keys are off. ``SIGNER_RATE_LIMIT_RPS``
and ``_BURST`` make the bucket; ``SIGNER_RATE_LIMIT_PER_MINUTE``, ``_PER_HOUR`` and
``_PER_DAY`` cap the requests of each calendar window (UTC). A request passes only when
the bucket has a token and every window has room; a refused request spends nothing.
"""

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

#: Clients whose counters are kept at most; the least recently seen go first.
MAX_BUCKETS = 100_000
#: The windows, by name, and their length in seconds.
WINDOWS = (("minute", 60), ("hour", 3600), ("day", 86400))
# Float slack so a bucket refilled to 0.9999999999 still counts as one token.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Decision:
    """What a rate limiter says about one request.

    ``limit`` is the size of the limit closest to exhaustion (or the one that refused),
    ``remaining`` what is left of it, ``reset_s`` the seconds until it is whole again and
    ``retry_after_s`` (0 when allowed, else at least 1) the seconds until the next request
    may pass. ``label`` names that limit: ``second`` (the bucket), ``minute``, ``hour`` or
    ``day``.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int
    label: str = "second"

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


@dataclass(frozen=True, slots=True)
class WindowUsage:
    """One window of a client: its cap, what is left, when it resets (Unix seconds).

    All three are None for a window that is not limited.
    """

    max: int | None
    remaining: int | None
    reset_at: int | None

    def view(self) -> dict[str, int | None]:
        """As JSON data (the LIVE API's ``{"max", "remaining", "reset_at"}``)."""
        return {"max": self.max, "remaining": self.remaining, "reset_at": self.reset_at}


class ClientCounters:
    """One client's tokens and window counts at the time of its last request."""

    __slots__ = ("counts", "stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp
        #: Window name -> (start of the window, requests counted in it).
        self.counts: dict[str, tuple[float, int]] = {}


class RateLimiter:
    """A token bucket (``rps`` refill, ``burst`` size) and window caps per client.

    Memory is bounded: clients idle long enough for everything to be whole again are
    dropped (a new client starts whole anyway), and past ``max_buckets`` the least
    recently seen go.
    """

    def __init__(
        self,
        rps: float | None,
        burst: int | None = None,
        *,
        per_minute: int | None = None,
        per_hour: int | None = None,
        per_day: int | None = None,
        clock: Clock = time.time,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self.rps = rps
        self.burst = 0 if rps is None else burst if burst is not None else max(1, math.ceil(rps))
        caps = {"minute": per_minute, "hour": per_hour, "day": per_day}
        self.windows = tuple(
            (name, length, cap) for name, length in WINDOWS if (cap := caps[name]) is not None
        )
        self._clock = clock
        self._max_buckets = max_buckets
        refill_s = 0.0 if rps is None else self.burst / rps
        self._idle_s = max([refill_s, *(length for _, length, _ in self.windows)])
        self._clients: OrderedDict[str, ClientCounters] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.time) -> RateLimiter | None:
        """The configured limiter, or None when rate limiting is off."""
        if settings.rate_limit_rps is None and settings.rate_limit_burst is not None:
            raise ConfigError("SIGNER_RATE_LIMIT_BURST needs SIGNER_RATE_LIMIT_RPS as well")
        windows = (
            settings.rate_limit_per_minute,
            settings.rate_limit_per_hour,
            settings.rate_limit_per_day,
        )
        if settings.rate_limit_rps is None and all(cap is None for cap in windows):
            return None
        per_minute, per_hour, per_day = windows
        return cls(
            settings.rate_limit_rps,
            settings.rate_limit_burst,
            per_minute=per_minute,
            per_hour=per_hour,
            per_day=per_day,
            clock=clock,
        )

    @property
    def bucket_count(self) -> int:
        """How many clients are kept (no ``__len__``: an idle limiter must stay truthy)."""
        return len(self._clients)

    def describe(self) -> str:
        """The limits in words, for a 429's message."""
        parts = [] if self.rps is None else [f"{self.rps:g} a second, bursts of {self.burst}"]
        parts += [f"{cap} a {name}" for name, _, cap in self.windows]
        return "; ".join(parts)

    def check(self, key: str) -> Decision:
        """Count one request of ``key`` if every limit has room; refused, it spends nothing."""
        now = self._clock()
        counters = self._counters(key, now)
        if self.rps is not None:
            elapsed = max(0.0, now - counters.stamp)
            counters.tokens = min(float(self.burst), counters.tokens + elapsed * self.rps)
        counters.stamp = now
        windows = [
            (name, length, cap, *self._window(counters, name, length, now))
            for name, length, cap in self.windows
        ]
        # A window refuses when one more request would go over its cap.
        refused = [
            window_decision(name, length, cap, start, count + 1, now)
            for name, length, cap, start, count in windows
            if count >= cap
        ]
        if self.rps is not None and counters.tokens + _EPSILON < 1:
            refused.append(self.bucket_decision(counters.tokens))
        if refused:
            return max(refused, key=lambda decision: decision.retry_after_s)
        passed = []
        if self.rps is not None:
            counters.tokens -= 1
            passed.append(self.bucket_decision(counters.tokens, spent=True))
        for name, length, cap, start, count in windows:
            counters.counts[name] = (start, count + 1)
            passed.append(window_decision(name, length, cap, start, count + 1, now))
        # The headers describe the limit closest to exhaustion.
        return min(passed, key=lambda decision: decision.remaining / decision.limit)

    def usage(self, key: str) -> dict[str, WindowUsage]:
        """Each window of ``key`` (minute, hour, day), spending nothing."""
        now = self._clock()
        counters = self._clients.get(key)
        found: dict[str, WindowUsage] = {name: WindowUsage(None, None, None) for name, _ in WINDOWS}
        for name, length, cap in self.windows:
            start = _window_start(now, length)
            count = 0
            if counters is not None and name in counters.counts:
                seen_start, seen = counters.counts[name]
                count = seen if seen_start == start else 0
            found[name] = WindowUsage(cap, max(0, cap - count), int(start + length))
        return found

    def bucket_decision(self, tokens: float, *, spent: bool = False) -> Decision:
        """The bucket's answer with ``tokens`` left (``spent``: this request took one)."""
        assert self.rps is not None  # noqa: S101 - only called with a bucket
        allowed = spent or tokens + _EPSILON >= 1
        return Decision(
            allowed=allowed,
            limit=self.burst,
            remaining=max(0, math.floor(tokens + _EPSILON)),
            reset_s=max(0, math.ceil((self.burst - tokens) / self.rps - _EPSILON)),
            retry_after_s=0 if allowed else max(1, math.ceil((1 - tokens) / self.rps - _EPSILON)),
        )

    def _counters(self, key: str, now: float) -> ClientCounters:
        self._drop_idle(now)
        counters = self._clients.get(key)
        if counters is None:
            counters = self._clients[key] = ClientCounters(self.burst, now)
            if len(self._clients) > self._max_buckets:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(key)
        return counters

    @staticmethod
    def _window(counters: ClientCounters, name: str, length: int, now: float) -> tuple[float, int]:
        """The window's start and count now (a new window starts from zero)."""
        start = _window_start(now, length)
        seen = counters.counts.get(name)
        if seen is None or seen[0] != start:
            seen = counters.counts[name] = (start, 0)
        return seen

    def _drop_idle(self, now: float) -> None:
        # The least recently seen come first; two per call keeps up with one new per call.
        for _ in range(2):
            if not self._clients:
                return
            key, counters = next(iter(self._clients.items()))
            if now - counters.stamp < self._idle_s:
                return
            del self._clients[key]


#: The answer for a client when no limit is configured (every state backend gives it).
UNLIMITED = Decision(allowed=True, limit=0, remaining=0, reset_s=0, retry_after_s=0)


def window_decision(
    name: str, length: int, cap: int, start: float, count: int, now: float
) -> Decision:
    """A window's answer with ``count`` requests in it (refused once it is over the cap)."""
    reset_s = max(1, math.ceil(start + length - now))
    allowed = count <= cap
    return Decision(
        allowed=allowed,
        limit=cap,
        remaining=max(0, cap - count),
        reset_s=reset_s,
        retry_after_s=0 if allowed else reset_s,
        label=name,
    )


def _window_start(now: float, length: int) -> float:
    """The start of the calendar window (UTC) that holds ``now``."""
    return math.floor(now / length) * length
