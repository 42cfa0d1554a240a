"""Alert receivers on loopback: a Slack-compatible webhook and a generic JSON webhook."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.server import LoopbackServer

SLACK = "/services/T000/B000/slack-secret-token"
WEBHOOK = "/hooks/webhook-secret-token"


class AlertSink(LoopbackServer):
    """Answers 200 to POSTs on :data:`SLACK` and :data:`WEBHOOK` (500 with ``failing``)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        self.add_route("POST", SLACK, self._receive)
        self.add_route("POST", WEBHOOK, self._receive)

    async def _receive(self, request: web.Request) -> web.Response:
        del request
        if self.failing:
            raise web.HTTPInternalServerError
        return web.json_response({"ok": True})

    def received(self, path: str) -> list[dict[str, Any]]:
        """The JSON bodies posted to ``path`` so far."""
        return [json.loads(seen.body) for seen in self.seen if seen.path == path]
