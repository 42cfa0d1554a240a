"""The application factory, used by ``tiktok-signer serve`` and by the tests."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from providers import registry
from signer.access.guard import make_access_middleware
from signer.admin import make_admin_app
from signer.app_keys import CHAIN, CONTROL, METRICS, PARSER, SETTINGS, STARTED_AT
from signer.cache import SignatureCache
from signer.chain import Chain
from signer.control import Control
from signer.inputs import RequestParser
from signer.metrics import Metrics
from signer.middleware import make_edge_middleware
from signer.routes import routes
from signer.wiring import provider_context

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from providers.typing import Provider
    from signer.settings import Settings

log = structlog.get_logger("signer.app")


def make_app(
    settings: Settings,
    providers: Sequence[Provider] | None = None,
    *,
    metrics: Metrics | None = None,
) -> web.Application:
    """Build the app; ``providers`` replaces the configured ones (tests inject fakes)."""
    metrics = metrics or Metrics()
    chain_providers = (
        list(providers)
        if providers is not None
        else registry.build(settings.providers, provider_context(settings, metrics))
    )
    # The edge first: it renders the access errors (401, 429) and logs the client's name.
    middlewares = [make_edge_middleware(metrics)]
    access = make_access_middleware(settings, metrics)
    if access is not None:
        middlewares.append(access)
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[CHAIN] = Chain(
        chain_providers,
        metrics,
        settings.sign_timeout_s,
        breaker_failures=settings.breaker_failures,
        breaker_cooldown_s=settings.breaker_cooldown_s,
        cache=SignatureCache(settings.cache_ttl_s, settings.cache_max_entries),
    )
    app[CONTROL] = Control()
    app[PARSER] = RequestParser(settings)
    app[STARTED_AT] = time.monotonic()
    app.add_routes(routes)
    if settings.admin_key is not None:
        app.add_subapp("/admin", make_admin_app(settings.admin_key))
    app.cleanup_ctx.append(_providers_lifecycle)
    return app


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
