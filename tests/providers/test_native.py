"""The native provider: SDK-exact signing through the Provider interface."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers import profiles, registry, selfcheck, xbogus, xdynosaur, xgnarly
from providers.errors import ProviderConfigError, ProviderDeclined
from providers.native import NativeProvider, field_order, url_path, version_strings
from providers.typing import NoEvents, PersonaStore, Provider, SignRequest
from providers.urls import parse_signed, parse_socket
from signer.settings import Settings
from signer.wiring import persona_from, provider_context
from tests.fakes.clock import FakeClock
from tests.support import load_vectors

XBOGUS = load_vectors("xbogus-sdk.json")["vectors"]
INTERCEPTED = [v for v in XBOGUS if v["path"] == "interceptor(fetch)"]
BASE = "https://www.tiktok.com/api/post/item_list/"


def make_provider(
    *, flags: tuple[int, int, int] = (6, 65, 14), canvas: int = 3666844619, now: float = 1.75e9,
    order: str = "session", max_signatures: int = 500, max_age_s: float = 1800.0,
    sdk_build: str = "1.0.0.368",
) -> tuple[NativeProvider, FakeClock]:  # fmt: skip
    clock = FakeClock(now)
    persona = dataclasses.replace(
        persona_from(Settings()),
        flags=flags,
        canvas=canvas,
        sdk_build=sdk_build,
        gnarly_version="5.1.3-ZTCA",
        gnarly_build="1.0.0.368",
    )
    provider = NativeProvider(
        PersonaStore(persona),
        order_policy=order,
        max_signatures=max_signatures,
        max_age_s=max_age_s,
        clock=clock,
        rng=random.Random(7),
    )
    return provider, clock


def signed_query(signed_url: str) -> str:
    return signed_url.split("?", 1)[1].split("&X-Bogus=", 1)[0]


@pytest.mark.parametrize(
    "vector",
    INTERCEPTED,
    ids=[f"{v['sdk_version']}-{v['case']}-{i}" for i, v in enumerate(INTERCEPTED)],
)
async def test_reproduces_sdk_interceptor_vectors(vector: dict[str, Any]) -> None:
    """From the page's request (URL, body, UA) the provider gives the SDK's X-Bogus."""
    decoded = vector["decoded"]
    provider, _ = make_provider(
        flags=tuple(decoded["flags"]), canvas=decoded["canvas"], now=decoded["ts"] + 0.25
    )
    request = SignRequest(
        url=f"{BASE}?{vector['request_query']}",
        method=vector["method"],
        body=vector["body"],
        user_agent=vector["user_agent"],
        ms_token="",  # the page's localStorage.xmst was empty
    )
    result = await provider.sign(request)
    assert signed_query(result.signed_url) == vector["query"]
    assert result.x_bogus == vector["expected_x_bogus"]


async def test_x_gnarly_record_matches_request_and_persona() -> None:
    """The X-Gnarly record hashes what was signed and carries the persona's values."""
    provider, _ = make_provider()
    body = '{"a":1}'
    ua = "Mozilla/5.0 test"
    result = await provider.sign(
        SignRequest(url=f"{BASE}?aid=1988", method="POST", body=body, user_agent=ua)
    )
    assert result.x_gnarly is not None
    token = xgnarly.decode(result.x_gnarly)
    query = signed_query(result.signed_url)
    assert token.get(3) == hashlib.md5(query.encode()).hexdigest()
    assert token.get(4) == hashlib.md5(body.encode()).hexdigest()
    assert token.get(5) == hashlib.md5(ua.encode()).hexdigest()
    assert token.get(1) == (6 << 8) | 65
    assert token.get(2) == 14
    assert token.get(6) == 1_750_000_000
    assert token.get(7) == 3666844619
    assert (token.get(9), token.get(10)) == ("5.1.3-ZTCA", "1.0.0.368")
    assert token.get(14) >> 16 == token.get(1)  # type: ignore[operator]


