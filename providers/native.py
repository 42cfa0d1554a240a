"""The native provider: TikTok's web SDK signatures in pure Python.

It imitates the SDK build of the persona (``Persona.sdk_build``, a profile of
:mod:`providers.profiles`) the way it signs inside one page:

* 2025 builds: the query as the browser sends it (``SignRequest.query``), ``&msToken=``
  appended (always, as the SDK does), then X-Bogus and a 5.1.3 X-Gnarly over that query.
* 2026 builds (1.0.0.417): the query the SDK rewrites from the page's
  (:func:`~providers.urls.sdk_query` of ``SignRequest.raw_query``), then
  ``&X-Dynosaur=<t>&msToken=<token>&X-Bogus=1&X-Gnarly=<t>``; X-Dynosaur hashes the
  query before it, the 5.3.2 X-Gnarly everything before ``&X-Bogus=``. A ``ws`` request
  is signed like the SDK's socket signer: X-Gnarly over the raw query, counters 0.

Paths the build does not sign are declined, as are socket URLs for a build without a
socket signer. x-tt-params is the service's to compute, as for every provider.

A *session* stands for one browser page: its load time (the nonces), the X-Gnarly field
order, the session random word and the request counters live as long as the page would,
and are renewed after ``session_max_signatures`` signatures or ``session_max_age_s``
seconds, or when the persona changes.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from providers import profiles, xbogus, xdynosaur, xgnarly
from providers.errors import ProviderDeclined, ProviderUnavailable
from providers.typing import ProviderHealth, SignRequest, SignResult
from providers.urls import append_ms_token, requested_token, sdk_query

if TYPE_CHECKING:
    from collections.abc import Callable

    from providers.profiles import Profile
    from providers.typing import Navigator, Persona, PersonaStore, ProviderContext

NAME = "native"


_U31 = 2**31
#: How far (µs) X-Dynosaur's page nonce (0x34) lay from X-Gnarly's (field 8) in the vectors.
_NONCE_SPREAD_US = 1600


def field_order(
    policy: str,
    rng: random.Random,
    *,
    with_build: bool,
    field_ids: tuple[int, ...] = xgnarly.FIELD_IDS,
) -> tuple[int, ...]:
    """The X-Gnarly field order of a new session (the SDK picks one per page load).

    ``policy`` is the ``gnarly_field_order`` setting: ``session`` (random), ``ascending``,
    ``carcabot``, or an explicit comma list of the 16 ids. For a record with other ids
    (``field_ids``, e.g. the 17 of 5.3.2) the ids it lacks follow in ascending order and
    ids it does not have are dropped.
    """
    if policy == "session":
        order = xgnarly.random_order(rng, field_ids)
    elif policy == "ascending":
        order = xgnarly.ASCENDING_ORDER
    elif policy == "carcabot":
        order = xgnarly.CARCABOT_ORDER
    else:
        order = tuple(int(part) for part in policy.split(","))
    if field_ids != xgnarly.FIELD_IDS:
        wanted = set(field_ids)
        order = tuple(i for i in order if i in wanted)
        order += tuple(i for i in field_ids if i not in order)
    # Without a build string the record has no field 10.
    return order if with_build else tuple(i for i in order if i != 10)


def profile_of(persona: Persona) -> Profile:
    """The profile the native provider imitates for ``persona``.

    A build without a profile (published by a browser running a newer file) is imitated
    with the newest known layout and the persona's version strings.
    """
    found = profiles.PROFILES.get(persona.sdk_build)
    return found if found is not None else profiles.newest()


def version_strings(persona: Persona, profile: Profile) -> tuple[str, str]:
    """X-Gnarly fields 9 and 10 (X-Dynosaur 0x2a and 0x31) for a 2026 session.

    The persona's strings, unless they name another known build (a persona left with an
    older build's strings): then the profile's. A missing build string is the profile's.
    """
    named = profiles.by_gnarly_version(persona.gnarly_version, persona.gnarly_build)
    if (named is not None and named is not profile) or profile.gnarly_build is None:
        return profile.gnarly_version, profile.gnarly_build or profile.build
    return persona.gnarly_version, persona.gnarly_build or profile.gnarly_build


def url_path(base: str) -> str:
    """The path of ``base`` (the URL before ``?``): what a profile's path lists match."""
    at = base.find("://")
    if at == -1:
        return base
    slash = base.find("/", at + 3)
    return base[slash:] if slash != -1 else "/"


@dataclass(frozen=True, slots=True)
class Records2026:
    """The prepared token layouts of a 2026 page: X-Gnarly 5.3.2 and X-Dynosaur."""

    gnarly: xgnarly.SessionRecord532
    dynosaur: xdynosaur.SessionRecords


