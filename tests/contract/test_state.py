"""Every SharedState backend keeps the same promises (memory; memory relayed; Redis).

The memory backends run on a fake clock. Redis counts on its own clock (``TIME``), so over
Redis the same tests run in real time: they wait fractions of a second (a cache TTL of
:data:`REDIS_CACHE_TTL_S`, a bucket's refill) and never a whole window. A change made through
Redis reaches another replica through pub/sub: within :data:`REDIS_SPREAD_S`, not at once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import wait
from typing import TYPE_CHECKING

import pytest
import structlog

from providers.fake import FakeProvider
from providers.typing import SignRequest
from signer.access.ratelimit import RateLimiter
from signer.cache import SignatureCache
from signer.errors import BadRequest, StateUnavailable, UnknownProvider
from signer.settings import Settings
from signer.state import operator
from signer.state.memory import MemoryState
from signer.state.operator import OperatorState, SetMaintenance, SetProviders
from signer.state.redis import RedisState
from signer.state.relay import Relay, RelayHub
from signer.wiring import persona_from
from tests.fakes.clock import FakeClock
from tests.support import free_port
from tests.support.redis import RedisServer, redis_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from multiprocessing.connection import Connection

    from providers.typing import SignResult
    from signer.cache import CacheKey
    from signer.state import SharedState

ORDER = ("browser", "native", "up")
KEY: CacheKey = ("https://www.tiktok.com/api/x/?a=1", "GET", "", None, None)
#: The cache's TTL over Redis (real time); the memory backends keep 60 s on the fake clock.
REDIS_CACHE_TTL_S = 0.3
#: How long a change made through one Redis replica may take to hold on another.
REDIS_SPREAD_S = 1.0


@dataclass(frozen=True)
class Limits:
    """The limits a test's backends enforce (the ``limits`` fixture; parametrize to change)."""

    rps: float | None = None
    burst: int | None = None
    per_minute: int | None = 2

    def limiter(self, clock: Callable[[], float] = time.time) -> RateLimiter:
        """A limiter of these limits (over Redis only its limits are used)."""
        return RateLimiter(self.rps, self.burst, per_minute=self.per_minute, clock=clock)


class FakeTime:
    """The memory backends' time: it moves when the test says so."""

    fake = True

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def now(self) -> float:
        """The time the backends read."""
        return self.clock()

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.clock.advance(seconds)

    async def into_minute(self) -> None:
        """Half a minute into a minute (the clock starts on a minute)."""
        self.clock.advance(30 - self.clock() % 60)


class RealTime:
    """Redis's time: it passes, the test can only wait."""

    fake = False

    @staticmethod
    def now() -> float:
        """The time Redis reads (the same host's clock)."""
        return time.time()

    async def advance(self, seconds: float) -> None:
        """Wait ``seconds``."""
        await asyncio.sleep(seconds)

    async def into_minute(self) -> None:
        """Far enough from the minute's end for a test to stay inside it."""
        left = 60 - time.time() % 60
        if left < 3:
            await asyncio.sleep(left + 0.05)


@dataclass
class Backends:
    """The state one worker changes, the state another worker (or replica) reads, the time."""

    state: SharedState
    peer: SharedState
    time: FakeTime | RealTime
    #: How long a change may take to hold on ``peer`` (0: when ``change`` returns).
    spread_s: float
    cache_ttl_s: float


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


def memory_cache(clock: FakeClock) -> SignatureCache:
    return SignatureCache(ttl_s=60, max_bytes=1_000_000, clock=clock)


async def _memory(limits: Limits, _: pytest.FixtureRequest) -> AsyncIterator[Backends]:
    clock = FakeClock(1_800_000_000.0)
    state = MemoryState(
        operator.initial(ORDER), limiter=limits.limiter(clock), cache=memory_cache(clock)
    )
    await state.start()
    yield Backends(state, state, FakeTime(clock), 0.0, 60.0)
    await state.aclose()


async def _relayed(limits: Limits, _: pytest.FixtureRequest) -> AsyncIterator[Backends]:
    clock = FakeClock(1_800_000_000.0)
    initial = operator.initial(ORDER)
    hub = Hub(initial)
    hub.start()
    one, two = (
        MemoryState(
            initial,
            limiter=limits.limiter(clock),
            cache=memory_cache(clock),
            relay=Relay(connection, initial),
        )
        for connection in hub.theirs
    )
    await one.start()
    await two.start()
    yield Backends(one, two, FakeTime(clock), 0.0, 60.0)
    await one.aclose()
    await two.aclose()
    hub.stop()


