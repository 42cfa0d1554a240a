"""Webhook signatures (TikTok for Developers and TikTok Shop): every vector's decision, and more."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer.partner import webhooks
from signer.partner.verdict import Verdict
from tests.support import load_vectors

DEV = load_vectors("partner/tiktok-webhook.json")
DEV_CASES = {case["id"]: case for case in DEV["cases"]}
SHOP = load_vectors("partner/shop-webhook.json")
SHOP_CASES = {case["id"]: case for case in SHOP["cases"]}
FRESH = DEV_CASES["publish_completed"]
SECRET = "test-client-secret-0001"


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("case_id", sorted(DEV_CASES))
def test_every_tiktok_vector(case_id: str) -> None:
    """Each vector's decision and reason (stale, swapped t, missing s), and its signed payload."""
    case = DEV_CASES[case_id]
    body = case["raw_body"].encode()
    verdict = webhooks.verify_tiktok_signature(
        case["tiktok_signature_header"],
        body,
        case["client_secret"],
        tolerance_s=case["tolerance_seconds"],
        clock=lambda: case["verify_now_unix"],
    )
    assert verdict == Verdict(valid=case["expected_valid"], reason=case["expected_error"])
    assert bool(verdict) is case["expected_valid"]
    assert case["signed_payload"] == f"{case['timestamp']}.{case['raw_body']}"
    timestamp, _ = webhooks.parse_tiktok_signature(case["tiktok_signature_header"])
    assert timestamp == case["timestamp"]


@pytest.mark.parametrize("case_id", sorted(SHOP_CASES))
def test_every_shop_vector(case_id: str) -> None:
    """Each vector's decision: tampered body, body-only MAC and upper-case hex are refused."""
    case = SHOP_CASES[case_id]
    verdict = webhooks.verify_shop_signature(
        case["authorization_header"],
        case["raw_body"].encode(),
        case["verify_with_app_key"],
        case["verify_with_app_secret"],
    )
    assert verdict.valid is case["expected_verified"]
    assert verdict.reason == (
        None if case["expected_verified"] else "Signature verification failed"
    )
    expected = _hex(case["app_secret"], (case["app_key"] + case["raw_body"]).encode())
    assert (expected == case["authorization_header"]) is case["expected_verified"]


def test_shop_signature_is_over_raw_bytes() -> None:
    """Re-serialized JSON (same meaning, other bytes) does not verify."""
    case = SHOP_CASES["seller_deauthorization_unicode"]
    escaped = case["raw_body"].encode("ascii", "backslashreplace")
    assert escaped != case["raw_body"].encode()
    verdict = webhooks.verify_shop_signature(
        case["authorization_header"], escaped, case["app_key"], case["app_secret"]
    )
    assert verdict.reason == "Signature verification failed"


@pytest.mark.parametrize("header", [None, ""])
def test_shop_missing_header(header: str | None) -> None:
    """No Authorization header: refused, saying so."""
    verdict = webhooks.verify_shop_signature(header, b"{}", "k", "s")
    assert verdict.as_json() == {"valid": False, "reason": "Missing Authorization header"}


def test_shop_other_keys_refused() -> None:
    """Another app key or secret, a Bearer prefix, non-ASCII junk: all refused."""
    case = SHOP_CASES["order_status_change"]
    body = case["raw_body"].encode()
    good = case["authorization_header"]
    assert webhooks.verify_shop_signature(good, body, case["app_key"], case["app_secret"])
    assert not webhooks.verify_shop_signature(good, body, "other-key", case["app_secret"])
    assert not webhooks.verify_shop_signature(good, body, case["app_key"], "other-secret")
    assert not webhooks.verify_shop_signature(f"Bearer {good}", body, "k", case["app_secret"])
    assert not webhooks.verify_shop_signature("é" * 64, body, case["app_key"], case["app_secret"])


def _verify(header: str | None, now: float = 1700000010, **kwargs: Any) -> Verdict:
    return webhooks.verify_tiktok_signature(
        header, FRESH["raw_body"].encode(), SECRET, clock=lambda: now, **kwargs
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "Missing TikTok-Signature header"),
        ("", "Missing TikTok-Signature header"),
        ("s=abc", "Missing timestamp in header"),
        ("t=,s=abc", "Missing timestamp in header"),
        ("t=-5,s=abc", "Invalid timestamp in header"),
        ("t=17e8,s=abc", "Invalid timestamp in header"),
        ("t=1700000005,s=", "Missing signature in header"),
        ("t=1700000005,x=1", "Missing signature in header"),
        ("t=1700000005,s=" + "0" * 64, "Signature verification failed"),
        (
            "t=1700000005,s=" + FRESH["tiktok_signature_header"][15:].upper(),
            "Signature verification failed",
        ),
    ],
)
def test_tiktok_malformed_headers(header: str | None, reason: str) -> None:
    """Malformed or wrong headers are refused with a reason that carries no secret."""
    verdict = _verify(header)
    assert verdict == Verdict(valid=False, reason=reason)
    assert SECRET not in (verdict.reason or "")


