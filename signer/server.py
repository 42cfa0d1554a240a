"""Run the app: bind, serve until SIGINT/SIGTERM, shut down within a deadline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from signer import __version__
from signer.app import make_app

if TYPE_CHECKING:
    from signer.settings import Settings

log = structlog.get_logger("signer.server")


def serve(settings: Settings) -> None:
    """Serve until a signal; in-flight requests get ``shutdown_timeout_s`` to finish."""
    app = make_app(settings)

    async def announce(_app: web.Application) -> None:
        log.info(
            "server_started",
            version=__version__,
            host=settings.host,
            port=settings.port,
            providers=list(settings.providers),
        )

    async def farewell(_app: web.Application) -> None:
        log.info("server_stopping", deadline_s=settings.shutdown_timeout_s)

    app.on_startup.append(announce)
    app.on_shutdown.append(farewell)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        shutdown_timeout=settings.shutdown_timeout_s,
        access_log=None,
        print=None,
        handle_signals=True,
    )
