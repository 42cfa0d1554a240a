"""The answer of ``/signature`` and ``/sign``: SignTok's and carcabot's keys, both spellings.

Providers return a :class:`~providers.typing.SignResult` with no API's key names in it;
this module writes it the way those clients read it, and adds what the service computes
for every provider alike: x-tt-params.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from providers import xttparams
from providers.urls import through_x_bogus

if TYPE_CHECKING:
    from providers.typing import Navigator, SignResult


#: Renderings by navigator identity: the native provider hands out one Navigator per
#: session and user agent, so its hot path renders it once, as it did when it cached dicts.
_RENDERED: dict[int, tuple[Navigator, dict[str, Any]]] = {}
_RENDERED_MAX = 256


def navigator_object(navigator: Navigator) -> dict[str, Any]:
    """The ``navigator`` object of SignTok and carcabot answers (shared: read it only)."""
    cached = _RENDERED.get(id(navigator))
    # The entry holds its navigator, so its id cannot be another object's meanwhile.
    if cached is not None and cached[0] is navigator:
        return cached[1]
    rendered = _navigator_keys(navigator)
    if len(_RENDERED) >= _RENDERED_MAX:
        _RENDERED.clear()
    _RENDERED[id(navigator)] = (navigator, rendered)
    return rendered


def _navigator_keys(navigator: Navigator) -> dict[str, Any]:
    return {
        "deviceScaleFactor": navigator.device_scale_factor,
        "user_agent": navigator.user_agent,
        "browser_language": navigator.language,
        "browser_platform": navigator.platform,
        "browser_name": navigator.browser_name,
        "browser_version": navigator.browser_version,
        "os": navigator.os,
        "screen_width": navigator.screen_width,
        "screen_height": navigator.screen_height,
    }


def x_tt_params(result: SignResult) -> str | None:
    """x-tt-params of a result: its signed query up to and including X-Bogus, encrypted.

    None for a URL without X-Bogus: a signed socket URL.
    """
    query = through_x_bogus(result.signed_url)
    return None if query is None else xttparams.for_query(query)


def signature_answer(result: SignResult, started: float) -> dict[str, Any]:
    """The answer; ``started`` is the ``perf_counter`` reading when the request came in."""
    return {
        "status": "ok",
        "data": {
            "signature": result.signature,
            "signed_url": result.signed_url,
            "X-Bogus": result.x_bogus,
            "x-bogus": result.x_bogus,
            "X-Gnarly": result.x_gnarly,
            "x-gnarly": result.x_gnarly,
            "X-Dynosaur": result.x_dynosaur,
            "x-dynosaur": result.x_dynosaur,
            "x-tt-params": x_tt_params(result),
            "msToken": result.ms_token,
            "navigator": navigator_object(result.navigator),
            "provider": result.provider,
            "sdk_version": result.sdk_version,
        },
        "response_time_ms": round((time.perf_counter() - started) * 1000, 3),
    }
