"""The chain: fallback, timeouts, self-check, circuit breakers and the signature cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import structlog

from providers.errors import Overloaded
from providers.fake import Behaviour, FakeProvider
from providers.typing import SignRequest, SignResult
from signer.breaker import Breaker
from signer.cache import SignatureCache, cache_key
from signer.chain import Chain
from signer.errors import (
    AllProvidersFailed,
    ProviderDisabled,
    ServiceOverloaded,
    UnknownProvider,
    UnsignableRequest,
)
from signer.metrics import Metrics
from signer.settings import Settings
from signer.state import operator
from signer.state.memory import MemoryState
from signer.state.operator import OperatorState, SetProviders
from signer.wiring import persona_from
from tests.fakes.clock import FakeClock

if TYPE_CHECKING:
    from collections.abc import Sequence

PERSONA = persona_from(Settings())
REQUEST = SignRequest(url="https://www.tiktok.com/api/post/item_list/?aid=1988")


def fakes(*behaviours: Behaviour) -> list[FakeProvider]:
    return [FakeProvider(f"p{i}", PERSONA, b) for i, b in enumerate(behaviours)]


def chain(
    providers: Sequence[FakeProvider],
    *,
    clock: FakeClock | None = None,
    cache: SignatureCache | None = None,
    failures: int = 3,
    state: MemoryState | None = None,
) -> tuple[Chain, Metrics]:
    metrics = Metrics()
    state = state or MemoryState(operator.initial([p.name for p in providers]), cache=cache)
    built = Chain(
        providers,
        state,
        metrics,
        timeout_s=0.05,
        breaker_failures=failures,
        breaker_cooldown_s=30,
        cache=cache is not None,
        clock=clock or FakeClock(),
    )
    return built, metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [
        ("fail", "provider_error"),
        ("hang", "timeout"),
        ("crash", "crash"),
        ("garbage", "self_check_failed"),
        ("decline", "declined"),
    ],
)
async def test_each_fault_falls_through_to_the_next(behaviour: Behaviour, code: str) -> None:
    """A failing first provider: the second signs; the attempt and the metric say why."""
    built, metrics = chain(fakes(behaviour, "ok"))
    signed = await built.sign(REQUEST)
    assert signed.result.provider == "p1"
    first = signed.attempts[0]
    assert (first.provider, first.ok, first.code) == ("p0", False, code)
    assert first.cause
    assert sample(metrics, "signer_provider_failures_total", provider="p0", reason=code) == 1
    assert sample(metrics, "signer_sign_duration_seconds_count", provider="p1", kind="http") == 1


async def test_garbage_is_logged_as_a_self_check_failure() -> None:
    """A provider returning a token that does not decode is caught and logged."""
    built, metrics = chain(fakes("garbage", "ok"))
    with structlog.testing.capture_logs() as logs:
        await built.sign(REQUEST)
    event = next(e for e in logs if e["event"] == "self_check_failed")
    assert event["provider"] == "p0"
    assert sample(metrics, "signer_self_check_failures_total", provider="p0") == 1


async def test_slow_provider_within_the_timeout_still_signs() -> None:
    """Slow is not failed: a provider answering inside the timeout is used."""
    slow = FakeProvider("slow", PERSONA, "ok", delay_s=0.02)
    built, _ = chain([slow, *fakes("ok")])
    signed = await built.sign(REQUEST)
    assert signed.result.provider == "slow"
    assert signed.attempts[0].seconds >= 0.02


async def test_all_failing_lists_every_cause() -> None:
    """When nothing signs, the error carries each provider's code and message."""
    built, _ = chain(fakes("fail", "hang", "garbage"))
    with pytest.raises(AllProvidersFailed) as caught:
        await built.sign(REQUEST)
    causes = caught.value.details["causes"]
    assert [(c["provider"], c["code"]) for c in causes] == [
        ("p0", "provider_error"),
        ("p1", "timeout"),
        ("p2", "self_check_failed"),
    ]


