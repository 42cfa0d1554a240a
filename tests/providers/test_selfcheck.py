"""The shared self-check: signatures must cover exactly the signed query, body and UA."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from providers import profiles, selfcheck, xdynosaur, xgnarly
from providers.errors import SelfCheckFailed
from providers.native import NativeProvider
from providers.typing import Persona, PersonaStore, SignRequest, SignResult
from providers.urls import SignedUrl, parse_signed
from providers.xgnarly import Field
from signer.settings import Settings
from signer.wiring import persona_from
from tests.support import load_vectors

BODY = '{"a":1}'


def persona_2025() -> Persona:
    """The configured persona imitating a 2025 build (X-Bogus hash, 5.1.3 X-Gnarly)."""
    return dataclasses.replace(
        persona_from(Settings()),
        sdk_build="1.0.0.368",
        gnarly_version="5.1.3-ZTCA",
        gnarly_build="1.0.0.368",
        flags=(4, 65, 14),
        canvas=3666844619,
    )


@pytest.fixture
def good() -> SignResult:
    """A genuine native signature of a POST."""
    store = PersonaStore(persona_2025())
    provider = NativeProvider(store, rng=random.Random(3))
    request = SignRequest(url="https://www.tiktok.com/api/x/?aid=1988", method="POST", body=BODY)
    return provider.sign_now(request)


def test_a_genuine_signature_passes(good: SignResult) -> None:
    """Nothing to report on the native provider's own output."""
    assert selfcheck.problem(good, BODY) is None


def test_other_body_fails(good: SignResult) -> None:
    """A signature of another body is caught by X-Bogus."""
    assert "X-Bogus does not re-encode" in str(selfcheck.problem(good, "{}"))


def test_missing_x_bogus_fails(good: SignResult) -> None:
    """A URL without X-Bogus cannot be trusted."""
    bare = dataclasses.replace(good, signed_url=good.signed_url.split("&X-Bogus=")[0])
    assert selfcheck.problem(bare, BODY) == "the signed URL carries no X-Bogus"


def test_undecodable_x_bogus_fails(good: SignResult) -> None:
    """Garbage in place of X-Bogus is reported as such."""
    broken = dataclasses.replace(good, x_bogus="DFSznotatoken")
    assert "X-Bogus does not decode" in str(selfcheck.problem(broken, BODY))


def test_undecodable_x_gnarly_fails(good: SignResult) -> None:
    """Garbage in place of X-Gnarly is reported as such."""
    broken = dataclasses.replace(good, x_gnarly="Mnotatoken")
    assert "X-Gnarly does not decode" in str(selfcheck.problem(broken, BODY))


def test_x_gnarly_of_another_request_fails(good: SignResult) -> None:
    """An X-Gnarly hashing another user agent is caught."""
    other = dataclasses.replace(good, user_agent="Mozilla/5.0 other")
    store = PersonaStore(dataclasses.replace(persona_2025(), user_agent=other.user_agent))
    foreign = NativeProvider(store).sign_now(
        SignRequest(url="https://www.tiktok.com/api/x/?aid=1988", method="POST", body=BODY)
    )
    mixed = dataclasses.replace(good, x_gnarly=foreign.x_gnarly)
    assert selfcheck.problem(mixed, BODY) == (
        "X-Gnarly does not hash the signed query, body and UA"
    )


def test_query_carrying_an_x_bogus_is_checked_as_signed() -> None:
    """A caller's stale X-Bogus is part of the signed query; the last X-Bogus is checked."""
    provider = NativeProvider(PersonaStore(persona_2025()), rng=random.Random(5))
    url = "https://www.tiktok.com/api/x/?aid=1988&X-Bogus=stale"
    result = provider.sign_now(SignRequest(url=url))
    assert "?aid=1988&X-Bogus=stale&msToken=&X-Bogus=" in result.signed_url
    assert selfcheck.problem(result, "") is None


# The profile-aware checks: TikTok's own 1.0.0.417 output, tampered copies, unknown builds.
HTTP_417: list[dict[str, Any]] = load_vectors("sdk-1.0.0.417-http.json")["vectors"]
WS_417: list[dict[str, Any]] = load_vectors("sdk-1.0.0.417-ws.json")["vectors"]
PROFILE_417 = profiles.get("1.0.0.417")


def _signed(vector: dict[str, Any]) -> SignedUrl:
    signed = parse_signed(vector["signed_url"])
    assert signed is not None
    return signed


