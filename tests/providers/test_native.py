"""The native provider: SDK-exact signing through the Provider interface."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from typing import Any

import pytest

from providers import registry, xbogus, xgnarly
from providers.errors import ProviderConfigError
from providers.native import NativeProvider
from providers.typing import NoEvents, PersonaStore, Provider, SignRequest
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
        persona_from(Settings()), flags=flags, canvas=canvas, sdk_build=sdk_build
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