async def test_session_counters_and_order_like_one_page() -> None:
    """Within a session the field order and random16 hold and the counters climb."""
    provider, _ = make_provider()
    tokens = []
    for _ in range(3):
        result = await provider.sign(SignRequest(url=f"{BASE}?aid=1988"))
        assert result.x_gnarly is not None
        tokens.append(xgnarly.decode(result.x_gnarly))
    orders = {tuple(field.id for field in token.fields) for token in tokens}
    assert len(orders) == 1
    assert [t.get(13) for t in tokens] == [1, 2, 3]
    assert [t.get(12) for t in tokens] == [2, 3, 4]
    assert len({t.get(14) for t in tokens}) == 1
    assert len({t.get(15) for t in tokens}) == 3
    assert len({t.key for t in tokens}) == 3


async def test_session_renews_after_max_signatures() -> None:
    """After session_max_signatures the counters restart, as in a fresh page."""
    provider, _ = make_provider(max_signatures=2)
    counts = []
    for _ in range(3):
        result = await provider.sign(SignRequest(url=f"{BASE}?aid=1988"))
        assert result.x_gnarly is not None
        counts.append(xgnarly.decode(result.x_gnarly).get(13))
    assert counts == [1, 2, 1]
    assert provider.sessions_started == 2


async def test_session_renews_after_max_age() -> None:
    """An old session is replaced; its page-load time moves with it."""
    provider, clock = make_provider(max_age_s=60)
    first = await provider.sign(SignRequest(url=f"{BASE}?aid=1988"))
    clock.advance(61)
    second = await provider.sign(SignRequest(url=f"{BASE}?aid=1988"))
    assert first.x_gnarly is not None
    assert second.x_gnarly is not None
    assert xgnarly.decode(second.x_gnarly).get(13) == 1
    assert xgnarly.decode(first.x_gnarly).get(8) != xgnarly.decode(second.x_gnarly).get(8)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("ascending", xgnarly.ASCENDING_ORDER), ("carcabot", xgnarly.CARCABOT_ORDER)],
)
async def test_fixed_field_order_policies(policy: str, expected: tuple[int, ...]) -> None:
    """A configured order policy is the wire order of the record."""
    provider, _ = make_provider(order=policy)
    result = await provider.sign(SignRequest(url=f"{BASE}?aid=1988"))
    assert result.x_gnarly is not None
    assert tuple(f.id for f in xgnarly.decode(result.x_gnarly).fields) == expected


async def test_published_persona_reaches_the_next_signature() -> None:
    """Values published to the store (by the browser) are used by the next signature."""
    store = PersonaStore(persona_from(Settings()))
    provider = NativeProvider.from_context(provider_context(Settings(), NoEvents(), store))
    assert store.publish(
        flags=(2, 65, 14),
        canvas=12345,
        gnarly_version="5.2.0",
        gnarly_build=None,
        sdk_build="1.0.0.368",
    )
    result = await provider.sign(SignRequest(url=f"{BASE}?aid=1"))
    assert result.x_bogus is not None
    decoded = xbogus.decode(result.x_bogus)
    assert (decoded.flags, decoded.canvas) == ((2, 65, 14), 12345)
    assert result.x_gnarly is not None
    record = xgnarly.decode(result.x_gnarly)
    assert (record.get(9), record.get(10)) == ("5.2.0", None)


async def test_lifecycle_and_health() -> None:
    """Health says stopped before start, ready after, stopped after close."""
    provider = NativeProvider.from_context(provider_context(Settings(), NoEvents()))
    assert isinstance(provider, Provider)
    assert provider.health().state == "stopped"
    await provider.start()
    assert provider.health().state == "ready"
    await provider.aclose()
    assert provider.health().state == "stopped"


def test_registry_builds_the_configured_order() -> None:
    """The registry builds one provider per configured name, in order."""
    context = provider_context(Settings(), NoEvents())
    providers = registry.build(("native",), context)
    assert [p.name for p in providers] == ["native"]


def test_registry_rejects_unknown_names() -> None:
    """An unknown provider name fails at start-up and lists the known ones."""
    context = provider_context(Settings(), NoEvents())
    with pytest.raises(ProviderConfigError, match=r"unknown provider nope \(known: browser, nat"):
        registry.build(("native", "nope"), context)


