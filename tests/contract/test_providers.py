"""The provider contract, parametrized over every provider (see tests/contract/__init__.py)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from providers import registry, selfcheck, xbogus, xdynosaur, xgnarly
from providers.config import RemoteConfig
from providers.errors import ProviderDeclined, ProviderError
from providers.fake import FakeProvider
from providers.typing import Provider, SignRequest
from providers.urls import browser_query, last_param, parse_signed, split_url
from signer.metrics import Metrics
from signer.settings import Settings
from signer.wiring import persona_from, provider_context
from tests.fakes.tiktok import MS_TOKEN, FakeTikTok
from tests.fakes.upstreams import CARCABOT_TOKEN, EULER_TOKEN, KEY, SIGNTOK_UA, Upstream
from tests.support import CHROMIUM, REPO

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from providers.typing import SignResult
    from tests.fakes.upstreams import Format

    Build = Callable[[], Provider]
    Open = Callable[[AsyncExitStack], Awaitable[Build]]

# One event loop per module: the started providers (one Chromium each) are shared by its tests.
pytestmark = pytest.mark.asyncio(loop_scope="module")

URL = "https://www.tiktok.com/api/post/item_list/?aid=1988&count=35&secUid=MS4wLjABAAAA&cursor=0"
#: A query a browser percent-encodes before the SDK sees it (space, non-ASCII, quote).
RAW_URL = "https://www.tiktok.com/api/search/general/full/?aid=1988&keyword=café au lait&q='x'"
BODY = '{"aweme_id":"7300000000000000000","type":1}'
OTHER_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15"
PERSONA_UA = persona_from(Settings()).user_agent


@dataclass(frozen=True, slots=True)
class Subject:
    """One provider under contract, and where it legitimately differs from the rest."""

    #: The provider's name (and the result's ``provider``).
    name: str
    #: Starts what the provider needs (a fake upstream, a fake TikTok) and returns a builder.
    open: Open
    #: Signs request bodies; otherwise declines a request with one.
    signs_bodies: bool = True
    #: Produces an X-Gnarly.
    x_gnarly: bool = True
    #: The msToken it signs when none is asked for ("" for a provider without a session).
    session_token: str = ""
    #: Signs with any msToken asked for; otherwise only with ``session_token``.
    any_token: bool = True
    #: Appends ``&msToken=`` even when none is asked for, as TikTok's SDK does.
    appends_ms_token: bool = True
    #: The one user agent it signs as (it declines others); None: the caller's.
    only_user_agent: str | None = None

    def accepts(self, token: str) -> bool:
        """Whether the provider signs with ``token`` rather than declining."""
        return self.any_token or token == self.session_token


def built_by_registry(settings: Settings) -> Build:
    """Build the configured provider through the registry from a real ProviderContext."""

    def build() -> Provider:
        [provider] = registry.build(settings.providers, provider_context(settings, Metrics()))
        return provider

    return build


async def native(_stack: AsyncExitStack) -> Build:
    return built_by_registry(Settings(providers=("native",)))


async def fake(_stack: AsyncExitStack) -> Build:
    def build() -> Provider:
        context = provider_context(Settings(), Metrics())
        return FakeProvider("fake", context.personas.current)

    return build


def browser_settings(**changes: object) -> Settings:
    return Settings.model_validate(
        {
            "providers": ("browser",),
            "chromium_path": CHROMIUM,
            "sdk_cache_dir": REPO / "data" / "sdk",
            "browser_pages": 1,
            **changes,
        }
    )


async def browser(_stack: AsyncExitStack) -> Build:
    return built_by_registry(browser_settings())


async def browser_live(stack: AsyncExitStack) -> Build:
    tiktok = await stack.enter_async_context(FakeTikTok())
    return built_by_registry(browser_settings(sdk_source="live", tiktok_www_url=tiktok.origin))


def remote(kind: Format) -> Open:
    async def open_upstream(stack: AsyncExitStack) -> Build:
        upstream = await stack.enter_async_context(Upstream(kind))
        config = RemoteConfig(url=upstream.origin, format=kind, api_key=KEY)
        return built_by_registry(Settings(providers=(kind,), remotes={kind: config}))

    return open_upstream


SUBJECTS = [
    pytest.param(Subject("native", native), id="native"),
    pytest.param(
        # A page signs with its own msToken, none on the synthetic origin; it declines others.
        # A 2026 page (the default build) hashes the UA its SDK read at load into
        # X-Dynosaur: it signs HTTP as the persona only and declines another UA.
        Subject("browser", browser, any_token=False, only_user_agent=PERSONA_UA),
        id="browser",
        marks=pytest.mark.chromium,
    ),
    pytest.param(
        # A live page holds the site's msToken; it declines others.
        Subject("browser", browser_live, session_token=MS_TOKEN, any_token=False),
        id="browser-live",
        marks=pytest.mark.chromium,
    ),
    pytest.param(
        # SignTok hashes no body, signs as its own user agent and appends _signature, no msToken.
        Subject(
            "signtok",
            remote("signtok"),
            signs_bodies=False,
            x_gnarly=False,
            appends_ms_token=False,
            only_user_agent=SIGNTOK_UA,
        ),
        id="remote-signtok",
    ),
    pytest.param(
        # carcabot hashes no body and appends its session's msToken to whatever it is sent.
        Subject(
            "carcabot",
            remote("carcabot"),
            signs_bodies=False,
            session_token=CARCABOT_TOKEN,
            any_token=False,
        ),
        id="remote-carcabot",
    ),
    pytest.param(
        # Euler appends its session's msToken to whatever it is sent.
        Subject("euler", remote("euler"), session_token=EULER_TOKEN, any_token=False),
        id="remote-euler",
    ),
    # The fake provider computes no X-Gnarly.
    pytest.param(Subject("fake", fake, x_gnarly=False), id="fake"),
]


@dataclass(frozen=True, slots=True)
class Harness:
    """A subject with what it needs running, and a builder of fresh providers."""

    subject: Subject
    build: Build


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=SUBJECTS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """The subject's fakes, running for the whole module."""
    subject: Subject = request.param
    async with AsyncExitStack() as stack:
        yield Harness(subject, await subject.open(stack))


