"""TikTok Business Plugin ``external_data``: build it, and check one that comes back.

Build: the mandatory fields ``version``, ``timestamp`` (milliseconds, as a string),
``locale``, ``business_platform`` and ``external_business_id`` must be non-empty; the
``hmac`` is lowercase hex ``HMAC-SHA256(key, "version=..&timestamp=..&locale=..&
business_platform=..&external_business_id=..")`` in that fixed order with values as they
are (not URL-encoded); ``external_data`` is the standard base64 (``+/=``) of the UTF-8
bytes of the fields as compact JSON, keys in the order given and ``hmac`` last, exactly as
``JSON.stringify`` writes them. It may be at most 1950 characters. In a URL it is
percent-encoded (``=`` becomes ``%3D``).

Verify: decode, check the mandatory fields, recompute the HMAC (constant-time compare),
then refuse a timestamp more than 30 minutes from now (``clock`` injectable).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from signer.partner.verdict import ACCEPTED, Verdict, rejected

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: The fields the HMAC covers, in the order it covers them; each must be non-empty.
MANDATORY_FIELDS = ("version", "timestamp", "locale", "business_platform", "external_business_id")
#: The longest ``external_data`` the plugin accepts, in characters.
MAX_LENGTH = 1950
#: How old (in milliseconds) a payload may be when it comes back.
VALID_FOR_MS = 30 * 60 * 1000
#: The Business Plugin authorization page.
AUTHORIZATION_URL = "https://ads.tiktok.com/business-extension/auth"
#: The plugin's own words for an HMAC mismatch.
TAMPERED = "Invalid external data provided : External data is tampered with"


class ExternalDataError(ValueError):
    """Fields that cannot become ``external_data``; the message names the field, not values."""


def hmac_message(fields: Mapping[str, Any]) -> str:
    """``version=..&timestamp=..&locale=..&business_platform=..&external_business_id=..``."""
    return "&".join(f"{name}={fields[name]}" for name in MANDATORY_FIELDS)


def compute_hmac(fields: Mapping[str, Any], key: str) -> str:
    """Lowercase hex HMAC-SHA256 of :func:`hmac_message` keyed with ``key``."""
    return hmac.new(key.encode(), hmac_message(fields).encode(), hashlib.sha256).hexdigest()


def _check_json(value: Any, name: str) -> None:
    """Refuse values ``JSON.stringify`` would write otherwise than ``json.dumps`` (floats)."""
    if isinstance(value, float):
        raise ExternalDataError(f"field {name!r}: numbers must be integers")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json(item, f"{name}.{key}")
    elif isinstance(value, list):
        for item in value:
            _check_json(item, name)
    elif value is not None and not isinstance(value, str | int):
        raise ExternalDataError(f"field {name!r} is not a JSON value")


def _missing(fields: Mapping[str, Any]) -> list[str]:
    """The mandatory fields absent or empty."""
    return [name for name in MANDATORY_FIELDS if fields.get(name) in (None, "")]


def _with_timestamp(fields: Mapping[str, Any], clock: Callable[[], float]) -> dict[str, Any]:
    """The fields in order, a missing ``timestamp`` (the clock's ms) right after ``version``."""
    payload: dict[str, Any] = {}
    now_ms = "" if "timestamp" in fields else str(int(clock() * 1000))
    for name, value in fields.items():
        if not isinstance(name, str):
            raise ExternalDataError("field names must be strings")
        payload[name] = value
        if name == "version" and "timestamp" not in fields:
            payload["timestamp"] = now_ms
    if "timestamp" not in payload:
        payload = {"timestamp": now_ms, **payload}
    timestamp = payload["timestamp"]
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        payload["timestamp"] = str(timestamp)
    return payload


def _check_fields(payload: Mapping[str, Any]) -> None:
    """Mandatory fields non-empty strings, timestamp digits, every value JSON as JS writes it."""
    if "hmac" in payload:
        raise ExternalDataError("field 'hmac' is computed, not given")
    if missing := _missing(payload):
        raise ExternalDataError(f"mandatory fields missing or empty: {', '.join(missing)}")
    for name in MANDATORY_FIELDS:
        if not isinstance(payload[name], str):
            raise ExternalDataError(f"field {name!r} must be a string")
    if not payload["timestamp"].isdigit():
        raise ExternalDataError("field 'timestamp' must be milliseconds since the epoch")
    for name, value in payload.items():
        _check_json(value, name)


def build_external_data(
    fields: Mapping[str, Any], key: str, *, clock: Callable[[], float] = time.time
) -> str:
    """The ``external_data`` of ``fields`` signed with ``key``.

    A ``timestamp`` given is kept (an integer becomes its string); without one, the clock's
    millisecond is put right after ``version``. :class:`ExternalDataError` on a missing or
    empty mandatory field, a ``hmac`` field given, a float, or a result over 1950 characters.
    """
    payload = _with_timestamp(fields, clock)
    _check_fields(payload)
    payload["hmac"] = compute_hmac(payload, key)
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    try:
        raw = text.encode()
    except UnicodeEncodeError:
        raise ExternalDataError("fields hold text that is not valid Unicode") from None
    external_data = base64.b64encode(raw).decode("ascii")
    if len(external_data) > MAX_LENGTH:
        raise ExternalDataError(
            f"external_data would be {len(external_data)} characters; at most {MAX_LENGTH}"
        )
    return external_data


def authorization_url(external_data: str, *, base_url: str = AUTHORIZATION_URL) -> str:
    """The authorization page URL carrying ``external_data`` percent-encoded."""
    return f"{base_url}?external_data={quote(external_data, safe='')}"


def decode_external_data(external_data: str) -> dict[str, Any] | None:
    """The fields in an ``external_data`` (percent-encoded or not); ``None`` if unreadable."""
    try:
        raw = base64.b64decode(unquote(external_data), validate=True)
        fields = json.loads(raw.decode())
    except (binascii.Error, ValueError):
        return None
    return fields if isinstance(fields, dict) else None


def _unsigned_problem(fields: dict[str, Any]) -> str | None:
    """Why a decoded payload cannot even be checked (fields missing), or ``None``."""
    if missing := _missing(fields):
        return f"mandatory fields missing or empty: {', '.join(missing)}"
    if not isinstance(fields.get("hmac"), str):
        return "external_data has no hmac"
    if not str(fields["timestamp"]).isdigit():
        return "timestamp is not milliseconds since the epoch"
    return None


def verify_external_data(
    external_data: str,
    key: str,
    *,
    clock: Callable[[], float] = time.time,
    max_age_ms: int = VALID_FOR_MS,
) -> Verdict:
    """Accept an ``external_data`` whose HMAC matches ``key`` and whose age is at most 30 min.

    The HMAC is checked first (so an expired forgery is reported as tampered), then the age
    in either direction.
    """
    fields = decode_external_data(external_data)
    if fields is None:
        return rejected("external_data is not base64 of a JSON object")
    if problem := _unsigned_problem(fields):
        return rejected(problem)
    expected = compute_hmac(fields, key)
    if not hmac.compare_digest(expected.encode(), str(fields["hmac"]).encode()):
        return rejected(TAMPERED)
    age_ms = int(clock() * 1000) - int(str(fields["timestamp"]))
    if abs(age_ms) > max_age_ms:
        return rejected(f"external_data is too old or from the future: {age_ms // 1000}s")
    return ACCEPTED