# 2026: build 1.0.0.417 (X-Dynosaur, X-Gnarly 5.3.2, X-Bogus=1, socket signing).
HTTP_417: list[dict[str, Any]] = load_vectors("sdk-1.0.0.417-http.json")["vectors"]
WS_417: list[dict[str, Any]] = load_vectors("sdk-1.0.0.417-ws.json")["vectors"]
WS_BASE = "wss://webcast-ws.tiktok.com/webcast/im/ws_proxy/ws_reuse_supplement/"


def provider_2026(
    *, flags: tuple[int, int, int] = (4, 65, 14), now: float = 1.795e9, **options: Any
) -> NativeProvider:
    """A native provider imitating 1.0.0.417 with the configured persona's other values."""
    persona = dataclasses.replace(
        persona_from(Settings()), flags=flags, sdk_build="1.0.0.417", location="www.tiktok.com/"
    )
    return NativeProvider(
        PersonaStore(persona), clock=FakeClock(now), rng=random.Random(11), **options
    )


def test_2026_signed_url_has_the_sdks_shape() -> None:
    """The query as the SDK rewrites it, then X-Dynosaur, msToken, X-Bogus=1, X-Gnarly."""
    provider = provider_2026()
    result = provider.sign_now(SignRequest(url=f"{BASE}?aid=1988&q=a b", ms_token="tok"))
    assert result.signed_url.startswith(f"{BASE}?aid=1988&q=a%20b&X-Dynosaur=")
    assert f"&X-Dynosaur={result.x_dynosaur}&msToken=tok&X-Bogus=1&X-Gnarly=" in (result.signed_url)
    assert result.signed_url.endswith(f"&X-Gnarly={result.x_gnarly}")
    assert (result.x_bogus, result.ms_token, result.sdk_version) == ("1", "tok", "1.0.0.417")


def test_2026_without_a_query_starts_with_x_dynosaur() -> None:
    """A URL without a query gets '?X-Dynosaur=' and an empty msToken."""
    result = provider_2026().sign_now(SignRequest(url=BASE))
    assert result.signed_url.startswith(f"{BASE}?X-Dynosaur={result.x_dynosaur}&msToken=&X-")
    signed = parse_signed(result.signed_url)
    assert signed is not None
    assert signed.base_query == ""
    assert selfcheck.verify_http(signed, "", result.user_agent).known


@pytest.mark.parametrize("vector", HTTP_417, ids=[v["id"] for v in HTTP_417])
def test_2026_signs_the_query_the_sdk_signed(vector: dict[str, Any]) -> None:
    """For every vector's page request, native signs the SDK's signed query, and it verifies."""
    provider = provider_2026(now=vector["pinned_date_now_ms"] / 1000)
    request = SignRequest(
        url=vector["request_url"], method=vector["method"], body=vector["body"],
        user_agent=vector["user_agent"], ms_token=vector["ms_token"],
    )  # fmt: skip
    result = provider.sign_now(request)
    signed = parse_signed(result.signed_url)
    assert signed is not None
    assert signed.base_query == vector["base_query"]
    assert signed.signed_query.endswith(f"&msToken={vector['ms_token']}")
    verified = selfcheck.verify_http(signed, vector["body"], vector["user_agent"])
    assert verified.profile is profiles.get("1.0.0.417")
    assert verified.x_gnarly is not None
    assert verified.x_gnarly.get(6) == vector["pinned_timestamp_s"]


def test_2026_tokens_carry_the_persona_environment() -> None:
    """envcode, ubcode, canvas, versions and location come from the persona and profile."""
    provider = provider_2026(flags=(0, 65, 14))
    result = provider.sign_now(SignRequest(url=f"{BASE}?aid=1988", body="x=1"))
    assert result.x_gnarly is not None
    assert result.x_dynosaur is not None
    gnarly = xgnarly.decode(result.x_gnarly)
    dynosaur = xdynosaur.decode(result.x_dynosaur)
    assert (gnarly.get(1), gnarly.get(2), gnarly.get(7)) == (65, 14, 3666844619)
    assert (gnarly.get(9), gnarly.get(10), gnarly.get(11)) == ("5.3.2", "1.0.0.417", 1)
    assert (dynosaur.get(0x26), dynosaur.get(0x36), dynosaur.get(0x2C)) == (
        "65",
        "14",
        "3666844619",
    )
    assert (dynosaur.get(0x2A), dynosaur.get(0x31), dynosaur.get(0x35)) == (
        "5.3.2", "1.0.0.417", "www.tiktok.com/",
    )  # fmt: skip
    assert (dynosaur.get(0x32), dynosaur.get(0x33), dynosaur.get(0x38)) == ("0", "0", 0x811C9DC4)
    assert sorted(f.id for f in gnarly.fields) == list(range(17))