@dataclass(slots=True)
class Session:
    """The per-page state of the SDK that ends up inside its tokens.

    ``record`` is the 5.1.3 X-Gnarly layout of a 2025 build, or a 2026 build's layouts.
    """

    started_at: float
    persona: Persona
    profile: Profile
    record: xgnarly.SessionRecord | Records2026
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
                "sdk_build": self._session.profile.build,
                "sessions_started": self.sessions_started,
            },
        )

    def _new_session(self) -> Session:
        now = self._clock()
        persona = self._personas.current
        profile = profile_of(persona)
        if profile.line != 2025:
            return self._new_2026_session(now, persona, profile)
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
        return Session(started_at=now, persona=persona, profile=profile, record=record)

    def _new_2026_session(self, now: float, persona: Persona, profile: Profile) -> Session:
        version, build = version_strings(persona, profile)
        envcode = profiles.envcode(persona.flags)
        ubcode = persona.flags[2]
        # Two microsecond-clock readings of the page load, a few hundred µs apart.
        nonce = int(now * 1_000_000) % _U31
        spread = self._rng.randint(-_NONCE_SPREAD_US, _NONCE_SPREAD_US)
        order = field_order(
            self._order_policy, self._rng, with_build=True, field_ids=xgnarly.FIELD_IDS_532
        )
        return Session(
            started_at=now,
            persona=persona,
            profile=profile,
            record=Records2026(
                gnarly=xgnarly.SessionRecord532(
                    canvas=persona.canvas,
                    envcode=envcode,
                    ubcode=ubcode,
                    nonce=nonce,
                    sdk_version=version,
                    sdk_build=build,
                    order=order,
                ),
                dynosaur=xdynosaur.SessionRecords(
                    envcode=envcode,
                    ubcode=ubcode,
                    canvas=persona.canvas,
                    nonce=(nonce + spread) % _U31,
                    sdk_version=version,
                    sdk_build=build,
                    location=persona.location,
                ),
            ),
        )

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
        """The synchronous body of :meth:`sign` (also used by the benchmarks).

        Raises ProviderDeclined for what the imitated build does not sign: a path off its
        list, a socket URL without a socket signer, a query the SDK would throw on.
        """
        if self._closed:
            raise ProviderUnavailable("the native provider is closed")
        now = self._clock()
        session = self._current_session(now)
        profile = session.profile
        record = session.record
        if request.kind == "ws":
            if not profile.socket_signer or not isinstance(record, Records2026):
                raise ProviderDeclined(f"SDK build {profile.build} has no socket signer")
            return self._sign_socket(request, session, record.gnarly, now)
        if not profile.signs_path(url_path(request.base)):
            raise ProviderDeclined(f"SDK build {profile.build} does not sign this path")
        if isinstance(record, Records2026):
            return self._sign_2026(request, session, record, now)
        return self._sign_2025(request, session, record, now)

    def _sign_2025(
        self, request: SignRequest, session: Session, record: xgnarly.SessionRecord, now: float
    ) -> SignResult:
        persona = session.persona
        token = requested_token(request.ms_token, request.query) or ""
        signed_query = append_ms_token(request.query, token)
        user_agent = request.user_agent or persona.user_agent
        timestamp = int(now)
        x_bogus = xbogus.encode(
            signed_query, request.body, user_agent, timestamp, persona.canvas, persona.flags
        )
        session.signed += 1
        x_gnarly = record.encode(
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
            sdk_version=session.profile.build,
        )

    def _sign_2026(
        self, request: SignRequest, session: Session, records: Records2026, now: float
    ) -> SignResult:
        try:
            base_query = sdk_query(request.raw_query)
        except ValueError:
            raise ProviderDeclined(
                "the query has a malformed percent escape (the SDK would throw)"
            ) from None
        token = requested_token(request.ms_token, base_query) or ""
        user_agent = request.user_agent or session.persona.user_agent
        timestamp = int(now)
        session.signed += 1
        # Every request the interceptor sees is signed: n seen, n signed.
        count = session.signed
        x_dynosaur = records.dynosaur.encode(
            base_query,
            request.body,
            user_agent,
            timestamp=timestamp,
            requests_signed=count,
            requests_seen=count,
        )
        if base_query:
            gnarly_query = f"{base_query}&X-Dynosaur={x_dynosaur}&msToken={token}"
        else:
            gnarly_query = f"X-Dynosaur={x_dynosaur}&msToken={token}"
        x_gnarly = records.gnarly.encode(
            gnarly_query,
            request.body,
            user_agent,
            timestamp=timestamp,
            requests_seen=count,
            requests_signed=count,
        )
        x_bogus = session.profile.x_bogus_literal or "1"
        return SignResult(
            signed_url=f"{request.base}?{gnarly_query}&X-Bogus={x_bogus}&X-Gnarly={x_gnarly}",
            x_bogus=x_bogus,
            x_gnarly=x_gnarly,
            ms_token=token,
            user_agent=user_agent,
            navigator=session.navigator(user_agent),
            provider=self.name,
            x_dynosaur=x_dynosaur,
            sdk_version=session.profile.build,
        )

    def _sign_socket(
        self,
        request: SignRequest,
        session: Session,
        record: xgnarly.SessionRecord532,
        now: float,
    ) -> SignResult:
        """The socket signer: X-Gnarly over the raw query, the empty stub, counters 0."""
        user_agent = request.user_agent or session.persona.user_agent
        query = request.query
        x_gnarly = record.encode(
            query, "", user_agent, timestamp=int(now), requests_seen=0, requests_signed=0
        )
        # Chromium's WebSocket writes spaces as %20; the token goes in encodeURIComponent'd.
        tail = f"X-Gnarly={quote(x_gnarly, safe='')}"
        wire = query.replace(" ", "%20")
        return SignResult(
            signed_url=f"{request.base}?{wire}&{tail}" if wire else f"{request.base}?{tail}",
            x_bogus=None,
            x_gnarly=x_gnarly,
            ms_token="",
            user_agent=user_agent,
            navigator=session.navigator(user_agent),
            provider=self.name,
            sdk_version=session.profile.build,
        )