async def test_breaker_opens_after_consecutive_failures_and_rejects_fast() -> None:
    """After 3 failures the provider is no longer called until the cool-down."""
    providers = fakes("fail", "ok")
    built, metrics = chain(providers)
    for _ in range(3):
        await built.sign(REQUEST)
    assert built.entry("p0").breaker.state == "open"
    signed = await built.sign(REQUEST)
    assert providers[0].calls == 3
    assert signed.attempts[0].code == "circuit_open"
    assert (
        sample(metrics, "signer_provider_failures_total", provider="p0", reason="circuit_open") == 1
    )


async def test_breaker_half_opens_after_cooldown_and_closes_on_success(clock: FakeClock) -> None:
    """After the cool-down one trial goes through; its success closes the breaker."""
    providers = fakes("fail", "ok")
    built, _ = chain(providers, clock=clock)
    for _ in range(3):
        await built.sign(REQUEST)
    providers[0].behaviour = "ok"
    clock.advance(29)
    assert (await built.sign(REQUEST)).result.provider == "p1"
    clock.advance(2)
    assert (await built.sign(REQUEST)).result.provider == "p0"
    assert built.entry("p0").breaker.state == "closed"


async def test_failed_trial_reopens_the_breaker(clock: FakeClock) -> None:
    """A failing half-open trial opens the breaker again for a full cool-down."""
    providers = fakes("fail", "ok")
    built, _ = chain(providers, clock=clock)
    for _ in range(3):
        await built.sign(REQUEST)
    clock.advance(31)
    await built.sign(REQUEST)
    assert providers[0].calls == 4
    assert built.entry("p0").breaker.state == "open"
    await built.sign(REQUEST)
    assert providers[0].calls == 4


async def test_declines_do_not_open_the_breaker() -> None:
    """A provider that declines many requests is not treated as broken."""
    built, _ = chain(fakes("decline", "ok"))
    for _ in range(10):
        await built.sign(REQUEST)
    assert built.entry("p0").breaker.state == "closed"


async def tripped() -> tuple[list[FakeProvider], MemoryState, Chain]:
    """p0 failing (its breaker open) before p1; the operator state they follow."""
    providers = fakes("fail", "ok")
    state = MemoryState(operator.initial([p.name for p in providers]))
    built, _ = chain(providers, state=state)
    for _ in range(3):
        await built.sign(REQUEST)
    return providers, state, built


async def test_an_admin_probe_reaches_a_provider_behind_its_breaker_and_switch() -> None:
    """A probe with the admin key (pin_any) reaches a pinned provider whatever its state."""
    providers, state, built = await tripped()
    await state.change(SetProviders(("p1",), disabled=("p0",)))
    providers[0].behaviour = "ok"
    assert (await built.sign(REQUEST, "p0", pin_any=True)).result.provider == "p0"
    with pytest.raises(UnknownProvider):
        await built.sign(REQUEST, "nope", pin_any=True)


async def test_a_client_may_pin_only_a_usable_provider() -> None:
    """Pinned by a client, an open breaker is a 503 and a switched-off provider a 400."""
    providers, state, built = await tripped()
    calls = providers[0].calls
    with pytest.raises(AllProvidersFailed) as failed:
        await built.sign(REQUEST, "p0")
    assert failed.value.details["causes"][0]["code"] == "circuit_open"
    await state.change(SetProviders(("p1",), disabled=("p0",)))
    with pytest.raises(ProviderDisabled):
        await built.sign(REQUEST, "p0")
    assert providers[0].calls == calls