def replica(
    server: RedisServer,
    prefix: str,
    limits: Limits | None = Limits(),
    *,
    fail_open: bool = True,
    cache_max_bytes: int = 1_000_000,
    url: str | None = None,
) -> RedisState:
    """One replica's state on ``server`` (replicas of one service share ``prefix``)."""
    return RedisState(
        url or server.url(),
        operator.initial(ORDER),
        prefix=prefix,
        limiter=None if limits is None else limits.limiter(),
        cache_ttl_s=REDIS_CACHE_TTL_S,
        cache_max_bytes=cache_max_bytes,
        fail_open=fail_open,
    )


async def _redis(limits: Limits, request: pytest.FixtureRequest) -> AsyncIterator[Backends]:
    server: RedisServer = request.getfixturevalue("redis")
    prefix = server.prefix()
    one, two = replica(server, prefix, limits), replica(server, prefix, limits)
    await one.start()
    await two.start()
    yield Backends(one, two, RealTime(), REDIS_SPREAD_S, REDIS_CACHE_TTL_S)
    await one.aclose()
    await two.aclose()


BACKENDS: dict[str, Callable[[Limits, pytest.FixtureRequest], AsyncIterator[Backends]]] = {
    "memory": _memory,
    "memory-relayed": _relayed,
    "redis": _redis,
}


@pytest.fixture
def limits() -> Limits:
    """Two requests a minute; a test parametrizes ``limits`` for others."""
    return Limits()


@pytest.fixture(params=sorted(BACKENDS))
async def backends(request: pytest.FixtureRequest, limits: Limits) -> AsyncIterator[Backends]:
    """Two workers' (or replicas') states of one backend, and its time."""
    async for found in BACKENDS[request.param](limits, request):
        yield found


async def eventually(check: Callable[[], bool | Awaitable[bool]], within: float) -> float:
    """Seconds until ``check`` holds (checked at once, then every 10 ms); fail past ``within``."""
    started = time.monotonic()
    while True:
        held = check()
        if not isinstance(held, bool):
            held = await held
        waited = time.monotonic() - started
        if held:
            return waited
        if waited > within:
            pytest.fail(f"did not hold within {within} s")
        await asyncio.sleep(0.01)


async def a_result() -> SignResult:
    return await FakeProvider("native", persona_from(Settings())).sign(SignRequest(KEY[0]))


async def test_starts_with_the_configured_order(backends: Backends) -> None:
    """Nothing is switched off and maintenance is off at start."""
    current = backends.state.operator
    assert (current.order, current.disabled, current.maintenance.enabled) == (
        ORDER,
        frozenset(),
        False,
    )


async def test_a_change_holds_everywhere_when_it_returns(backends: Backends) -> None:
    """Maintenance switched through one worker is what every worker reads (Redis: within 1 s)."""
    state, peer = backends.state, backends.peer
    heard: list[OperatorState] = []
    peer.subscribe(heard.append)
    new = await state.change(SetMaintenance(enabled=True, reason="sdk changed", retry_after_s=9))
    assert new.maintenance.enabled
    assert state.operator.version == new.version
    await eventually(lambda: peer.operator.version == new.version, backends.spread_s)
    assert peer.operator.maintenance.reason == "sdk changed"
    assert [s.maintenance.retry_after_s for s in heard] == [9]
    assert peer.operator.changes[-1]["action"] == "maintenance"


async def test_order_and_switches_change_together(backends: Backends) -> None:
    """Listed providers come first, the rest keep their place; the disabled set is replaced."""
    state, peer = backends.state, backends.peer
    new = await state.change(SetProviders(("up",), disabled=("browser",)))
    await eventually(lambda: peer.operator.version == new.version, backends.spread_s)
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
    state, peer = backends.state, backends.peer
    before = peer.operator
    with pytest.raises(error):
        await state.change(change)
    await backends.time.advance(0.05 if backends.spread_s else 0)
    assert state.operator == before
    assert peer.operator == before


