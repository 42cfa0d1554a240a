"""Route groups: a set of routes with its error envelope, guarded or not, that registers itself.

The app factory registers every group; a guarded group's handlers go behind the guard
(client key, rate limit, maintenance), and the edge middleware answers errors of a
group's routes in that group's envelope (``{"status":"error","error":{...}}`` by default;
the Euler-compatible routes answer ``{"code","message"}``, and shape the headers of their
errors too: a 429 in the clients' own reading of ``RateLimit-*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from signer.app_keys import ENVELOPES, ERROR_HEADERS, GUARD, SETTINGS
from signer.middleware import expect_continue, standard_envelope

if TYPE_CHECKING:
    from collections.abc import Iterable

    from signer.middleware import Envelope, ErrorHeaders


@dataclass(frozen=True, slots=True)
class RouteGroup:
    """Routes that share an error envelope and whether the guard stands in front of them.

    ``error_headers`` reshapes the headers of the group's error answers (None: as each
    error carries them). ``key_param`` is a query parameter the guard also reads the client
    key from (the Euler clients' ``apiKey``); ``unmetered`` lists the paths (as declared)
    whose requests pass the guard without spending from the client's rate limit.
    """

    name: str
    routes: Iterable[web.AbstractRouteDef]
    guarded: bool = False
    envelope: Envelope = field(default=standard_envelope)
    error_headers: ErrorHeaders | None = None
    key_param: str | None = None
    unmetered: frozenset[str] = frozenset()

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app`` (behind the app's guard when guarded)."""
        for route in self.routes:
            if not isinstance(route, web.RouteDef):
                raise TypeError(f"route group {self.name}: {route!r} is not a plain route")
            handler = route.handler
            if self.guarded:
                handler = app[GUARD].protect(
                    handler, key_param=self.key_param, spend=route.path not in self.unmetered
                )
            expect = expect_continue(app[SETTINGS].max_body_bytes)
            added = app.router.add_route(
                route.method, route.path, handler, expect_handler=expect, **route.kwargs
            )
            resource = added.resource
            if resource is not None:
                app[ENVELOPES][resource.canonical] = self.envelope
                if self.error_headers is not None:
                    app[ERROR_HEADERS][resource.canonical] = self.error_headers
