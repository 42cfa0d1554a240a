"""Business Plugin external_data: every vector built and verified, and the ways it is refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer.partner import business
from signer.partner.verdict import Verdict
from tests.support import load_vectors

VECTORS = load_vectors("partner/external-data.json")
CASES = {case["id"]: case for case in VECTORS["cases"]}
KEY = "test-app-secret-0001"
MINIMAL = CASES["minimal"]["input"]


def _at_ms(ms: int) -> Any:
    return lambda: ms / 1000


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_every_vector_built(case_id: str) -> None:
    """The concat string, hmac, JSON, base64 and URL parameter of each vector."""
    case = CASES[case_id]
    fields = case["input"]
    assert business.hmac_message(fields) == case["concat_string"]
    assert business.compute_hmac(fields, case["key"]) == case["hmac"]
    built = business.build_external_data(fields, case["key"], clock=lambda: pytest.fail("kept"))
    assert built == case["external_data"]
    assert base64.b64decode(built).decode() == case["json_signed"]
    url = business.authorization_url(built)
    assert (
        url
        == f"https://ads.tiktok.com/business-extension/auth?external_data={case['url_param_encoded']}"
    )


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_every_vector_verified(case_id: str) -> None:
    """Each vector verifies (as the official verifier did) within 30 minutes of its timestamp."""
    case = CASES[case_id]
    assert case["official_decode_and_verify_ok"] is True
    stamp = int(case["input"]["timestamp"])
    for encoded in (case["external_data"], case["url_param_encoded"]):
        verdict = business.verify_external_data(encoded, case["key"], clock=_at_ms(stamp + 1000))
        assert verdict == Verdict(valid=True)
        assert verdict.as_json() == {"valid": True}


def test_field_order_changes_bytes_not_hmac() -> None:
    """Same mandatory values in another order: same hmac, different base64."""
    first, second = CASES["minimal"], CASES["field_order_differs"]
    assert first["hmac"] == second["hmac"]
    assert business.build_external_data(first["input"], KEY) != (
        business.build_external_data(second["input"], KEY)
    )


def test_tampered_rejected_with_the_plugins_message() -> None:
    """A changed field, a wrong key, a changed hmac: all rejected as tampered."""
    stamp = int(MINIMAL["timestamp"])
    clock = _at_ms(stamp)
    decoded = json.loads(base64.b64decode(CASES["minimal"]["external_data"]))
    for change in ({"external_business_id": "shop-0002"}, {"hmac": "0" * 64}, {"locale": "fr"}):
        forged = base64.b64encode(json.dumps({**decoded, **change}).encode()).decode()
        verdict = business.verify_external_data(forged, KEY, clock=clock)
        assert verdict.as_json() == {"valid": False, "reason": VECTORS["tamper_check_message"]}
    wrong_key = business.verify_external_data(
        CASES["minimal"]["external_data"], "other", clock=clock
    )
    assert wrong_key.reason == business.TAMPERED
    assert not wrong_key


def test_upper_case_hmac_rejected() -> None:
    """The hmac is compared as written: upper-case hex is a mismatch."""
    decoded = json.loads(base64.b64decode(CASES["minimal"]["external_data"]))
    decoded["hmac"] = decoded["hmac"].upper()
    forged = base64.b64encode(json.dumps(decoded).encode()).decode()
    clock = _at_ms(int(MINIMAL["timestamp"]))
    assert business.verify_external_data(forged, KEY, clock=clock).reason == business.TAMPERED


@pytest.mark.parametrize(
    ("offset_ms", "valid"),
    [(0, True), (30 * 60 * 1000, True), (30 * 60 * 1000 + 1, False), (-30 * 60 * 1000 - 1, False)],
)
def test_age_limit(offset_ms: int, valid: bool) -> None:
    """Thirty minutes either way of the timestamp, no more."""
    stamp = int(MINIMAL["timestamp"])
    verdict = business.verify_external_data(
        CASES["minimal"]["external_data"], KEY, clock=_at_ms(stamp + offset_ms)
    )
    assert verdict.valid is valid
    if not valid:
        assert verdict.reason is not None
        assert verdict.reason.startswith("external_data is too old or from the future")
        assert KEY not in verdict.reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not base64!", "external_data is not base64 of a JSON object"),
        (base64.b64encode(b"[1,2]").decode(), "external_data is not base64 of a JSON object"),
        (base64.b64encode(b"\xff\xfe").decode(), "external_data is not base64 of a JSON object"),
        (
            base64.b64encode(json.dumps({**MINIMAL, "locale": ""}).encode()).decode(),
            "mandatory fields missing or empty: locale",
        ),
        (base64.b64encode(json.dumps(MINIMAL).encode()).decode(), "external_data has no hmac"),
        (
            base64.b64encode(
                json.dumps({**MINIMAL, "timestamp": "x", "hmac": "0"}).encode()
            ).decode(),
            "timestamp is not milliseconds since the epoch",
        ),
    ],
)
def test_unreadable_rejected(text: str, reason: str) -> None:
    """Payloads that cannot be checked say why."""
    verdict = business.verify_external_data(text, KEY, clock=_at_ms(1700000000000))
    assert verdict.as_json() == {"valid": False, "reason": reason}


@pytest.mark.parametrize("name", business.MANDATORY_FIELDS[:1] + business.MANDATORY_FIELDS[2:])
def test_missing_mandatory_field_refused(name: str) -> None:
    """Each mandatory field other than the timestamp must be there and non-empty."""
    without = {key: value for key, value in MINIMAL.items() if key != name}
    with pytest.raises(business.ExternalDataError, match=f"missing or empty: {name}$"):
        business.build_external_data(without, KEY)
    with pytest.raises(business.ExternalDataError, match=name):
        business.build_external_data({**MINIMAL, name: ""}, KEY)


def test_timestamp_added_after_version_when_missing() -> None:
    """No timestamp: the clock's millisecond, right after version, as in the vectors."""
    fields = {key: value for key, value in MINIMAL.items() if key != "timestamp"}
    built = business.build_external_data(fields, KEY, clock=lambda: 1700000000.0)
    assert built == CASES["minimal"]["external_data"]
    only = business.build_external_data(
        {"locale": "en", "business_platform": "P", "external_business_id": "1", "version": "1.0"},
        KEY,
        clock=lambda: 1.5,
    )
    assert list(json.loads(base64.b64decode(only))) == [
        "locale",
        "business_platform",
        "external_business_id",
        "version",
        "timestamp",
        "hmac",
    ]


