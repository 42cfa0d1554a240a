"""A fake TikTok on loopback for ``bench_live.py``: prints its origin, serves until killed.

It is the tests' small TikTok (``tests/signer/live/tiny_tiktok.py``): guest cookies on
``/live``, the room lookups and a signed ``webcast/im/fetch/``. ``GET /__visits`` says how
many guest visits it has answered (the session manager's cookie visits).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.signer.live.tiny_tiktok import TinyTikTok


async def serve() -> None:
    """Start the fake, print its origin on one line, serve until cancelled."""
    fake = TinyTikTok()

    async def visits(_request: web.Request) -> web.Response:
        return web.json_response({"visits": len(fake.issued), "requests": len(fake.seen)})

    fake.add_route("GET", "/__visits", visits)
    await fake.start()
    print(fake.origin, flush=True)
    try:
        await fake.until_closed()
    finally:
        await fake.aclose()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