@pytest.fixture
def subject(harness: Harness) -> Subject:
    """What the provider under test is, and how it differs."""
    return harness.subject


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def provider(harness: Harness) -> AsyncIterator[Provider]:
    """One started provider per subject, shared by the module (one Chromium for a browser)."""
    started = harness.build()
    await started.start()
    yield started
    await started.aclose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def closed(harness: Harness) -> Provider:
    """A provider that was started, then closed."""
    built = harness.build()
    await built.start()
    await built.aclose()
    return built


@pytest.fixture
def unstarted(harness: Harness) -> Provider:
    """A provider just built (nothing acquired yet)."""
    return harness.build()


def signed_query(result: SignResult) -> str:
    """The query the signatures cover: everything before ``&X-Bogus=``."""
    head, found, _ = result.signed_url.partition("&X-Bogus=")
    assert found, result.signed_url
    return head.partition("?")[2]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def assert_signs(result: SignResult, body: str, user_agent: str, *, gnarly: bool) -> None:
    """The signatures cover (signed query, body, UA) as the build that made them does.

    A 2026 build (X-Dynosaur, ``X-Bogus=1``): X-Gnarly carries the MD5s of the query up to
    X-Bogus, the body and the UA, X-Dynosaur their hashes (the query before X-Dynosaur).
    A 2025 build: X-Bogus re-encodes from them and X-Gnarly carries their MD5s.
    """
    query = signed_query(result)
    assert result.signed_url.partition("&X-Bogus=")[2].partition("&")[0] == result.x_bogus
    if result.x_dynosaur is not None:
        signed = parse_signed(result.signed_url)
        assert signed is not None
        assert (signed.x_bogus, signed.x_dynosaur) == ("1", result.x_dynosaur)
        verified = selfcheck.verify_http(signed, body, user_agent)
        assert verified.known
        assert verified.x_gnarly is not None
        assert verified.x_dynosaur is not None
        assert (verified.x_gnarly.get(3), verified.x_gnarly.get(4), verified.x_gnarly.get(5)) == (
            md5(query),
            md5(body),
            md5(user_agent),
        )
        assert signed.base_query is not None
        assert (
            verified.x_dynosaur.get(0x2B),
            verified.x_dynosaur.get(0x2E),
            verified.x_dynosaur.get(0x30),
        ) == (xdynosaur.fnv(body), xdynosaur.fnv(signed.base_query), xdynosaur.fnv(user_agent))
        return
    assert result.x_bogus is not None
    assert xbogus.verify(result.x_bogus, query, body, user_agent)
    if not gnarly:
        assert result.x_gnarly is None
        return
    assert result.x_gnarly is not None
    record = xgnarly.decode(result.x_gnarly)
    assert (record.get(3), record.get(4), record.get(5)) == (md5(query), md5(body), md5(user_agent))