async def test_chain_follows_the_operator_order_and_switches() -> None:
    """The chain signs in the order and with the switches of the shared operator state."""
    providers = fakes("ok", "ok", "ok")
    state = MemoryState(operator.initial([p.name for p in providers]))
    built, _ = chain(providers, state=state)
    await state.change(SetProviders(("p2",), disabled=("p0",)))
    assert built.names == ["p2", "p0", "p1"]
    assert (await built.sign(REQUEST)).result.provider == "p2"
    await state.change(SetProviders(("p0", "p1", "p2"), disabled=("p0", "p2")))
    assert (await built.sign(REQUEST)).result.provider == "p1"
    assert [(s.name, s.enabled) for s in built.status()] == [
        ("p0", False),
        ("p1", True),
        ("p2", False),
    ]


async def test_a_provider_the_shared_state_does_not_name_still_serves() -> None:
    """A replica with a provider the shared order lacks (a newer deploy) keeps it, last."""
    providers = fakes("fail", "ok", "ok")
    state = MemoryState(operator.initial([p.name for p in providers], disabled=["p2"]))
    built, _ = chain(providers, state=state)
    # Another replica's state, stored before p1 and p2 existed there, is adopted.
    state.adopt(OperatorState(order=("p0", "gone"), version=7))
    assert built.names == ["p0", "p1", "p2"]
    assert [(s.name, s.enabled) for s in built.status()] == [
        ("p0", True),
        ("p1", True),
        ("p2", False),  # switched off here at start, and nobody said otherwise
    ]
    assert (await built.sign(REQUEST)).result.provider == "p1"


async def test_cache_serves_within_ttl_and_never_after(clock: FakeClock) -> None:
    """A cached signature is reused inside the TTL and never once it has expired."""
    providers = fakes("ok")
    cache = SignatureCache(ttl_s=5, max_bytes=1_000_000, clock=clock)
    built, metrics = chain(providers, cache=cache)
    first = await built.sign(REQUEST)
    clock.advance(4.9)
    second = await built.sign(REQUEST)
    assert second.cached
    assert second.result is first.result
    assert providers[0].calls == 1
    clock.advance(0.2)
    third = await built.sign(REQUEST)
    assert not third.cached
    assert providers[0].calls == 2
    assert sample(metrics, "signer_cache_lookups_total", result="hit") == 1
    assert sample(metrics, "signer_cache_lookups_total", result="miss") == 2


async def test_cache_key_covers_method_body_ua_and_token() -> None:
    """Different bodies, UAs or tokens are different signatures."""
    providers = fakes("ok")
    built, _ = chain(providers, cache=SignatureCache(ttl_s=60, max_bytes=1_000_000))
    for request in (
        REQUEST,
        SignRequest(url=REQUEST.url, method="POST", body="{}"),
        SignRequest(url=REQUEST.url, user_agent="Mozilla/5.0 other"),
        SignRequest(url=REQUEST.url, ms_token="t"),
    ):
        assert not (await built.sign(request)).cached
    assert providers[0].calls == 4


async def test_cache_is_bounded_in_bytes() -> None:
    """Long URLs fill the cache sooner: it never holds more than max_bytes, oldest go first."""
    cache = SignatureCache(ttl_s=60, max_bytes=1024 * 1024)
    provider = FakeProvider("p", PERSONA)
    keys = []
    for index in range(40):
        request = SignRequest(url=f"{REQUEST.url}&n={index}&pad={'x' * 60_000}")
        keys.append(cache_key(request))
        cache.put(keys[-1], await provider.sign(request))
        assert cache.size <= 1024 * 1024
    # Each entry holds its 60 KB URL twice (key and signed URL): about 8 fit in 1 MiB.
    assert 4 <= len(cache) <= 9
    assert cache.get(keys[0]) is None
    assert cache.get(keys[-1]) is not None


async def test_an_entry_larger_than_the_cache_is_not_kept() -> None:
    """A result bigger than the whole cache is not stored (it would evict everything)."""
    cache = SignatureCache(ttl_s=60, max_bytes=64 * 1024)
    request = SignRequest(url=f"{REQUEST.url}&pad={'x' * 100_000}")
    key = cache_key(request)
    cache.put(key, await FakeProvider("p", PERSONA).sign(request))
    assert (len(cache), cache.size) == (0, 0)