def test_2026_counters_climb_like_one_page() -> None:
    """The n-th request: X-Gnarly 12 = n, 13 = 2n, X-Dynosaur 0x25 = 0x2f = n; order fixed."""
    provider = provider_2026()
    seen = []
    orders = set()
    for _ in range(3):
        result = provider.sign_now(SignRequest(url=f"{BASE}?aid=1988"))
        assert result.x_gnarly is not None
        assert result.x_dynosaur is not None
        gnarly = xgnarly.decode(result.x_gnarly)
        dynosaur = xdynosaur.decode(result.x_dynosaur)
        seen.append((gnarly.get(12), gnarly.get(13), dynosaur.get(0x25), dynosaur.get(0x2F)))
        orders.add(tuple(f.id for f in gnarly.fields))
    assert seen == [(1, 2, "1", "1"), (2, 4, "2", "2"), (3, 6, "3", "3")]
    assert len(orders) == 1


def test_2026_persona_with_an_older_builds_strings_writes_the_profiles() -> None:
    """A persona left with 1.0.0.368's version strings signs 1.0.0.417 as 1.0.0.417."""
    persona = dataclasses.replace(
        persona_from(Settings()), gnarly_version="5.1.3-ZTCA", gnarly_build="1.0.0.368"
    )
    assert version_strings(persona, profiles.get("1.0.0.417")) == ("5.3.2", "1.0.0.417")
    custom = dataclasses.replace(persona, gnarly_version="5.3.3", gnarly_build="1.0.0.500")
    assert version_strings(custom, profiles.get("1.0.0.417")) == ("5.3.3", "1.0.0.500")


def test_an_unknown_persona_build_signs_with_the_newest_layout() -> None:
    """A build without a profile is imitated with the newest layout; the check flags it."""
    persona = dataclasses.replace(
        persona_from(Settings()), sdk_build="9.9.9", gnarly_version="5.4.0", gnarly_build="9.9.9"
    )
    provider = NativeProvider(PersonaStore(persona), rng=random.Random(2))
    result = provider.sign_now(SignRequest(url=f"{BASE}?aid=1"))
    signed = parse_signed(result.signed_url)
    assert signed is not None
    verified = selfcheck.verify_http(signed, "", result.user_agent)
    assert (verified.profile, verified.build, verified.gnarly_version) == (None, "9.9.9", "5.4.0")
    assert result.sdk_version == profiles.newest().build


@pytest.mark.parametrize("vector", WS_417, ids=[v["id"] for v in WS_417])
def test_2026_socket_signature_of_every_vector_query(vector: dict[str, Any]) -> None:
    """A socket URL is signed over its raw query; the URL goes out as a WebSocket writes it."""
    provider = provider_2026(now=vector["pinned_date_now_ms"] / 1000)
    url = vector["ws_url"].split("&X-Gnarly=")[0]
    result = provider.sign_now(SignRequest(url=url, user_agent=vector["user_agent"], kind="ws"))
    assert (result.x_bogus, result.x_dynosaur, result.ms_token) == (None, None, "")
    assert result.x_gnarly is not None
    query = vector["X-MS-Q"]
    assert result.signed_url == (
        f"{WS_BASE}?{query.replace(' ', '%20')}&X-Gnarly={quote(result.x_gnarly, safe='')}"
    )
    socket = parse_socket(result.signed_url)
    assert socket is not None
    assert (socket.query, socket.x_gnarly) == (query, result.x_gnarly)
    verified = selfcheck.verify_ws(query, vector["user_agent"], result.x_gnarly)
    assert verified.profile is profiles.get("1.0.0.417")
    token = xgnarly.decode(result.x_gnarly)
    assert (token.get(6), token.get(12), token.get(13)) == (vector["pinned_timestamp_s"], 0, 0)
    assert selfcheck.problem(result, "") is None


