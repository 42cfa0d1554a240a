"""Verifying TikTok's webhooks, and the key that delivers each event once.

TikTok for Developers (Login Kit, Content Posting, Data Portability) sends
``TikTok-Signature: t=<unix s>,s=<hex>[,s=<hex>...]``: each ``s`` may be lowercase hex
``HMAC-SHA256(client_secret, t + "." + raw_body)``; any match wins (compared in constant
time, every candidate checked), then ``|now - t|`` must be within the tolerance.

TikTok Shop sends ``Authorization: <hex>`` (no ``Bearer``), lowercase hex
``HMAC-SHA256(app_secret, app_key + raw_body)``, compared as written (upper-case hex is
refused, as TikTok's own verifiers do). It has no timestamp: replays are stopped by the
:func:`dedupe_key` (``tts_notification_id``).

Always verify the raw body bytes: re-serialized JSON does not verify. Verdict reasons name
what failed, never a secret or the expected MAC.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING

from signer.partner.verdict import ACCEPTED, Verdict, rejected

if TYPE_CHECKING:
    from collections.abc import Callable

#: The TikTok for Developers signature header, and the vectors' tolerance in seconds.
TIKTOK_SIGNATURE_HEADER = "TikTok-Signature"
DEFAULT_TOLERANCE_S = 300
#: The Shop webhook signature header.
SHOP_SIGNATURE_HEADER = "Authorization"

#: TikTok Shop webhook ``type`` numbers and their names.
SHOP_EVENT_TYPES: dict[int, str] = {
    1: "ORDER_STATUS_CHANGE",
    3: "RECIPIENT_ADDRESS_UPDATE",
    4: "PACKAGE_UPDATE",
    5: "PRODUCT_STATUS_CHANGE",
    6: "SELLER_DEAUTHORIZATION",
    7: "UPCOMING_AUTHORIZATION_EXPIRATION",
    11: "CANCELLATION_STATUS_CHANGE",
    12: "RETURN_STATUS_CHANGE",
    13: "NEW_CONVERSATION",
    14: "NEW_MESSAGE",
    15: "PRODUCT_INFORMATION_CHANGE",
    16: "PRODUCT_CREATION",
    18: "PRODUCT_CATEGORY_CHANGE",
    33: "NEW_MESSAGE_LISTENER",
    36: "INVOICE_STATUS_CHANGE",
    37: "PRODUCT_AUDIT_STATUS_CHANGE",
}


def _hex_hmac(secret: str, message: bytes) -> bytes:
    """Lowercase hex HMAC-SHA256, as ASCII bytes."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().encode()


def _any_matches(expected: bytes, candidates: list[str]) -> bool:
    """Whether any candidate equals ``expected``; every one is compared in constant time."""
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    return matched


def parse_tiktok_signature(header: str) -> tuple[str | None, list[str]]:
    """``t`` (the first one) and every ``s`` of a ``TikTok-Signature`` header."""
    timestamp: str | None = None
    signatures: list[str] = []
    for element in header.split(","):
        name, _, value = element.strip().partition("=")
        if name == "t" and timestamp is None:
            timestamp = value.strip()
        elif name == "s" and value.strip():
            signatures.append(value.strip())
    return timestamp, signatures


def _header_problem(header: str | None, timestamp: str | None, signatures: list[str]) -> str | None:
    """What is missing from a ``TikTok-Signature`` header, or ``None``."""
    if not header:
        return "Missing TikTok-Signature header"
    if not timestamp:
        return "Missing timestamp in header"
    if not timestamp.isdigit():
        return "Invalid timestamp in header"
    if not signatures:
        return "Missing signature in header"
    return None


def verify_tiktok_signature(
    header: str | None,
    raw_body: bytes,
    client_secret: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    clock: Callable[[], float] = time.time,
) -> Verdict:
    """Accept a TikTok for Developers webhook: a matching ``s=`` and a fresh enough ``t=``."""
    timestamp, signatures = parse_tiktok_signature(header or "")
    if problem := _header_problem(header, timestamp, signatures):
        return rejected(problem)
    assert timestamp is not None  # noqa: S101 - _header_problem checked it
    expected = _hex_hmac(client_secret, timestamp.encode() + b"." + raw_body)
    if not _any_matches(expected, signatures):
        return rejected("Signature verification failed")
    difference = int(clock()) - int(timestamp)
    if abs(difference) > tolerance_s:
        when = "too old" if difference > 0 else "in the future"
        return rejected(
            f"Webhook timestamp {when}. Difference: {abs(difference)}s, Tolerance: {tolerance_s}s"
        )
    return ACCEPTED


def verify_shop_signature(
    authorization: str | None, raw_body: bytes, app_key: str, app_secret: str
) -> Verdict:
    """Accept a TikTok Shop webhook whose ``Authorization`` is the HMAC of app key + raw body."""
    if not authorization:
        return rejected("Missing Authorization header")
    expected = _hex_hmac(app_secret, app_key.encode() + raw_body)
    if not _any_matches(expected, [authorization]):
        return rejected("Signature verification failed")
    return ACCEPTED


def dedupe_key(raw_body: bytes, signature: str) -> str:
    """What identifies an event across TikTok's retries: its id, else its signature.

    ``tts_notification_id:<id>`` for Shop events that carry one, else ``signature:<header>``
    (the signature header as received; a retry resends the same one).
    """
    try:
        event = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        event = None
    if isinstance(event, dict):
        notification = event.get("tts_notification_id")
        usable = isinstance(notification, str | int) and not isinstance(notification, bool)
        if usable and str(notification):
            return f"tts_notification_id:{notification}"
    return f"signature:{signature}"
