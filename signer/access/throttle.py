"""Failed authentications are throttled per client address (client keys and the admin key).

After ``failures`` wrong or missing keys from one address within ``window_s``, that address
gets 429 ``auth_throttled`` (with Retry-After) for the rest of the window, without its key
being looked at: guessing keys costs a window per few guesses.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from signer.errors import AuthThrottled

if TYPE_CHECKING:
    from collections.abc import Callable

#: Wrong keys allowed per address and window, and the window.
FAILURES = 10
WINDOW_S = 60.0
#: Addresses remembered at most (the least recently failing go first).
MAX_ADDRESSES = 100_000


class AuthThrottle:
    """Counts failed authentications per address in fixed windows from the first failure."""

    def __init__(
        self,
        failures: int = FAILURES,
        window_s: float = WINDOW_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.failures = failures
        self.window_s = window_s
        self._clock = clock
        self._max_addresses = max_addresses
        #: Address -> (start of its window, failures counted in it).
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def check(self, address: str) -> None:
        """Raise AuthThrottled while ``address`` has used up its failures."""
        seen = self._seen.get(address)
        if seen is None:
            return
        start, count = seen
        wait = start + self.window_s - self._clock()
        if wait <= 0:
            del self._seen[address]
            return
        if count >= self.failures:
            retry = max(1, math.ceil(wait))
            raise AuthThrottled(
                f"too many failed authentications from this address; retry in {retry} s",
                headers={"Retry-After": str(retry)},
            )

    def failed(self, address: str) -> None:
        """Count one failed authentication of ``address``."""
        now = self._clock()
        seen = self._seen.pop(address, None)
        if seen is None or now - seen[0] >= self.window_s:
            seen = (now, 0)
        self._seen[address] = (seen[0], seen[1] + 1)
        while len(self._seen) > self._max_addresses:
            self._seen.popitem(last=False)