def test_tiktok_spaces_and_order_tolerated() -> None:
    """Spaces around elements and ``s`` before ``t`` parse the same."""
    signature = FRESH["tiktok_signature_header"].split(",")[1]
    assert _verify(f" {signature} , t=1700000005 ").valid


@pytest.mark.parametrize(
    ("now", "tolerance", "reason"),
    [
        (1700000305, 300, None),
        (1700000306, 300, "Webhook timestamp too old. Difference: 301s, Tolerance: 300s"),
        (1700000015, 10, None),
        (1700000016, 10, "Webhook timestamp too old. Difference: 11s, Tolerance: 10s"),
        (1699999705, 300, None),
        (1699999704, 300, "Webhook timestamp in the future. Difference: 301s, Tolerance: 300s"),
    ],
)
def test_tiktok_tolerance(now: int, tolerance: int, reason: str | None) -> None:
    """The tolerance is a parameter and holds both ways; the MAC is checked first."""
    verdict = _verify(FRESH["tiktok_signature_header"], now=now + 0.9, tolerance_s=tolerance)
    assert verdict == Verdict(valid=reason is None, reason=reason)


def test_tiktok_stale_forgery_reported_as_forgery() -> None:
    """A wrong MAC on an old timestamp is a signature failure, not an age one."""
    verdict = _verify("t=1600000000,s=" + "1" * 64)
    assert verdict.reason == "Signature verification failed"


@given(st.binary(max_size=200), st.integers(0, 2**40), st.lists(st.text(max_size=70), max_size=3))
def test_tiktok_any_matching_signature_wins(body: bytes, stamp: int, others: list[str]) -> None:
    """The right ``s`` anywhere among wrong ones is accepted; without it, refused."""
    good = _hex(SECRET, f"{stamp}.".encode() + body)
    wrong = [o.replace(",", "") for o in others if o.replace(",", "").strip() != good]
    clock = lambda: stamp  # noqa: E731
    with_good = ",".join([f"t={stamp}", *(f"s={o}" for o in wrong), f"s={good}"])
    assert webhooks.verify_tiktok_signature(with_good, body, SECRET, clock=clock).valid
    without = ",".join([f"t={stamp}", *(f"s={o}" for o in wrong)])
    assert not webhooks.verify_tiktok_signature(without, body, SECRET, clock=clock).valid


@given(st.binary(max_size=200), st.binary(min_size=1, max_size=8))
def test_shop_any_change_refused(body: bytes, extra: bytes) -> None:
    """A signature made for a body does not verify that body with bytes appended."""
    signature = _hex("s", b"k" + body)
    assert webhooks.verify_shop_signature(signature, body, "k", "s").valid
    assert not webhooks.verify_shop_signature(signature, body + extra, "k", "s").valid


def test_dedupe_key() -> None:
    """The notification id when the event has one, else the signature header."""
    shop_body = SHOP_CASES["order_status_change"]["raw_body"].encode()
    assert webhooks.dedupe_key(shop_body, "sig") == "tts_notification_id:7327112393057371910"
    assert webhooks.dedupe_key(b'{"tts_notification_id":42}', "sig") == "tts_notification_id:42"
    header = FRESH["tiktok_signature_header"]
    assert webhooks.dedupe_key(FRESH["raw_body"].encode(), header) == f"signature:{header}"
    for body in (b'{"tts_notification_id":""}', b'{"tts_notification_id":true}', b"[]", b"\xff"):
        assert webhooks.dedupe_key(body, "abc") == "signature:abc"


def test_shop_event_types() -> None:
    """The reference's type numbers and names."""
    assert webhooks.SHOP_EVENT_TYPES[1] == "ORDER_STATUS_CHANGE"
    assert webhooks.SHOP_EVENT_TYPES[6] == "SELLER_DEAUTHORIZATION"
    assert webhooks.SHOP_EVENT_TYPES[37] == "PRODUCT_AUDIT_STATUS_CHANGE"
    assert len(webhooks.SHOP_EVENT_TYPES) == 16
