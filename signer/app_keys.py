"""Typed application state (``web.AppKey``), in a module of its own to avoid cycles."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from providers.typing import PersonaStore
from signer.access.guard import Guard
from signer.chain import Chain
from signer.inputs import RequestParser
from signer.metrics import Metrics
from signer.middleware import Drain
from signer.settings import Settings
from signer.state import SharedState

if TYPE_CHECKING:
    from signer.middleware import Envelope, ErrorHeaders

SETTINGS = web.AppKey("settings", Settings)
CHAIN = web.AppKey("chain", Chain)
METRICS = web.AppKey("metrics", Metrics)
PARSER = web.AppKey("parser", RequestParser)
STARTED_AT = web.AppKey("started_at", float)
#: Operator state, rate-limit counters and the signature cache (signer.state).
STATE = web.AppKey("state", SharedState)
GUARD = web.AppKey("guard", Guard)
#: The persona every provider signs as (the browser publishes what it observes to it).
PERSONAS = web.AppKey("personas", PersonaStore)
#: One HTTP client session for calling TikTok (opened and closed with the app).
HTTP = web.AppKey("http", aiohttp.ClientSession)
#: Requests in flight and the progress of a shutdown (kept by the edge middleware).
DRAIN = web.AppKey("drain", Drain)
#: The error envelope of each route, by its canonical path (filled by the route groups).
ENVELOPES: web.AppKey[dict[str, Envelope]] = web.AppKey("envelopes", dict)
#: The error-header shapers of the routes whose group has one, by canonical path.
ERROR_HEADERS: web.AppKey[dict[str, ErrorHeaders]] = web.AppKey("error_headers", dict)