async def test_cache_off_by_default() -> None:
    """Without a TTL nothing is cached."""
    providers = fakes("ok")
    built, _ = chain(providers)
    await built.sign(REQUEST)
    await built.sign(REQUEST)
    assert providers[0].calls == 2


class Busy(FakeProvider):
    """A provider whose queue is full: it declines every request as overloaded."""

    async def sign(self, request: SignRequest) -> SignResult:
        """Decline at once."""
        del request
        self.calls += 1
        raise Overloaded(f"{self.name}: the queue is full")


async def test_overload_is_a_503_with_retry_after_and_never_opens_a_breaker() -> None:
    """Busy everywhere: 503 overloaded with Retry-After; the busy breaker stays closed."""
    busy = Busy("busy", PERSONA)
    built, _ = chain([busy, *fakes("fail")], failures=1)
    for _ in range(3):
        with pytest.raises(ServiceOverloaded) as refused:
            await built.sign(REQUEST)
    assert refused.value.headers == {"Retry-After": "1"}
    assert [c["code"] for c in refused.value.details["causes"]] == ["overloaded", "circuit_open"]
    assert built.entry("busy").breaker.state == "closed"


async def test_a_busy_provider_hands_over_to_the_next() -> None:
    """A full queue declines at once and the next provider signs."""
    built, _ = chain([Busy("busy", PERSONA), *fakes("ok")])
    assert (await built.sign(REQUEST)).result.provider == "p0"


def test_only_the_half_open_trial_closes_a_breaker(clock: FakeClock) -> None:
    """A call that began before the breaker opened and ends well does not close it."""
    breaker = Breaker(2, 30, clock)
    breaker.failure()
    breaker.failure()
    assert breaker.state == "open"
    breaker.success()  # the late success of a call started while closed
    assert breaker.snapshot()["state"] == "open"
    clock.advance(30)
    assert breaker.allow()
    breaker.success()
    assert breaker.snapshot()["state"] == "closed"


class PicksOnInput(FakeProvider):
    """Signs garbage for one caller's odd input only, correctly otherwise."""

    async def sign(self, request: SignRequest) -> SignResult:
        """Garbage when the query holds ``odd``."""
        self.behaviour = "garbage" if "odd" in request.query else "ok"
        return await super().sign(request)


async def test_a_self_check_failure_of_one_input_is_the_callers() -> None:
    """The provider signs the probe well: the failure is the input's, no breaker, no metric."""
    picky = PicksOnInput("picky", PERSONA)
    built, metrics = chain([picky, *fakes("ok")], failures=1)
    odd = SignRequest(url=REQUEST.url + "&odd=1")
    for _ in range(3):
        signed = await built.sign(odd)
        assert signed.result.provider == "p0"
        assert signed.attempts[0].code == "input_rejected"
    assert built.entry("picky").breaker.state == "closed"
    assert sample(metrics, "signer_self_check_failures_total", provider="picky") == 0
    assert (await built.sign(REQUEST)).result.provider == "picky"


async def test_a_provider_that_fails_the_probe_too_is_at_fault() -> None:
    """Garbage for every request, the probe too: counted, and its breaker opens."""
    built, metrics = chain(fakes("garbage", "ok"), failures=1)
    assert (await built.sign(REQUEST)).attempts[0].code == "self_check_failed"
    assert built.entry("p0").breaker.state == "open"
    assert sample(metrics, "signer_self_check_failures_total", provider="p0") == 1


async def test_an_input_no_provider_signs_correctly_is_a_400() -> None:
    """With only providers that trip on this input, the answer is the caller's error."""
    built, _ = chain([PicksOnInput("picky", PERSONA)])
    with pytest.raises(UnsignableRequest) as refused:
        await built.sign(SignRequest(url=REQUEST.url + "&odd=1"))
    assert refused.value.status == 400
    assert [c["code"] for c in refused.value.details["causes"]] == ["input_rejected"]