def test_integer_timestamp_becomes_a_string() -> None:
    """A JSON number timestamp is written as the string the plugin expects."""
    built = business.build_external_data({**MINIMAL, "timestamp": 1700000000000}, KEY)
    assert built == CASES["minimal"]["external_data"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"timestamp": "soon"}, "milliseconds"),
        ({"version": 1}, "'version' must be a string"),
        ({"hmac": "x"}, "computed"),
        ({"extra": 1.5}, "integers"),
        ({"extra": {"a": [0.5]}}, "integers"),
        ({"extra": object()}, "not a JSON value"),
        ({"store_name": "\ud800"}, "Unicode"),
    ],
)
def test_bad_fields_refused(change: dict[str, Any], match: str) -> None:
    """Fields that cannot be signed as the plugin would are refused."""
    with pytest.raises(business.ExternalDataError, match=match):
        business.build_external_data({**MINIMAL, **change}, KEY)


def test_over_long_refused_at_the_limit() -> None:
    """Base64 lengths are multiples of 4: 1948 characters pass, the next (1952) is refused."""
    size = 1000
    while len(business.build_external_data({**MINIMAL, "extra": "a" * size}, KEY)) < 1948:
        size += 1
    longest = business.build_external_data({**MINIMAL, "extra": "a" * (size + 2)}, KEY)
    assert len(longest) == 1948
    with pytest.raises(business.ExternalDataError, match="would be 1952 characters; at most 1950"):
        business.build_external_data({**MINIMAL, "extra": "a" * (size + 3)}, KEY)


def test_optional_fields_kept_in_order_outside_the_hmac() -> None:
    """Optional fields (non-ASCII too, written raw as JSON.stringify does) do not move the hmac."""
    fields = {
        **MINIMAL,
        "store_name": "Café / 咖啡",
        "whitelisted_features": ["a"],
        "is_test": True,
    }
    built = business.build_external_data(fields, KEY)
    text = base64.b64decode(built).decode()
    assert text == (
        '{"version":"1.0","timestamp":"1700000000000","locale":"en","business_platform":'
        '"TEST_PLATFORM","external_business_id":"shop-0001","store_name":"Café / 咖啡",'
        f'"whitelisted_features":["a"],"is_test":true,"hmac":"{CASES["minimal"]["hmac"]}"}}'
    )
    assert business.verify_external_data(built, KEY, clock=_at_ms(1700000000000)).valid


_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)


@given(_TEXT, _TEXT, _TEXT, st.integers(0, 2**45))
def test_built_data_verifies(locale: str, platform: str, business_id: str, stamp: int) -> None:
    """Whatever the values, what is built verifies at its own time, and not with another key."""
    fields = {
        "version": "1.0",
        "timestamp": str(stamp),
        "locale": locale,
        "business_platform": platform,
        "external_business_id": business_id,
    }
    built = business.build_external_data(fields, KEY)
    assert business.verify_external_data(built, KEY, clock=_at_ms(stamp)).valid
    assert business.verify_external_data(built, KEY + "x", clock=_at_ms(stamp)).reason == (
        business.TAMPERED
    )
