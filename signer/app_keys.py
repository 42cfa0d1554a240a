"""Typed application state (``web.AppKey``), in a module of its own to avoid cycles."""

from __future__ import annotations

from aiohttp import web

from signer.chain import Chain
from signer.control import Control
from signer.inputs import RequestParser
from signer.metrics import Metrics
from signer.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
CHAIN = web.AppKey("chain", Chain)
METRICS = web.AppKey("metrics", Metrics)
PARSER = web.AppKey("parser", RequestParser)
STARTED_AT = web.AppKey("started_at", float)
CONTROL = web.AppKey("control", Control)
