"""A circuit breaker per provider: stop calling a provider that keeps failing.

closed: calls go through; ``failures`` consecutive failures open it. open: calls are
refused at once until ``cooldown_s`` has passed; then one trial call goes through
(half-open): its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

BreakerState = Literal["closed", "open", "half_open"]
STATES: tuple[BreakerState, ...] = ("closed", "open", "half_open")


class Breaker:
    """One provider's breaker; the clock is injectable for tests."""

    def __init__(
        self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.state: BreakerState = "closed"
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_running = False

    def allow(self) -> bool:
        """Whether a call may go through now (half-open lets exactly one through)."""
        if self.state == "closed":
            return True
        if self.state == "open":
            if self.retry_in_s() > 0:
                return False
            self.state = "half_open"
            self._trial_running = False
        if self._trial_running:
            return False
        self._trial_running = True
        return True

    def retry_in_s(self) -> float:
        """Seconds until an open breaker lets a trial through (0 when it would now)."""
        if self.state != "open" or self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self._clock() - self.opened_at))

    def success(self) -> None:
        """A call succeeded: forget the failures; close when it was the half-open trial.

        A call that started before the breaker opened and ends well afterwards does not
        close it: only the trial does, once the cool-down has passed.
        """
        if self.state == "open":
            return
        self.reset()

    def failure(self) -> None:
        """A call failed: count it; open after the threshold, or at once when half-open."""
        self.failures += 1
        self._trial_running = False
        if self.state == "half_open" or self.failures >= self.threshold:
            self.state = "open"
            self.opened_at = self._clock()

    def release(self) -> None:
        """A call ended neither well nor badly (the provider declined): free the trial."""
        self._trial_running = False

    def reset(self) -> None:
        """Close and forget every failure (also when an operator restarted the provider)."""
        self.state = "closed"
        self.failures = 0
        self.opened_at = None
        self._trial_running = False

    def snapshot(self) -> dict[str, object]:
        """State for /admin/state and /health."""
        return {
            "state": self.state,
            "failures": self.failures,
            "retry_in_s": round(self.retry_in_s(), 3),
        }
