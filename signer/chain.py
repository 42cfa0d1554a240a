"""The provider chain: try each provider in the configured order until one signs.

Each provider has a circuit breaker (``signer.breaker``) and the sign timeout. A provider
that *declines* a request (it does not sign that kind) is skipped without counting as a
failure. The order and the switches are operator state (``signer.state``): the chain follows
every change, whichever worker or replica it was made through.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from providers import selfcheck
from providers.errors import Overloaded, ProviderDeclined, ProviderError, SelfCheckFailed
from providers.typing import SignRequest
from signer.breaker import Breaker
from signer.cache import cache_key
from signer.errors import (
    AllProvidersFailed,
    ProviderDisabled,
    ServiceOverloaded,
    UnknownProvider,
    UnsignableRequest,
)
from signer.status import ProviderStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from providers.typing import Provider, SignResult
    from signer.metrics import Metrics
    from signer.state import SharedState
    from signer.state.operator import OperatorState

log = structlog.get_logger("signer.chain")

#: A plain request every provider signs; signed correctly, it clears the provider of a
#: self-check failure (the failing request's own input was the difference).
PROBE = SignRequest("https://www.tiktok.com/api/signer/probe/?aid=1988")
#: How long a probe's verdict stands (one probe per provider per this, whatever the load).
PROBE_TTL_S = 5.0
#: The attempt code of a request whose own input its provider could not sign correctly.
INPUT_REJECTED = "input_rejected"


# Attempt and Signed are made on every request: plain slotted dataclasses are built four
# times faster than frozen ones.
@dataclass(slots=True)
class Attempt:
    """One provider's try at one request."""

    provider: str
    ok: bool
    seconds: float
    cause: str | None = None
    code: str | None = None


@dataclass(slots=True)
class Signed:
    """A signature and how the chain got it."""

    result: SignResult
    attempts: tuple[Attempt, ...]
    cached: bool = False


@dataclass(slots=True)
class Entry:
    """A provider in the chain, with its breaker and the lock that serialises its restarts."""

    provider: Provider
    breaker: Breaker
    restarting: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: When the provider last signed the probe, and whether it checked out.
    probed_at: float = float("-inf")
    probe_ok: bool = False


