"""The service on the native path with one extra route that skips the provider chain.

``POST /signature`` goes through the chain (breaker, timeout, attempts, cache lookup);
``POST /signature-direct`` parses and renders the same way but calls the native
provider itself. Used by bench_chain.py to measure what the chain costs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import TYPE_CHECKING

from providers.native import NativeProvider
from signer.app import make_app
from signer.app_keys import CHAIN, DRAIN, GUARD, PARSER
from signer.inputs import read_body
from signer.logs import configure_logging
from signer.middleware import LOG_FIELDS
from signer.routes import render_signed
from signer.runner import serve_app
from signer.settings import Settings

if TYPE_CHECKING:
    from aiohttp import web


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings(providers=("native",), port=args.port, log_format="json")
    configure_logging(settings.log_level, settings.log_format)
    app = make_app(settings)
    native = app[CHAIN].providers[0]
    assert isinstance(native, NativeProvider)  # noqa: S101 - the only provider configured

    async def direct(request: web.Request) -> web.Response:
        started = time.perf_counter()
        request_parser = request.app[PARSER]
        body = await read_body(request, request_parser.max_body, request_parser.read_timeout_s)
        sign_request = request_parser.signature_body(body, request.content_type)
        result = native.sign_now(sign_request)
        # The request's log line names the provider, as any signing route would.
        request[LOG_FIELDS] = {"provider": result.provider}
        return render_signed(result, started)

    # Behind the same guard as /signature, so that only the chain differs.
    app.router.add_post("/signature-direct", app[GUARD].protect(direct))
    asyncio.run(serve_app(app, settings, app[DRAIN]))


if __name__ == "__main__":
    main()
