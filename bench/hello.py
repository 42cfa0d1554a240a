"""The framework ceiling: an aiohttp app that answers a small JSON to any POST.

Benchmarks run it beside the service, in the same run, as the baseline.
"""

from __future__ import annotations

import argparse

from aiohttp import web


async def hello(_request: web.Request) -> web.Response:
    """Answer a small JSON document."""
    return web.json_response({"status": "ok", "data": "hello"})


def main() -> None:
    """Serve on the given port until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/signature", hello)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