class Chain:
    """Providers in fallback order, each behind a breaker and bounded by the sign timeout."""

    def __init__(
        self,
        providers: Sequence[Provider],
        state: SharedState,
        metrics: Metrics,
        timeout_s: float,
        *,
        breaker_failures: int = 5,
        breaker_cooldown_s: float = 30.0,
        cache: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._by_name = {
            provider.name: Entry(provider, Breaker(breaker_failures, breaker_cooldown_s, clock))
            for provider in providers
        }
        self._state = state
        self._metrics = metrics
        self._timeout_s = timeout_s
        #: Whether the signature cache is on (it lives in the shared state).
        self.cache = cache
        self._active: list[Entry] = []
        # This process's own order and switches at start: what a provider the shared state
        # does not name follows (a replica of a newer deploy may have one the others lack).
        self._local = state.operator
        self._follow(state.operator)
        state.subscribe(self._follow)

    def _order(self, operator: OperatorState) -> list[str]:
        """The operator's order of our providers, then ours it does not name."""
        named = [name for name in operator.order if name in self._by_name]
        return named + [
            name for name in self._local.order if name in self._by_name and name not in named
        ]

    def _enabled(self, operator: OperatorState, name: str) -> bool:
        if name in operator.order:
            return operator.enabled(name)
        return self._local.enabled(name)

    def _follow(self, operator: OperatorState) -> None:
        """Take the operator's order and switches (precomputed: read on every request)."""
        self._active = [
            self._by_name[name] for name in self._order(operator) if self._enabled(operator, name)
        ]

    @property
    def providers(self) -> list[Provider]:
        """Every provider, in the current order (enabled or not)."""
        return [self._by_name[name].provider for name in self.names]

    @property
    def names(self) -> list[str]:
        """Provider names in the current order."""
        return self._order(self._state.operator)

    def entry(self, name: str) -> Entry:
        """The chain entry of a provider; UnknownProvider when it is not configured."""
        found = self._by_name.get(name)
        if found is None:
            raise UnknownProvider(
                f"provider {name!r} is not configured (configured: {', '.join(self.names)})"
            )
        return found

    def status(self) -> list[ProviderStatus]:
        """Every provider in the current order: switch, breaker and health."""
        operator = self._state.operator
        return [
            ProviderStatus(
                name=name,
                enabled=self._enabled(operator, name),
                breaker=self._by_name[name].breaker.snapshot(),
                health=self._by_name[name].provider.health(),
            )
            for name in self.names
        ]

    async def sign(
        self, request: SignRequest, only: str | None = None, *, pin_any: bool = False
    ) -> Signed:
        """Sign with the first provider that succeeds; raise when all of them fail.

        ``only`` names one provider that signs alone, without fallback, and never from the
        cache. It must be switched on and its breaker must let the call through, unless
        ``pin_any`` (the admin key: the monitor's probes see every provider as it is).
        """
        use_cache = only is None and self.cache
        if use_cache:
            cached = await self._state.cache_get(cache_key(request))
            self._metrics.cache_lookup(hit=cached is not None)
            if cached is not None:
                return Signed(cached, (), cached=True)
        entries = [self.entry(only)] if only is not None else self._active
        if only is not None and not pin_any and not self._enabled(self._state.operator, only):
            raise ProviderDisabled(f"provider {only!r} is switched off by the operator")
        attempts: list[Attempt] = []
        for entry in entries:
            if not pin_any and not self._may_try(entry, attempts):
                continue
            result, attempt = await self._try(entry, request)
            attempts.append(attempt)
            if result is not None:
                if use_cache:
                    await self._state.cache_put(cache_key(request), result)
                return Signed(result, tuple(attempts))
        causes = [
            {"provider": attempt.provider, "code": attempt.code, "message": attempt.cause}
            for attempt in attempts
        ]
        summary = "; ".join(f"{c['provider']}: {c['message']}" for c in causes) or "none enabled"
        codes = {attempt.code for attempt in attempts}
        if INPUT_REJECTED in codes and codes <= {INPUT_REJECTED, ProviderDeclined.code}:
            raise UnsignableRequest(
                f"no provider signs this request's input correctly ({summary})", causes=causes
            )
        if Overloaded.code in codes:
            raise ServiceOverloaded(
                f"every provider is busy or failed ({summary})",
                headers={"Retry-After": "1"},
                causes=causes,
            )
        raise AllProvidersFailed(f"every provider failed ({summary})", causes=causes)

    def _may_try(self, entry: Entry, attempts: list[Attempt]) -> bool:
        """Its breaker lets the call through (else noted as an attempt)."""
        if entry.breaker.state == "closed" or entry.breaker.allow():
            return True
        wait = entry.breaker.retry_in_s()
        cause = f"circuit open after repeated failures (retry in {wait:.1f} s)"
        attempts.append(self._failed(entry.provider.name, 0.0, "circuit_open", cause))
        return False

    async def _try(self, entry: Entry, request: SignRequest) -> tuple[SignResult | None, Attempt]:
        """One provider's attempt, bounded by the timeout, reported to its breaker."""
        provider = entry.provider
        name = provider.name
        started = time.perf_counter()
        try:
            if provider.awaits:
                async with asyncio.timeout(self._timeout_s):
                    result = await provider.sign(request)
            else:
                result = await provider.sign(request)
        except ProviderDeclined as exc:
            entry.breaker.release()
            return None, self._failed(name, started, exc.code, exc.message)
        except SelfCheckFailed as exc:
            return None, await self._self_check_failed(entry, started, exc.message)
        except ProviderError as exc:
            cause, code = exc.message, exc.code
        except TimeoutError:
            cause, code = f"no answer within {self._timeout_s:g} s", "timeout"
        except Exception as exc:  # a broken provider must not take the service down
            log.exception("provider_crashed", provider=name)
            cause, code = repr(exc), "crash"
        else:
            reason = None if provider.checked else selfcheck.problem(result, request.body)
            if reason is not None:
                return None, await self._self_check_failed(entry, started, reason)
            seconds = time.perf_counter() - started
            if entry.breaker.failures:
                entry.breaker.success()
            self._metrics.observe_sign(name, seconds, request.kind)
            return result, Attempt(name, ok=True, seconds=seconds)
        self._breaker_failure(entry)
        return None, self._failed(name, started, code, cause)

    async def _self_check_failed(self, entry: Entry, started: float, reason: str) -> Attempt:
        """A signature that does not check out: the caller's input, or the provider's fault.

        The provider signs a plain probe request: when that checks out, this request's own
        input made the difference (the SDK and the codecs read it differently), which is
        the caller's problem and must not open the breaker for everyone; else the provider
        is at fault (an algorithm change), counted and reported as such.
        """
        name = entry.provider.name
        if await self._probe_checks_out(entry):
            log.info("input_rejected", provider=name, reason=reason)
            entry.breaker.release()
            return self._failed(name, started, INPUT_REJECTED, reason)
        self._metrics.self_check_failed(name)
        log.warning("self_check_failed", provider=name, reason=reason)
        self._breaker_failure(entry)
        return self._failed(name, started, "self_check_failed", reason)

    async def _probe_checks_out(self, entry: Entry) -> bool:
        """Whether the provider signs the probe correctly (known for PROBE_TTL_S seconds)."""
        now = time.monotonic()
        if now - entry.probed_at < PROBE_TTL_S:
            return entry.probe_ok
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await entry.provider.sign(PROBE)
            entry.probe_ok = selfcheck.problem(result, PROBE.body) is None
        except (ProviderError, TimeoutError):
            entry.probe_ok = False
        entry.probed_at = time.monotonic()
        return entry.probe_ok

    def _breaker_failure(self, entry: Entry) -> None:
        before = entry.breaker.state
        entry.breaker.failure()
        if entry.breaker.state != before:
            log.warning(
                "circuit_opened",
                provider=entry.provider.name,
                failures=entry.breaker.failures,
                cooldown_s=entry.breaker.cooldown_s,
            )

    def _failed(self, name: str, started: float, code: str, cause: str) -> Attempt:
        self._metrics.provider_failed(name, code)
        seconds = time.perf_counter() - started if started else 0.0
        return Attempt(name, ok=False, seconds=seconds, cause=cause, code=code)