async def test_limits_count_and_refuse(backends: Backends) -> None:
    """Two requests a minute pass, the third is refused with the wait until the window ends."""
    state, clock = backends.state, backends.time
    await clock.into_minute()
    allowed = [(await state.hit("alice")).allowed for _ in range(3)]
    assert allowed == [True, True, False]
    refused = await state.hit("alice")
    window_end = clock.now() // 60 * 60 + 60
    assert refused.label == "minute"
    assert refused.retry_after_s == pytest.approx(window_end - clock.now(), abs=1)
    assert refused.headers()["Retry-After"] == str(refused.retry_after_s)
    assert (await state.hit("bob")).allowed
    if clock.fake:  # over Redis a minute cannot pass here: see test_a_new_window_starts_whole
        await clock.advance(30)
        assert (await state.hit("alice")).allowed


@pytest.mark.parametrize("limits", [Limits(rps=10, burst=2, per_minute=None)])
async def test_the_bucket_refills_and_a_refusal_spends_nothing(backends: Backends) -> None:
    """A burst of two passes, the third waits a tenth of a second; refused ones spend nothing."""
    state, clock = backends.state, backends.time
    first = await state.hit("alice")
    assert (first.allowed, first.limit, first.remaining, first.label) == (True, 2, 1, "second")
    assert (await state.hit("alice")).allowed
    refused = [await state.hit("alice") for _ in range(3)]
    assert [d.allowed for d in refused] == [False] * 3
    assert (refused[0].retry_after_s, refused[0].limit, refused[0].remaining) == (1, 2, 0)
    await clock.advance(0.11)  # a tenth, and float slack at 1.8e9 s
    assert (await state.hit("alice")).allowed


