"""The Euler Stream shapes the LIVE clients read: the JSON envelope and a 429's headers.

Every answer is ``{"code": <HTTP status>, "message": ...}`` (with ``limit_label`` on a
429). A 429's headers follow how the clients parse them, not the IETF draft the other
routes follow: TikTokLive 7.0.1 reads ``RateLimit-Remaining`` as the seconds to wait and
``RateLimit-Reset`` as a Unix time (and crashes without ``RateLimit-Remaining``);
tiktok-live-connector reads ``Retry-After`` in seconds and ``X-RateLimit-Reset``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: ``limit_label`` of a 429, by the limit that refused (the ``limit`` detail).
LIMIT_LABELS = {
    "second": "rate_limit_account_second",
    "minute": "rate_limit_account_minute",
    "hour": "rate_limit_account_hour",
    "day": "rate_limit_account_day",
}
#: ``limit_label`` of a 429 that is no rate limit (too many wrong keys from an address).
AUTH_LABEL = "rate_limit_auth_failures"


def envelope(status: int, _code: str, message: str, details: Mapping[str, Any]) -> bytes:
    """The error body: ``{"code": status, "message"}``, and ``limit_label`` on a 429."""
    body: dict[str, Any] = {"code": status, "message": message}
    if status == 429:
        limit = details.get("limit")
        body["limit_label"] = LIMIT_LABELS.get(limit, AUTH_LABEL) if limit else AUTH_LABEL
    return orjson.dumps(body)


def make_error_headers(
    clock: Callable[[], float] = time.time,
) -> Callable[[int, Mapping[str, str], Mapping[str, Any]], Mapping[str, str]]:
    """The group's error-header shaper: a 429's headers as the clients read them.

    ``Retry-After`` and ``RateLimit-Remaining`` are the seconds to wait, ``RateLimit-Reset``
    and ``X-RateLimit-Reset`` the Unix time the wait ends; ``RateLimit-Limit`` stays. Any
    other error's headers are answered as the error carries them.
    """

    def shape(
        status: int, headers: Mapping[str, str], details: Mapping[str, Any]
    ) -> Mapping[str, str]:
        if status != 429:
            return headers
        retry = details.get("retry_after_s")
        if not isinstance(retry, int):
            retry = _seconds(headers.get("Retry-After"))
        reset_at = str(int(clock()) + retry)
        shaped = dict(headers)
        shaped.update(
            {
                "Retry-After": str(retry),
                "RateLimit-Remaining": str(retry),
                "RateLimit-Reset": reset_at,
                "X-RateLimit-Reset": reset_at,
            }
        )
        return shaped

    return shape


def _seconds(value: str | None) -> int:
    """A ``Retry-After`` in whole seconds (at least 1)."""
    try:
        return max(1, int(value or "1"))
    except ValueError:
        return 1


def answer(payload: dict[str, Any], status: int = 200) -> web.Response:
    """A JSON answer of the LIVE API (``code`` first, as the clients log it)."""
    return web.Response(
        status=status,
        body=orjson.dumps({"code": status, **payload}),
        content_type="application/json",
    )
