"""One fake clock for every test that needs time to pass on demand."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds that move only when the test advances them.

    Pass the instance where the code takes a ``clock`` callable (breakers, the cache, rate
    limits, the native provider's sessions); ``start`` sets the first reading.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """The current fake time, in seconds."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass; a monotonic clock never goes back."""
        if seconds < 0:
            raise ValueError("a monotonic clock does not go back")
        self.now += seconds