@pytest.mark.parametrize("vector", HTTP_417, ids=[v["id"] for v in HTTP_417])
def test_every_sdk_http_vector_verifies(vector: dict[str, Any]) -> None:
    """The SDK's own signed URLs pass, recognised as 1.0.0.417 with their environment."""
    verified = selfcheck.verify_http(_signed(vector), vector["body"], vector["user_agent"])
    gnarly = {f[0]: f[2] for f in vector["x_gnarly_decoded"]["decoded_fields"]}
    assert verified.known
    assert verified.profile is PROFILE_417
    assert (verified.build, verified.gnarly_version) == ("1.0.0.417", "5.3.2")
    assert (verified.envcode, verified.ubcode, verified.canvas) == (gnarly[1], 14, 3666844619)
    assert verified.flags == (gnarly[1] >> 8, gnarly[1] & 255, 14)
    assert verified.x_dynosaur is not None
    assert verified.x_dynosaur.get(0x27) == str(vector["pinned_timestamp_s"])


@pytest.mark.parametrize("vector", WS_417, ids=[v["id"] for v in WS_417])
def test_every_sdk_socket_vector_verifies(vector: dict[str, Any]) -> None:
    """The socket signer's tokens pass over the raw query, and as a signed wss:// URL."""
    verified = selfcheck.verify_ws(
        vector["X-MS-Q"], vector["user_agent"], vector["expected_x_gnarly"]
    )
    assert verified.profile is PROFILE_417
    assert verified.x_dynosaur is None
    navigator = persona_2025().navigator(vector["user_agent"])
    result = SignResult(
        signed_url=vector["ws_url"].replace(" ", "%20"), x_bogus=None,
        x_gnarly=vector["expected_x_gnarly"], ms_token="", user_agent=vector["user_agent"],
        navigator=navigator, provider="sdk",
    )  # fmt: skip
    assert selfcheck.problem(result, "") is None
    assert "socket query" in str(selfcheck.problem(dataclasses.replace(result, user_agent="x"), ""))


VECTOR = HTTP_417[5]  # a POST with a non-ASCII JSON body and an msToken


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": "{}"}, "does not hash the signed query, body and UA"),
        ({"user_agent": "Mozilla/5.0"}, "does not hash the signed query, body and UA"),
    ],
)
def test_another_body_or_ua_is_refused(change: dict[str, str], message: str) -> None:
    """A signature of another body or UA fails the X-Gnarly hashes first."""
    inputs = {"body": VECTOR["body"], "user_agent": VECTOR["user_agent"], **change}
    with pytest.raises(SelfCheckFailed, match=message):
        selfcheck.verify_http(_signed(VECTOR), **inputs)


def test_a_tampered_query_is_refused() -> None:
    """One changed character of the business query fails, before or after X-Dynosaur."""
    signed = _signed(VECTOR)
    tampered = signed._replace(signed_query=signed.signed_query.replace("aid=1988", "aid=1989"))
    with pytest.raises(SelfCheckFailed, match="signed query"):
        selfcheck.verify_http(tampered, VECTOR["body"], VECTOR["user_agent"])
    base_only = signed._replace(base_query=signed.base_query.replace("aid=1988", "aid=1989"))  # type: ignore[union-attr]
    with pytest.raises(SelfCheckFailed, match="base query"):
        selfcheck.verify_http(base_only, VECTOR["body"], VECTOR["user_agent"])


def _reencoded_gnarly(vector: dict[str, Any], **values: int | str) -> str:
    """The vector's X-Gnarly with fields replaced and checksums 16 and 0 made right again."""
    fields = [Field(*entry) for entry in vector["x_gnarly_decoded"]["decoded_fields"]]
    fields = [
        Field(f.id, len(v.encode()) if isinstance(v, str) else f.width, v)
        if (v := values.get(f"f{f.id}")) is not None
        else f
        for f in fields
    ]
    fields = [Field(16, 4, xgnarly.field_16(fields)) if f.id == 16 else f for f in fields]
    xor_all = 0
    for f in fields:
        if f.id != 0 and isinstance(f.value, int):
            xor_all ^= f.value
    fields = [Field(0, 4, xor_all) if f.id == 0 else f for f in fields]
    return xgnarly.encode_fields(fields, key=bytes(range(48)))