# -- the Protocol and the lifecycle


async def test_satisfies_the_provider_protocol(unstarted: Provider, subject: Subject) -> None:
    """The provider is a Provider: its name, and whether it awaits and checks itself."""
    assert isinstance(unstarted, Provider)
    assert unstarted.name == subject.name
    assert isinstance(unstarted.awaits, bool)
    assert isinstance(unstarted.checked, bool)


async def test_health_before_start_is_stopped(unstarted: Provider, subject: Subject) -> None:
    """A provider just built is stopped, under its own name."""
    health = unstarted.health()
    assert (health.name, health.state) == (subject.name, "stopped")


async def test_health_after_start_is_ready(provider: Provider, subject: Subject) -> None:
    """A started provider is ready."""
    health = provider.health()
    assert (health.name, health.state) == (subject.name, "ready")


async def test_health_after_aclose_is_stopped(closed: Provider) -> None:
    """A closed provider says it is stopped."""
    assert closed.health().state == "stopped"


async def test_sign_after_aclose_is_a_provider_error(closed: Provider) -> None:
    """A closed provider refuses with a ProviderError the chain understands, not a crash."""
    with pytest.raises(ProviderError):
        await closed.sign(SignRequest(URL))


# -- what a signature covers


async def test_a_get_is_signed_and_passes_the_self_check(
    provider: Provider, subject: Subject
) -> None:
    """A GET of an /api/ URL comes back signed over its query, and the codecs agree."""
    result = await provider.sign(SignRequest(URL))
    assert selfcheck.problem(result, "") is None
    assert_signs(result, "", result.user_agent, gnarly=subject.x_gnarly)


def stamped(result: SignResult) -> int:
    """The signing time a result carries: X-Gnarly field 6 (2026), else X-Bogus's."""
    if result.x_dynosaur is not None:
        assert result.x_gnarly is not None
        seconds = xgnarly.decode(result.x_gnarly).get(6)
        assert isinstance(seconds, int)
        return seconds
    assert result.x_bogus is not None
    return xbogus.decode(result.x_bogus).timestamp


async def test_the_signature_is_stamped_now(provider: Provider) -> None:
    """The signatures carry the time of signing (no stale or canned token)."""
    before = int(time.time())
    result = await provider.sign(SignRequest(URL))
    assert before - 1 <= stamped(result) <= time.time() + 1


async def test_the_result_names_the_provider(provider: Provider, subject: Subject) -> None:
    """``provider`` in the result is the provider's name."""
    result = await provider.sign(SignRequest(URL))
    assert result.provider == provider.name == subject.name


async def test_signed_url_keeps_the_endpoint_and_the_query_in_browser_form(
    provider: Provider,
) -> None:
    """Same scheme, host and path; the request's query, as a browser encodes it, comes first."""
    result = await provider.sign(SignRequest(RAW_URL))
    requested, signed = urlsplit(RAW_URL), urlsplit(result.signed_url)
    assert (signed.scheme, signed.netloc, signed.path) == (
        requested.scheme,
        requested.netloc,
        requested.path,
    )
    base, query = split_url(RAW_URL)
    assert result.signed_url.startswith(f"{base}?{browser_query(query)}&")


async def test_a_body_is_signed_or_declined(provider: Provider, subject: Subject) -> None:
    """A POST body is hashed into both signatures; a provider that cannot, declines."""
    request = SignRequest(URL, method="POST", body=BODY)
    if not subject.signs_bodies:
        with pytest.raises(ProviderDeclined):
            await provider.sign(request)
        return
    result = await provider.sign(request)
    assert selfcheck.problem(result, BODY) is None
    assert_signs(result, BODY, result.user_agent, gnarly=subject.x_gnarly)


