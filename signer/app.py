"""The application factory, used by ``tiktok-signer serve`` and by the tests."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import aiohttp
import structlog
from aiohttp import web

from providers import registry
from providers.typing import PersonaStore
from signer.access.forwarded import make_forwarded_middleware
from signer.access.guard import Guard
from signer.access.ratelimit import RateLimiter
from signer.admin import AdminGroup
from signer.app_keys import (
    CHAIN,
    DRAIN,
    ENVELOPES,
    ERROR_HEADERS,
    GUARD,
    HTTP,
    METRICS,
    PARSER,
    PERSONAS,
    SETTINGS,
    STARTED_AT,
    STATE,
)
from signer.cache import SignatureCache
from signer.chain import Chain
from signer.inputs import RequestParser
from signer.live.routes import LIVE
from signer.metrics import Metrics
from signer.middleware import Drain, make_edge_middleware
from signer.partner.routes import PartnerGroup, partner_lifecycle
from signer.routes import PUBLIC, SIGN
from signer.state import operator
from signer.state.memory import MemoryState
from signer.wiring import operator_state, persona_from, provider_context

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from providers.typing import Provider
    from signer.middleware import Envelope, ErrorHeaders
    from signer.partner.runtime import PartnerOptions
    from signer.settings import Settings
    from signer.state import SharedState
    from signer.state.operator import OperatorState
    from signer.state.relay import Relay

log = structlog.get_logger("signer.app")


def make_app(
    settings: Settings,
    providers: Sequence[Provider] | None = None,
    *,
    metrics: Metrics | None = None,
    state: SharedState | None = None,
    relay: Relay | None = None,
    partner: PartnerOptions | None = None,
) -> web.Application:
    """Build the app; ``providers`` replaces the configured ones (tests inject fakes).

    ``state`` replaces the shared state (Redis with ``SIGNER_REDIS_URL``, else in-process);
    ``relay`` connects the in-process one to the supervisor's (several workers; unused with
    Redis, which reaches every worker itself). ``partner`` gives the partner routes a store,
    a clock and an id factory (tests).
    """
    metrics = metrics or Metrics()
    personas = PersonaStore(persona_from(settings))
    if providers is None:
        initial = operator_state(settings)
        context = provider_context(settings, metrics, personas)
        chain_providers = registry.build(initial.order, context)
    else:
        chain_providers = list(providers)
        initial = operator.initial([provider.name for provider in chain_providers])
    if state is None:
        state = _shared_state(settings, initial, relay)
    envelopes: dict[str, Envelope] = {}
    error_headers: dict[str, ErrorHeaders] = {}
    drain = Drain()
    # Outermost: every later step (the edge's log line, limits per address) sees the client
    # behind a trusted proxy as request.remote.
    forwarded = make_forwarded_middleware(settings.trusted_proxies)
    edge = make_edge_middleware(metrics, envelopes, drain, error_headers)
    app = web.Application(
        middlewares=[edge] if forwarded is None else [forwarded, edge],
        client_max_size=settings.max_body_bytes,
    )
    app[DRAIN] = drain
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[STATE] = state
    app[PERSONAS] = personas
    app[ENVELOPES] = envelopes
    app[ERROR_HEADERS] = error_headers
    app[GUARD] = Guard.from_settings(settings, state, metrics)
    app[CHAIN] = Chain(
        chain_providers,
        state,
        metrics,
        settings.sign_timeout_s,
        breaker_failures=settings.breaker_failures,
        breaker_cooldown_s=settings.breaker_cooldown_s,
        cache=settings.cache_ttl_s > 0,
    )
    app[PARSER] = RequestParser(settings)
    app[STARTED_AT] = time.monotonic()
    for group in (PUBLIC, SIGN, LIVE, PartnerGroup(partner), AdminGroup(settings.admin_key)):
        group.register(app)
    app.cleanup_ctx.append(_state_lifecycle)
    app.cleanup_ctx.append(_http_session)
    app.cleanup_ctx.append(partner_lifecycle)
    app.cleanup_ctx.append(_providers_lifecycle)
    return app


def _shared_state(settings: Settings, initial: OperatorState, relay: Relay | None) -> SharedState:
    """Redis when ``SIGNER_REDIS_URL`` is set, else this process (relayed between workers).

    With Redis every worker hears operator changes from Redis itself, so the supervisor's
    relay is not used: the stored state, not the supervisor's, is the one that holds.
    """
    if settings.redis_url is not None:
        from signer.state.redis import RedisState  # noqa: PLC0415 - loads the driver only then

        return RedisState.from_settings(settings, initial)
    return MemoryState(
        relay.initial if relay is not None else initial,
        limiter=RateLimiter.from_settings(settings),
        cache=SignatureCache(settings.cache_ttl_s, settings.cache_max_bytes),
        relay=relay,
    )


async def _state_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Connect the shared state (the relay to the supervisor) before serving; close after."""
    state = app[STATE]
    await state.start()
    yield
    await state.aclose()


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    """One HTTP client session for calling TikTok, closed with the app."""
    # Requests to TikTok carry the client's user agent, never one of ours; and no cookie
    # jar: every call sends the cookies of the guest session it belongs to, and no other.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        app[HTTP] = session
        yield


async def _providers_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Start every provider before serving; close them all on shutdown."""
    chain = app[CHAIN]
    started: list[Provider] = []
    try:
        for provider in chain.providers:
            await provider.start()
            started.append(provider)
            log.info("provider_started", provider=provider.name)
        yield
    finally:
        for provider in reversed(started):
            await provider.aclose()
            log.info("provider_stopped", provider=provider.name)