async def test_usage_spends_nothing(backends: Backends) -> None:
    """Reading a client's windows twice reads the same, and the next request still passes."""
    state, clock = backends.state, backends.time
    await clock.into_minute()
    await state.hit("alice")
    first = await state.usage("alice")
    second = await state.usage("alice")
    assert first == second
    assert first["minute"].view() == {
        "max": 2,
        "remaining": 1,
        "reset_at": int(clock.now() // 60 * 60 + 60),
    }
    assert first["hour"].max is None
    assert (await state.hit("alice")).allowed
    assert (await backends.peer.usage("nobody"))["minute"].remaining == 2


async def test_cache_keeps_a_result_for_its_ttl(backends: Backends) -> None:
    """A stored signature is found until the TTL has passed, then not."""
    state = backends.state
    result = await a_result()
    assert await state.cache_get(KEY) is None
    await state.cache_put(KEY, result)
    assert await state.cache_get(KEY) == result
    await backends.time.advance(backends.cache_ttl_s + (0 if backends.time.fake else 0.05))
    assert await state.cache_get(KEY) is None


# -- Redis only: several replicas, the byte bound, Redis going away and coming back


async def test_two_replicas_share_one_limit(redis: RedisServer) -> None:
    """Two replicas hammering one client pass no more than burst + rate x elapsed together."""
    prefix = redis.prefix()
    limits = Limits(rps=20, burst=5, per_minute=None)
    one, two = replica(redis, prefix, limits), replica(redis, prefix, limits)
    accepted = {"one": 0, "two": 0}
    started = time.monotonic()
    while time.monotonic() - started < 0.5:
        for name, state in (("one", one), ("two", two)):
            accepted[name] += (await state.hit("alice")).allowed
    elapsed = time.monotonic() - started
    await one.aclose()
    await two.aclose()
    assert accepted["one"] > 0
    assert accepted["two"] > 0
    assert 5 + 20 * 0.5 - 2 <= sum(accepted.values()) <= 5 + 20 * elapsed + 1


async def test_two_replicas_share_one_cache(redis: RedisServer) -> None:
    """A signature one replica stored is what the other finds."""
    prefix = redis.prefix()
    one, two = replica(redis, prefix), replica(redis, prefix)
    result = await a_result()
    await one.cache_put(KEY, result)
    assert await two.cache_get(KEY) == result
    await one.aclose()
    await two.aclose()


async def test_the_cache_keeps_to_its_byte_bound(redis: RedisServer) -> None:
    """Past the bound the oldest entries go; the books never hold more than the bound."""
    result = await a_result()
    state = replica(redis, redis.prefix(), cache_max_bytes=4 * 4096)
    keys = [(f"https://www.tiktok.com/api/x/?n={n}", "GET", "", None, None) for n in range(12)]
    for key in keys:
        # Large URLs: a few entries fill the bound.
        await state.cache_put(key, replace(result, signed_url=key[0] + "&pad=" + "x" * 3000))
        assert 0 < await state.cache_bytes() <= 4 * 4096
    found = [await state.cache_get(key) is not None for key in keys]
    assert found[-1]
    assert not found[0]
    assert 1 <= sum(found) <= 4
    await state.aclose()


async def test_a_change_reaches_another_replica_within_a_second(redis: RedisServer) -> None:
    """Pub/sub carries a change to a running replica in well under a second."""
    prefix = redis.prefix()
    one, two = replica(redis, prefix), replica(redis, prefix)
    await one.start()
    await two.start()
    await asyncio.sleep(0.1)  # both subscribed: the poll cannot be what carries it
    new = await one.change(SetMaintenance(enabled=True))
    waited = await eventually(lambda: two.operator.version == new.version, REDIS_SPREAD_S)
    assert waited < REDIS_SPREAD_S
    late = replica(redis, prefix)  # a replica started later loads the stored state
    await late.start()
    assert late.operator == new
    for state in (one, two, late):
        await state.aclose()


async def test_a_new_window_starts_whole(redis: RedisServer) -> None:
    """A count kept from an earlier minute does not count in this one."""
    prefix = redis.prefix()
    state = replica(redis, prefix)
    await RealTime().into_minute()
    assert [(await state.hit("alice")).allowed for _ in range(3)] == [True, True, False]
    this_minute = int(time.time() // 60 * 60)
    # As if both requests had come a minute ago.
    redis.command("HSET", f"{prefix}:rate:alice", "minute:start", str(this_minute - 60))
    assert (await state.hit("alice")).allowed
    assert (await state.usage("alice"))["minute"].remaining == 1
    await state.aclose()


async def test_idle_clients_cost_nothing(redis: RedisServer) -> None:
    """A client's counters expire once its limits would be whole again."""
    prefix = redis.prefix()
    state = replica(redis, prefix, Limits(rps=50, burst=2, per_minute=None))
    await state.hit("alice")
    ttl_ms = int(redis.command("PTTL", f"{prefix}:rate:alice") or "-2")
    assert 0 < ttl_ms <= 20  # one token at 50 a second
    await asyncio.sleep(0.05)
    assert redis.command("EXISTS", f"{prefix}:rate:alice") == "0"
    await state.aclose()


async def test_redis_away_then_back() -> None:
    """Down: open allows, closed refuses, changes fail, the cache misses; back: all recover."""
    with redis_server() as server:
        prefix = server.prefix()
        opened = replica(server, prefix, fail_open=True)
        closed = replica(server, prefix, fail_open=False)
        await opened.start()
        await closed.start()
        await opened.cache_put(KEY, await a_result())
        server.stop()
        with structlog.testing.capture_logs() as logs:
            assert (await opened.hit("alice")).allowed
            assert (await opened.hit("alice")).allowed
            with pytest.raises(StateUnavailable):
                await closed.hit("alice")
            with pytest.raises(StateUnavailable):
                await opened.change(SetMaintenance(enabled=True))
            assert await opened.cache_get(KEY) is None
            assert not closed.operator.maintenance.enabled  # reading never fails
        fail_open = [entry for entry in logs if entry["event"] == "rate_limit_fail_open"]
        assert len(fail_open) == 1  # warned once, not once per request
        await asyncio.sleep(0.3)  # the subscriptions notice and back off
        server.start()  # empty: Redis kept nothing

        async def closed_allows() -> bool:
            try:
                return (await closed.hit("alice")).allowed
            except StateUnavailable:
                return False

        await eventually(closed_allows, 3.0)
        new = await opened.change(SetMaintenance(enabled=True, reason="back"))
        await eventually(lambda: closed.operator.version == new.version, 3.0)
        assert closed.operator.maintenance.reason == "back"
        await opened.aclose()
        await closed.aclose()


async def test_the_url_is_never_logged(redis: RedisServer) -> None:
    """A password in the URL appears in no log line, even when Redis refuses the connection."""
    url = f"redis://:a-secret-password@127.0.0.1:{free_port()}/0"  # nobody listens there
    state = replica(redis, redis.prefix(), url=url)
    with structlog.testing.capture_logs() as logs:
        await state.start()
        assert (await state.hit("alice")).allowed
        await state.cache_put(KEY, await a_result())
        await state.aclose()
    assert logs
    assert "a-secret-password" not in repr(logs)