def test_socket_signatures_do_not_move_the_http_counters() -> None:
    """The socket signer counts nothing; the next fetch is still the first."""
    provider = provider_2026()
    provider.sign_now(SignRequest(url=f"{WS_BASE}?room_id=1", kind="ws"))
    result = provider.sign_now(SignRequest(url=f"{BASE}?aid=1"))
    assert result.x_gnarly is not None
    assert xgnarly.decode(result.x_gnarly).get(12) == 1


def test_2025_builds_decline_socket_urls() -> None:
    """A 2025 build has no socket signer: the next provider must sign."""
    provider, _ = make_provider()
    with pytest.raises(ProviderDeclined, match="no socket signer"):
        provider.sign_now(SignRequest(url=f"{WS_BASE}?room_id=1", kind="ws"))


@pytest.mark.parametrize(
    "url",
    [
        "https://www.tiktok.com/webcast/im/fetch/?aid=1988",
        "https://www.tiktok.com/foo/bar?aid=1",
        "https://www.tiktok.com",
    ],
)
def test_paths_the_build_does_not_sign_are_declined(url: str) -> None:
    """1.0.0.417 signs /api/ and /webcast/, but never /webcast/im/fetch/."""
    with pytest.raises(ProviderDeclined, match=r"does not sign this path"):
        provider_2026().sign_now(SignRequest(url=url))


def test_2025_build_still_signs_webcast_im_fetch() -> None:
    """The LIVE fetch is on a 2025 build's list."""
    provider, _ = make_provider()
    result = provider.sign_now(SignRequest(url="https://www.tiktok.com/webcast/im/fetch/?a=1"))
    assert result.x_bogus is not None
    assert len(result.x_bogus) == 28


def test_a_malformed_percent_escape_is_declined() -> None:
    """The SDK throws on a malformed '%': native declines without quoting the query."""
    with pytest.raises(ProviderDeclined, match="malformed percent escape") as caught:
        provider_2026().sign_now(SignRequest(url=f"{BASE}?q=100%zz"))
    assert "zz" not in caught.value.message


def test_url_path_reads_absolute_and_relative_urls() -> None:
    """The path of an absolute URL, a relative one, and a bare host."""
    assert url_path("https://www.tiktok.com/api/x/") == "/api/x/"
    assert url_path("/api/x/") == "/api/x/"
    assert url_path("https://www.tiktok.com") == "/"


def test_field_order_for_532_fills_in_the_ids_a_policy_lacks() -> None:
    """A 16-id policy gets field 16 appended for a 5.3.2 record; 'session' shuffles 17."""
    rng = random.Random(4)
    ids = xgnarly.FIELD_IDS_532
    assert field_order("carcabot", rng, with_build=True, field_ids=ids) == (
        *xgnarly.CARCABOT_ORDER,
        16,
    )
    assert sorted(field_order("session", rng, with_build=True, field_ids=ids)) == list(ids)


URL_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="#%&?="), max_size=12)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    pairs=st.lists(st.tuples(URL_TEXT, URL_TEXT), max_size=6),
    body=st.text(max_size=60),
    user_agent=st.text(min_size=1, max_size=60).filter(lambda ua: ua.strip() == ua),
    ms_token=st.one_of(st.none(), st.text(alphabet="abcXYZ019-_=", max_size=20)),
    flags=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
)
def test_random_2026_requests_verify_and_carry_the_persona(
    pairs: list[tuple[str, str]],
    body: str,
    user_agent: str,
    ms_token: str | None,
    flags: tuple[int, int, int],
) -> None:
    """Any request signed natively passes verify_http with the persona's environment."""
    query = "&".join(f"{k}={v}" for k, v in pairs)
    provider = provider_2026(flags=flags)
    result = provider.sign_now(
        SignRequest(url=f"{BASE}?{query}", method="POST", body=body, user_agent=user_agent,
                    ms_token=ms_token)
    )  # fmt: skip
    signed = parse_signed(result.signed_url)
    assert signed is not None
    verified = selfcheck.verify_http(signed, body, user_agent)
    assert verified.profile is profiles.get("1.0.0.417")
    assert (verified.flags, verified.canvas) == (flags, 3666844619)
    assert selfcheck.problem(result, body) is None