async def test_concurrent_requests_each_get_their_own_signature(
    provider: Provider, subject: Subject
) -> None:
    """Eight requests at once: each result is its own request's, signed over its own query."""
    urls = [f"{URL}&n={n}" for n in range(8)]
    results = await asyncio.gather(*(provider.sign(SignRequest(url)) for url in urls))
    for url, result in zip(urls, results, strict=True):
        assert result.signed_url.startswith(url + "&")
        assert selfcheck.problem(result, "") is None
        assert_signs(result, "", result.user_agent, gnarly=subject.x_gnarly)
    assert len({(result.x_bogus, result.x_gnarly) for result in results}) == 8


# -- the user agent


async def test_the_callers_user_agent_is_signed_or_declined(
    provider: Provider, subject: Subject
) -> None:
    """The caller's UA is the one signed and returned; a provider bound to one UA declines."""
    request = SignRequest(URL, user_agent=OTHER_UA)
    if subject.only_user_agent is not None:
        with pytest.raises(ProviderDeclined):
            await provider.sign(request)
        return
    result = await provider.sign(request)
    assert result.user_agent == OTHER_UA
    assert_signs(result, "", OTHER_UA, gnarly=subject.x_gnarly)


async def test_without_a_user_agent_the_one_signed_is_returned(
    provider: Provider, subject: Subject
) -> None:
    """No UA asked: the persona's (or the provider's only one) is signed and returned."""
    result = await provider.sign(SignRequest(URL))
    expected = subject.only_user_agent or PERSONA_UA
    assert result.user_agent == expected
    assert_signs(result, "", expected, gnarly=subject.x_gnarly)


async def test_a_bound_user_agent_is_signed_when_asked(
    provider: Provider, subject: Subject
) -> None:
    """Asking for the UA a provider is bound to (or any, for the others) is signed as asked."""
    user_agent = subject.only_user_agent or PERSONA_UA
    result = await provider.sign(SignRequest(URL, user_agent=user_agent))
    assert result.user_agent == user_agent
    assert_signs(result, "", user_agent, gnarly=subject.x_gnarly)


# -- msToken: the explicit one, else the URL's last, else the provider's session's


def assert_token(result: SignResult, token: str) -> None:
    """The result reports ``token`` and the signed query's last msToken is ``token``."""
    assert result.ms_token == token
    assert last_param(signed_query(result), "msToken") == token


async def test_without_a_token_the_session_token_is_signed(
    provider: Provider, subject: Subject
) -> None:
    """No token asked: the provider's session token (empty without a session) is appended."""
    result = await provider.sign(SignRequest(URL))
    assert result.ms_token == subject.session_token
    appended = last_param(signed_query(result), "msToken")
    assert appended == (subject.session_token if subject.appends_ms_token else None)


@pytest.mark.parametrize("token", ["caller-token", ""], ids=["token", "empty"])
async def test_an_explicit_token_is_signed_or_declined(
    provider: Provider, subject: Subject, token: str
) -> None:
    """An explicit ms_token (empty too) is the one signed, or the provider declines."""
    request = SignRequest(URL, ms_token=token)
    if not subject.accepts(token):
        with pytest.raises(ProviderDeclined):
            await provider.sign(request)
        return
    assert_token(await provider.sign(request), token)


async def test_the_session_token_asked_for_is_signed(provider: Provider, subject: Subject) -> None:
    """Asking for the provider's own session token (empty without a session) is honoured."""
    result = await provider.sign(SignRequest(URL, ms_token=subject.session_token))
    assert_token(result, subject.session_token)


async def test_the_urls_last_token_is_signed_or_declined(
    provider: Provider, subject: Subject
) -> None:
    """Without an explicit token, the URL's last msToken is the one signed, or it declines."""
    request = SignRequest(f"{URL}&msToken=first-token&n=1&msToken=url-token")
    if not subject.accepts("url-token"):
        with pytest.raises(ProviderDeclined):
            await provider.sign(request)
        return
    assert_token(await provider.sign(request), "url-token")


async def test_an_explicit_token_wins_over_the_urls(provider: Provider, subject: Subject) -> None:
    """An explicit ms_token is signed even when the URL carries another, or it declines."""
    request = SignRequest(f"{URL}&msToken=url-token", ms_token="caller-token")
    if not subject.accepts("caller-token"):
        with pytest.raises(ProviderDeclined):
            await provider.sign(request)
        return
    assert_token(await provider.sign(request), "caller-token")