def test_a_time_that_disagrees_between_the_tokens_is_refused() -> None:
    """X-Gnarly field 6 and X-Dynosaur 0x27 are the same second, give or take the edge one.

    The SDK reads the clock once per token: across a second's edge field 6 is one later.
    """
    seconds = VECTOR["pinned_timestamp_s"]
    for skew in (1, -1):
        edge = _signed(VECTOR)._replace(x_gnarly=_reencoded_gnarly(VECTOR, f6=seconds + skew))
        assert selfcheck.verify_http(edge, VECTOR["body"], VECTOR["user_agent"]).known
    signed = _signed(VECTOR)._replace(x_gnarly=_reencoded_gnarly(VECTOR, f6=seconds + 2))
    with pytest.raises(SelfCheckFailed, match="field 6 and X-Dynosaur 0x27 disagree"):
        selfcheck.verify_http(signed, VECTOR["body"], VECTOR["user_agent"])


def test_an_environment_that_disagrees_is_refused() -> None:
    """The envcode of X-Gnarly must be the one X-Dynosaur carries."""
    signed = _signed(VECTOR)._replace(x_gnarly=_reencoded_gnarly(VECTOR, f1=65))
    with pytest.raises(SelfCheckFailed, match="field 1 and X-Dynosaur 0x26 disagree"):
        selfcheck.verify_http(signed, VECTOR["body"], VECTOR["user_agent"])


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"x_gnarly": "Mnotatoken"}, "X-Gnarly does not decode"),
        ({"x_dynosaur": "Mnotatoken"}, "X-Dynosaur does not decode"),
        ({"x_bogus": "DFSzswVLAAAAAAAAAAAAAAAAAAAA"}, "X-Bogus is not the literal"),
        ({"x_gnarly": None}, "no X-Gnarly"),
    ],
)
def test_broken_tokens_are_refused(replace: dict[str, Any], message: str) -> None:
    """Garbage, a hash X-Bogus on a 2026 URL, or a missing X-Gnarly is refused."""
    with pytest.raises(SelfCheckFailed, match=message):
        selfcheck.verify_http(
            _signed(VECTOR)._replace(**replace), VECTOR["body"], VECTOR["user_agent"]
        )


def test_a_dynosaur_of_another_request_is_refused() -> None:
    """An X-Dynosaur taken from another signed request does not hash this one."""
    other = HTTP_417[1]["expected_x_dynosaur"]
    with pytest.raises(SelfCheckFailed, match="X-Dynosaur does not hash"):
        selfcheck.verify_http(
            _signed(VECTOR)._replace(x_dynosaur=other), VECTOR["body"], VECTOR["user_agent"]
        )


def test_a_known_build_must_have_its_field_set() -> None:
    """A token naming 1.0.0.417 without field 16 is not what that build writes."""
    fields = [Field(*e) for e in VECTOR["x_gnarly_decoded"]["decoded_fields"] if e[0] != 16]
    xor_all = 0
    for f in fields:
        if f.id != 0 and isinstance(f.value, int):
            xor_all ^= f.value
    fields = [Field(0, 4, xor_all) if f.id == 0 else f for f in fields]
    token = xgnarly.encode_fields(fields, key=bytes(range(48)))
    with pytest.raises(SelfCheckFailed, match=r"fields of build 1\.0\.0\.417"):
        selfcheck.verify_http(
            _signed(VECTOR)._replace(x_gnarly=token), VECTOR["body"], VECTOR["user_agent"]
        )


def test_an_unknown_build_verifies_with_no_profile() -> None:
    """Tokens naming a build without a profile pass on their hashes and come back unknown."""
    dynosaur = xdynosaur.decode(VECTOR["expected_x_dynosaur"])
    records = [
        xdynosaur.Record(r.tag, "9.9.9" if r.tag == 0x31 else "5.4.0" if r.tag == 0x2A else r.value)
        for r in dynosaur.records
    ]
    records[0] = xdynosaur.Record(
        0x20,
        str(xdynosaur.checksum((r.tag, xdynosaur.encode_value(r.tag, r.value)) for r in records)),
    )
    signed = _signed(VECTOR)._replace(
        x_gnarly=_reencoded_gnarly(VECTOR, f9="5.4.0", f10="9.9.9"),
        x_dynosaur=xdynosaur.encode_records(records),
    )
    verified = selfcheck.verify_http(signed, VECTOR["body"], VECTOR["user_agent"])
    assert not verified.known
    assert (verified.profile, verified.build, verified.gnarly_version) == (None, "9.9.9", "5.4.0")
    with pytest.raises(SelfCheckFailed, match="does not hash"):
        selfcheck.verify_http(signed, "{}", VECTOR["user_agent"])


