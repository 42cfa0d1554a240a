"""The native provider: X-Bogus and X-Gnarly in pure Python.

It signs the way TikTok's SDK does inside one page: the query is taken as the browser
sends it (``SignRequest.query``), ``&msToken=<token>`` is appended (always, as the SDK
does), X-Bogus and X-Gnarly are computed over that query and appended in that order.
x-tt-params is the service's to compute, as for every provider.

A *session* stands for one browser page: its load time, the X-Gnarly field order, the
session random word and the request counters live as long as the page would, and are
renewed after ``session_max_signatures`` signatures or ``session_max_age_s`` seconds.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from providers import xbogus, xgnarly
from providers.errors import ProviderUnavailable
from providers.typing import ProviderHealth, SignRequest, SignResult
from providers.urls import append_ms_token, requested_token

if TYPE_CHECKING:
    from collections.abc import Callable

    from providers.typing import Navigator, Persona, PersonaStore, ProviderContext

NAME = "native"


def field_order(policy: str, rng: random.Random, *, with_build: bool) -> tuple[int, ...]:
    """The X-Gnarly field order of a new session (the SDK picks one per page load).

    ``policy`` is the ``gnarly_field_order`` setting: ``session`` (random), ``ascending``,
    ``carcabot``, or an explicit comma list of the 16 ids.
    """
    if policy == "session":
        order = xgnarly.random_order(rng)
    elif policy == "ascending":
        order = xgnarly.ASCENDING_ORDER
    elif policy == "carcabot":
        order = xgnarly.CARCABOT_ORDER
    else:
        order = tuple(int(part) for part in policy.split(","))
    # Without a build string the record has no field 10.
    return order if with_build else tuple(i for i in order if i != 10)


@dataclass(slots=True)
class Session:
    """The per-page state of the SDK that ends up inside X-Gnarly."""

    started_at: float
    persona: Persona
    record: xgnarly.SessionRecord
    signed: int = 0
    navigators: dict[str, Navigator] = field(default_factory=dict)

    def navigator(self, user_agent: str) -> Navigator:
        """The persona's navigator for this UA (built once per session and UA)."""
        found = self.navigators.get(user_agent)
        if found is None:
            if len(self.navigators) >= 64:
                self.navigators.clear()
            found = self.navigators[user_agent] = self.persona.navigator(user_agent)
        return found


class NativeProvider:
    """Signs without a browser; deterministic X-Bogus, version-pinned X-Gnarly."""

    name = NAME
    awaits = False
    checked = True

    def __init__(
        self,
        personas: PersonaStore,
        *,
        order_policy: str = "session",
        max_signatures: int = 500,
        max_age_s: float = 1800.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._personas = personas
        self._order_policy = order_policy
        self._max_signatures = max_signatures
        self._max_age_s = max_age_s
        self._clock = clock
        self._rng = rng or random.Random(secrets.randbits(64))
        self._session = self._new_session()
        self._started = False
        self._closed = False
        self.sessions_started = 1

    @classmethod
    def from_context(cls, context: ProviderContext, name: str = NAME) -> NativeProvider:
        """Build from the context's native slice (field order policy, session renewal)."""
        del name  # one native provider, always called "native"
        config = context.native
        return cls(
            context.personas,
            order_policy=config.order_policy,
            max_signatures=config.max_signatures,
            max_age_s=config.max_age_s,
        )

    async def start(self) -> None:
        """Nothing to acquire; marks the provider ready."""
        self._started = True
        self._closed = False

    async def aclose(self) -> None:
        """Nothing to release; signing is refused until the next start."""
        self._started = False
        self._closed = True

    def health(self) -> ProviderHealth:
        """Always ready once started."""
        return ProviderHealth(
            name=self.name,
            state="ready" if self._started else "stopped",
            details={
                "gnarly_version": self._personas.current.gnarly_version,
                "sessions_started": self.sessions_started,
            },
        )

    def _new_session(self) -> Session:
        now = self._clock()
        persona = self._personas.current
        record = xgnarly.SessionRecord(
            canvas=persona.canvas,
            flags=persona.flags,
            page_load_us=int(now * 1_000_000),
            sdk_version=persona.gnarly_version,
            sdk_build=persona.gnarly_build,
            ubcode=persona.flags[2],
            session_random16=self._rng.getrandbits(16),
            order=field_order(
                self._order_policy, self._rng, with_build=persona.gnarly_build is not None
            ),
        )
        return Session(started_at=now, persona=persona, record=record)

    def _current_session(self, now: float) -> Session:
        """The session to sign in; a new one when it is spent, old, or the persona changed."""
        session = self._session
        if (
            session.signed >= self._max_signatures
            or now - session.started_at >= self._max_age_s
            or session.persona is not self._personas.current
        ):
            session = self._session = self._new_session()
            self.sessions_started += 1
        return session

    async def sign(self, request: SignRequest) -> SignResult:
        """Sign at once; no I/O, so this never waits."""
        return self.sign_now(request)

    def sign_now(self, request: SignRequest) -> SignResult:
        """The synchronous body of :meth:`sign` (also used by the benchmarks)."""
        if self._closed:
            raise ProviderUnavailable("the native provider is closed")
        now = self._clock()
        session = self._current_session(now)
        persona = session.persona
        token = requested_token(request.ms_token, request.query) or ""
        signed_query = append_ms_token(request.query, token)
        user_agent = request.user_agent or persona.user_agent
        timestamp = int(now)
        x_bogus = xbogus.encode(
            signed_query, request.body, user_agent, timestamp, persona.canvas, persona.flags
        )
        session.signed += 1
        x_gnarly = session.record.encode(
            signed_query,
            request.body,
            user_agent,
            timestamp=timestamp,
            # The SDK counts its own start-up request too, so "seen" runs one ahead.
            requests_seen=session.signed + 1,
            requests_signed=session.signed,
            random32=self._rng.getrandbits(32),
        )
        return SignResult(
            signed_url=f"{request.base}?{signed_query}&X-Bogus={x_bogus}&X-Gnarly={x_gnarly}",
            x_bogus=x_bogus,
            x_gnarly=x_gnarly,
            ms_token=token,
            user_agent=user_agent,
            navigator=session.navigator(user_agent),
            provider=self.name,
        )
