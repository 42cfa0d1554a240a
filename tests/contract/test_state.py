"""Every SharedState backend keeps the same promises (memory alone; memory relayed by a hub)."""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import wait
from typing import TYPE_CHECKING

import pytest

from providers.fake import FakeProvider
from providers.typing import SignRequest
from signer.access.ratelimit import RateLimiter
from signer.cache import SignatureCache
from signer.errors import BadRequest, UnknownProvider
from signer.settings import Settings
from signer.state import operator
from signer.state.memory import MemoryState
from signer.state.operator import OperatorState, SetMaintenance, SetProviders
from signer.state.relay import Relay, RelayHub
from signer.wiring import persona_from
from tests.fakes.clock import FakeClock

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from multiprocessing.connection import Connection

ORDER = ("browser", "native", "up")
KEY = ("https://www.tiktok.com/api/x/?a=1", "GET", "", None, None)


def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(None, per_minute=2, clock=clock)


def cache(clock: FakeClock) -> SignatureCache:
    return SignatureCache(ttl_s=60, max_bytes=1_000_000, clock=clock)


class Hub:
    """A RelayHub serving two workers' connections from a thread, as the supervisor does."""

    def __init__(self, initial: OperatorState) -> None:
        self.hub = RelayHub(initial)
        self.ours: list[Connection] = []
        self.theirs: list[Connection] = []
        for _ in range(2):
            ours, theirs = multiprocessing.Pipe()
            self.ours.append(ours)
            self.theirs.append(theirs)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            for ready in wait(self.ours, timeout=0.02):
                self.hub.serve(ready, self.ours)  # type: ignore[arg-type]

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._stop.set()
        self._thread.join()


Backends = tuple[MemoryState, MemoryState, FakeClock]


async def _memory() -> AsyncIterator[Backends]:
    clock = FakeClock(1_800_000_000.0)
    state = MemoryState(operator.initial(ORDER), limiter=limiter(clock), cache=cache(clock))
    await state.start()
    yield state, state, clock
    await state.aclose()


async def _relayed() -> AsyncIterator[Backends]:
    clock = FakeClock(1_800_000_000.0)
    initial = operator.initial(ORDER)
    hub = Hub(initial)
    hub.start()
    one, two = (
        MemoryState(
            initial,
            limiter=limiter(clock),
            cache=cache(clock),
            relay=Relay(connection, initial),
        )
        for connection in hub.theirs
    )
    await one.start()
    await two.start()
    yield one, two, clock
    await one.aclose()
    await two.aclose()
    hub.stop()


BACKENDS: dict[str, Callable[[], AsyncIterator[Backends]]] = {
    "memory": _memory,
    "memory-relayed": _relayed,
}


@pytest.fixture(params=sorted(BACKENDS))
async def backends(request: pytest.FixtureRequest) -> AsyncIterator[Backends]:
    """The state a worker changes, the state another worker reads, and the clock."""
    async for found in BACKENDS[request.param]():
        yield found


async def test_starts_with_the_configured_order(backends: Backends) -> None:
    """Nothing is switched off and maintenance is off at start."""
    state, _, _ = backends
    current = state.operator
    assert (current.order, current.disabled, current.maintenance.enabled) == (
        ORDER,
        frozenset(),
        False,
    )


async def test_a_change_holds_everywhere_when_it_returns(backends: Backends) -> None:
    """Maintenance switched through one worker is what every worker reads at once."""
    state, peer, _ = backends
    heard: list[OperatorState] = []
    peer.subscribe(heard.append)
    new = await state.change(SetMaintenance(enabled=True, reason="sdk changed", retry_after_s=9))
    assert new.maintenance.enabled
    assert peer.operator.maintenance.reason == "sdk changed"
    assert state.operator.version == peer.operator.version == new.version
    assert [s.maintenance.retry_after_s for s in heard] == [9]
    assert peer.operator.changes[-1]["action"] == "maintenance"


async def test_order_and_switches_change_together(backends: Backends) -> None:
    """Listed providers come first, the rest keep their place; the disabled set is replaced."""
    state, peer, _ = backends
    await state.change(SetProviders(("up",), disabled=("browser",)))
    assert peer.operator.order == ("up", "browser", "native")
    assert not peer.operator.enabled("browser")
    assert peer.operator.enabled("native")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (SetProviders(("native",), disabled=ORDER), BadRequest),
        (SetProviders(("nope",)), UnknownProvider),
        (SetProviders(("native", "native")), BadRequest),
    ],
)
async def test_a_rejected_change_changes_nothing(
    backends: Backends, change: SetProviders, error: type[Exception]
) -> None:
    """A change that cannot apply raises and leaves every worker's state as it was."""
    state, peer, _ = backends
    before = peer.operator
    with pytest.raises(error):
        await state.change(change)
    assert state.operator == before
    assert peer.operator == before


async def test_limits_count_and_refuse(backends: Backends) -> None:
    """Two requests a minute pass, the third is refused with the wait until the window ends."""
    state, _, clock = backends
    clock.advance(30)  # 30 s into a minute
    allowed = [(await state.hit("alice")).allowed for _ in range(3)]
    assert allowed == [True, True, False]
    refused = await state.hit("alice")
    assert (refused.label, refused.retry_after_s) == ("minute", 30)
    assert (await state.hit("bob")).allowed
    clock.advance(30)
    assert (await state.hit("alice")).allowed


async def test_usage_spends_nothing(backends: Backends) -> None:
    """Reading a client's windows twice reads the same, and the next request still passes."""
    state, _, clock = backends
    await state.hit("alice")
    first = await state.usage("alice")
    second = await state.usage("alice")
    assert first == second
    assert first["minute"].view() == {
        "max": 2,
        "remaining": 1,
        "reset_at": int(clock.now // 60 * 60 + 60),
    }
    assert first["hour"].max is None
    assert (await state.hit("alice")).allowed


async def test_cache_keeps_a_result_for_its_ttl(backends: Backends) -> None:
    """A stored signature is found until the TTL has passed, then not."""
    state, _, clock = backends
    result = await FakeProvider("native", persona_from(Settings())).sign(SignRequest(KEY[0]))
    assert await state.cache_get(KEY) is None
    await state.cache_put(KEY, result)
    assert await state.cache_get(KEY) == result
    clock.advance(60)
    assert await state.cache_get(KEY) is None