def test_an_unknown_socket_build_verifies_with_no_profile() -> None:
    """A socket token of an unknown build is checked on its hashes only."""
    vector = WS_417[0]
    token = _reencoded_gnarly(vector, f9="5.4.0", f10="9.9.9", f12=3)
    verified = selfcheck.verify_ws(vector["X-MS-Q"], vector["user_agent"], token)
    assert (verified.profile, verified.build) == (None, "9.9.9")


def test_a_known_socket_token_that_counts_is_refused() -> None:
    """1.0.0.417's socket signer writes counters 0."""
    vector = WS_417[0]
    token = _reencoded_gnarly(vector, f12=1)
    with pytest.raises(SelfCheckFailed, match="counts requests"):
        selfcheck.verify_ws(vector["X-MS-Q"], vector["user_agent"], token)


def test_a_2025_build_has_no_socket_signer() -> None:
    """A socket token naming a 2025 build is refused."""
    vector = WS_417[0]
    fields = xgnarly.build_fields(
        vector["X-MS-Q"], "", vector["user_agent"], timestamp=1, canvas=1, flags=(4, 65, 14),
        page_load_us=1, sdk_version="5.1.3-ZTCA", sdk_build="1.0.0.368", ubcode=14,
        requests_seen=0, requests_signed=0, session_random16=1, random32=1,
        order=xgnarly.ASCENDING_ORDER,
    )  # fmt: skip
    with pytest.raises(SelfCheckFailed, match="no socket signer"):
        selfcheck.verify_ws(vector["X-MS-Q"], vector["user_agent"], xgnarly.encode_fields(fields))


def test_2025_signatures_report_their_build_and_x_bogus_flags(good: SignResult) -> None:
    """A 2025 URL verifies as its build, the flags and canvas read from X-Bogus."""
    signed = parse_signed(good.signed_url)
    assert signed is not None
    verified = selfcheck.verify_http(signed, BODY, good.user_agent)
    assert verified.profile is profiles.get("1.0.0.368")
    assert (verified.flags, verified.canvas, verified.x_dynosaur) == ((4, 65, 14), 3666844619, None)
    assert (verified.envcode, verified.ubcode) == (4 << 8 | 65, 14)


def test_a_2026_build_without_x_dynosaur_is_refused() -> None:
    """2025-shaped URL whose X-Gnarly names 1.0.0.417: that build always writes X-Dynosaur."""
    store = PersonaStore(persona_2025())
    result = NativeProvider(store, rng=random.Random(1)).sign_now(
        SignRequest(url="https://www.tiktok.com/api/x/?aid=1988")
    )
    signed = parse_signed(result.signed_url)
    assert signed is not None
    query = signed.signed_query
    fields = xgnarly.build_fields_532(
        query, "", result.user_agent, timestamp=1, canvas=1, envcode=65, ubcode=14, nonce=1,
        sdk_version="5.3.2", sdk_build="1.0.0.417", requests_seen=1, requests_signed=1,
        order=xgnarly.FIELD_IDS_532,
    )  # fmt: skip
    with pytest.raises(SelfCheckFailed, match="writes X-Dynosaur"):
        selfcheck.verify_http(
            signed._replace(x_gnarly=xgnarly.encode_fields(fields)), "", result.user_agent
        )


def test_problem_reports_a_socket_url_without_token(good: SignResult) -> None:
    """A wss:// URL without X-Gnarly cannot be trusted."""
    bare = dataclasses.replace(good, signed_url="wss://h/ws/?a=1", x_gnarly=None)
    assert selfcheck.problem(bare, "") == "the socket URL carries no X-Gnarly"


def test_messages_quote_no_url_query_or_token() -> None:
    """Failure messages stay short and never carry the URL, query or tokens."""
    signed = _signed(VECTOR)
    for body, ua in (("{}", VECTOR["user_agent"]), (VECTOR["body"], "x")):
        with pytest.raises(SelfCheckFailed) as caught:
            selfcheck.verify_http(signed, body, ua)
        message = caught.value.message
        assert len(message) < 100
        for secret in (VECTOR["ms_token"], signed.x_gnarly, signed.x_dynosaur, "aid=1988"):
            assert str(secret) not in message
