"""The browser provider on TikTok's 2026 SDK (1.0.0.417) in real Chromium, offline.

Every shared vector of ``sdk-1.0.0.417-http.json`` and ``sdk-1.0.0.417-ws.json`` is
reproduced byte for byte from its inputs, in a page set up as the vectors describe (one
browser, a fresh context per vector page, Date/Math.random pinned, the vector's user agent
on Chromium's own Linux platform, the page's earlier requests replayed first).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from itertools import groupby
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
import pytest_asyncio

from providers import profiles, xgnarly
from providers.browser import BrowserProvider, presented, user_agent_metadata
from providers.config import BrowserConfig
from providers.errors import ProviderDeclined, SelfCheckFailed
from providers.typing import NoEvents, PersonaStore, SignRequest
from providers.urls import parse_signed
from providers.useragent import navigator_platform
from signer.settings import Settings
from signer.wiring import persona_from
from tests.fakes.tiktok import MS_TOKEN, FakeTikTok
from tests.support import CHROMIUM, REPO, load_vectors

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from providers.typing import Persona
    from tests.conftest import ServeFake

pytestmark = [pytest.mark.chromium]

BUILD = "1.0.0.417"
SDK_FILE = REPO / "data" / "sdk" / f"webmssdk_{BUILD}.js"
SDK_SHA256 = "6625c4fd90012eb2b6166002b278ac99ba2a2495325590f8eda9071544a814c8"
ORIGIN = "https://www.tiktok.com"
HTTP = load_vectors(f"sdk-{BUILD}-http.json")
WS = load_vectors(f"sdk-{BUILD}-ws.json")
SOCKET = "wss://webcast-ws.tiktok.com/webcast/im/ws_proxy/ws_reuse_supplement/"
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
)
MACOS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
)
LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
)
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.5 Safari/605.1.15"
)


def _sdk_ready() -> str | None:
    """Why the 1.0.0.417 tests cannot run, or None."""
    if not SDK_FILE.is_file():
        return f"the {BUILD} SDK file is not in data/sdk (scripts/setup fetches it)"
    if hashlib.sha256(SDK_FILE.read_bytes()).hexdigest() != SDK_SHA256:
        return f"data/sdk holds another {BUILD} SDK file than the pinned one"
    return None


if (_reason := _sdk_ready()) is not None:
    pytestmark.append(pytest.mark.skip(reason=_reason))


def pin_script(date_now_ms: int, seed: int, xmst: str | None = None) -> str:
    """The vectors' pinning (their ``pinning`` header), before the SDK loads."""
    store = "" if xmst is None else f"localStorage.setItem('xmst', {json.dumps(xmst)});"
    return f"""(() => {{
  const fixed = {date_now_ms};
  const RealDate = Date;
  function PinnedDate(...args) {{
    if (!new.target) return new RealDate(fixed).toString();
    return args.length === 0 ? new RealDate(fixed) : new RealDate(...args);
  }}
  PinnedDate.prototype = RealDate.prototype;
  PinnedDate.now = () => fixed;
  PinnedDate.parse = RealDate.parse;
  PinnedDate.UTC = RealDate.UTC;
  window.Date = PinnedDate;
  let s = {seed} >>> 0;
  Math.random = function () {{
    s = (s + 0x6D2B79F5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }};
  crypto.getRandomValues = function (array) {{
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    for (let i = 0; i < bytes.length; i += 1) bytes[i] = Math.floor(Math.random() * 256);
    return array;
  }};
  {store}
}})();"""


def config(**changes: Any) -> BrowserConfig:
    """One page on the synthetic TikTok origin with the 1.0.0.417 SDK."""
    base = BrowserConfig(
        chromium_path=CHROMIUM,
        origin=ORIGIN,
        sdk_file=SDK_FILE,
        sdk_version=BUILD,
        pages=1,
    )
    return dataclasses.replace(base, **changes)


def persona(user_agent: str | None = None, platform: str | None = None) -> Persona:
    """The default persona (a Windows Chrome), or another UA on ``platform``."""
    default = persona_from(Settings())
    return dataclasses.replace(
        default,
        user_agent=user_agent or default.user_agent,
        platform=platform or default.platform,
    )


def vector_persona(user_agent: str) -> Persona:
    """The vector runs' browser: the vector's UA on Chromium's own platform."""
    return persona(user_agent, "Linux x86_64")


class Events(NoEvents):
    """Records the builds reported."""

    def __init__(self) -> None:
        self.builds: list[tuple[str, bool]] = []
        self.failures = 0

    def sdk_build_seen(self, provider: str, build: str, *, known: bool) -> None:
        """Record it."""
        del provider
        self.builds.append((build, known))


class Replayer(BrowserProvider):
    """A provider whose one page is replaced by a fresh vector page on demand."""

    async def vector_page(self, user_agent: str, pinning: str) -> None:
        """A fresh context and page, the vectors' browser: their UA on Linux, pinned."""
        await self.fresh_page(vector_persona(user_agent), pinning)

    async def fresh_page(self, persona: Persona, *scripts: str) -> None:
        """A fresh context and page presenting ``persona``, ``scripts`` run first."""
        assert self._browser is not None
        old = self._context
        self._persona = persona
        self._slots[0] = None
        self._context = await self._new_context(self._browser, scripts)
        await self._fill(0)
        if old is not None:
            await old.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def replayer() -> AsyncIterator[Replayer]:
    """One Chromium for every vector page; no probe (the SDK's counters start at 0)."""
    provider = Replayer(config(probe_on_open=False), PersonaStore(vector_persona(LINUX)))
    await provider.start()
    yield provider
    await provider.aclose()


#: The tests on module-scoped fixtures run in the module's event loop, where they started.
in_module_loop = pytest.mark.asyncio(loop_scope="module")


def pages(vectors: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The vectors of each page, in page order."""
    ordered = sorted(vectors, key=lambda v: v["id"])
    return {page: list(group) for page, group in groupby(ordered, key=lambda v: v["page_id"])}


HTTP_PAGES = pages(HTTP["vectors"])
WS_PAGES = pages(WS["vectors"])


def absolute(url: str) -> str:
    """A vector page's URL as the service is asked to sign it (relative ones are the page's)."""
    return url if url.startswith("https://") else ORIGIN + url


def http_request(step: dict[str, Any], ms_token: str | None) -> SignRequest:
    """A page's request; the msToken is the page's (some URLs carry another one)."""
    return SignRequest(
        url=absolute(step["url"]),
        method=step["method"],
        body=step.get("body") or "",
        ms_token=ms_token or "",
    )


def test_every_shared_vector_is_replayed() -> None:
    """24 HTTP and 14 socket vectors, on 16 and 9 pages."""
    assert sum(map(len, HTTP_PAGES.values())) == HTTP["count"] == 24
    assert sum(map(len, WS_PAGES.values())) == WS["count"] == 14


@in_module_loop
@pytest.mark.parametrize("page_id", HTTP_PAGES)
async def test_reproduces_http_vectors(replayer: Replayer, page_id: str) -> None:
    """Each page's requests replayed in order: every vector's URL and tokens, byte for byte."""
    vectors = HTTP_PAGES[page_id]
    last = vectors[-1]
    first = vectors[0]
    await replayer.vector_page(
        first["user_agent"],
        pin_script(first["pinned_date_now_ms"], first["seed"], first["localstorage_xmst"]),
    )
    steps = [
        *last["preceding_requests_in_page"],
        {"url": last["request_url"], "method": last["method"], "body": last["body"]},
    ]
    expected = {v["request_index_in_page"]: v for v in vectors}
    for index, step in enumerate(steps, start=1):
        result = await replayer.sign(http_request(step, first["localstorage_xmst"]))
        vector = expected.get(index)
        if vector is None:
            continue
        assert vector["request_url"] == step["url"]
        assert result.signed_url == absolute(vector["signed_url"]), vector["id"]
        assert result.x_dynosaur == vector["expected_x_dynosaur"]
        assert result.x_gnarly == vector["expected_x_gnarly"]
        assert (result.x_bogus, result.ms_token) == ("1", vector["ms_token"])
        assert result.sdk_version == BUILD


@in_module_loop
@pytest.mark.parametrize("page_id", WS_PAGES)
async def test_reproduces_socket_vectors(replayer: Replayer, page_id: str) -> None:
    """Each page's socket signer called in order (after its HTTP requests): every token."""
    vectors = WS_PAGES[page_id]
    last = vectors[-1]
    await replayer.vector_page(
        last["user_agent"], pin_script(last["pinned_date_now_ms"], last["seed"])
    )
    for step in last["preceding_http_requests_in_page"]:
        await replayer.sign(http_request(step, None))
    expected = {v["call_index"]: v for v in vectors}
    for index, query in enumerate([*last["preceding_calls_in_page"], last["X-MS-Q"]], start=1):
        result = await replayer.sign(SignRequest(url=f"{SOCKET}?{query}", kind="ws"))
        vector = expected.get(index)
        if vector is None:
            continue
        assert result.x_gnarly == vector["expected_x_gnarly"], vector["id"]
        assert result.signed_url == vector["ws_url"].replace(" ", "%20")
        assert (result.x_bogus, result.x_dynosaur) == (None, None)


@in_module_loop
@pytest.mark.parametrize("user_agent", [WINDOWS, MACOS, LINUX, SAFARI])
async def test_persona_on_its_own_platform_writes_the_profile_envcode(
    replayer: Replayer, user_agent: str
) -> None:
    """Each OS's UA on the platform a real browser of it reports: the profile's envcode (65).

    Left on Chromium's Linux platform, a Windows or macOS UA writes 1089 (as in the vectors).
    """
    platform = navigator_platform(user_agent)
    assert platform is not None
    profile = profiles.get(BUILD)
    mismatch = 0 if platform == "Linux x86_64" else profile.platform_mismatch_bit
    for on, envcode in ((platform, profile.envcode), ("Linux x86_64", profile.envcode | mismatch)):
        await replayer.fresh_page(persona(user_agent, on))
        http = await replayer.sign(SignRequest(url=f"{ORIGIN}/api/x/?aid=1988", ms_token=""))
        socket = await replayer.sign(SignRequest(url=f"{SOCKET}?aid=1988", kind="ws"))
        assert decoded(http.x_gnarly).get(1) == decoded(socket.x_gnarly).get(1) == envcode


# -- the production page (the persona's browser, a probe on open)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool() -> AsyncIterator[tuple[BrowserProvider, PersonaStore, Events]]:
    """Two pages on the embedded persona (a Windows Chrome), shared by tests that only sign."""
    store = PersonaStore(dataclasses.replace(persona(), flags=(9, 9, 9)))
    events = Events()
    provider = BrowserProvider(config(pages=2), store, events)
    await provider.start()
    yield provider, store, events
    await provider.aclose()


def decoded(token: str | None) -> xgnarly.XGnarlyToken:
    assert token is not None
    return xgnarly.decode(token)


@in_module_loop
async def test_persona_environment_is_consistent_and_published(
    pool: tuple[BrowserProvider, PersonaStore, Events],
) -> None:
    """Windows UA on Win32: envcode 65 (no 0x400 bit), published with the build for native."""
    provider, store, events = pool
    result = await provider.sign(SignRequest(url=f"{ORIGIN}/api/post/item_list/?aid=1988"))
    record = decoded(result.x_gnarly)
    assert (record.get(1), record.get(2), record.get(9), record.get(10)) == (65, 14, "5.3.2", BUILD)
    current = store.current
    assert current.flags == profiles.get(BUILD).flags == (0, 65, 14)
    assert (current.sdk_build, current.gnarly_version, current.gnarly_build) == (
        BUILD,
        "5.3.2",
        BUILD,
    )
    assert current.canvas == record.get(7)
    assert (BUILD, True) in events.builds
    health = provider.health().details
    assert (health["sdk_version"], health["unknown_build"]) == (BUILD, None)
    page = provider._slots[0]  # noqa: SLF001 - what the page shows
    assert page is not None
    shown = await page.page.evaluate(
        "() => [navigator.userAgent, navigator.platform, navigator.userAgentData.platform,"
        " navigator.userAgentData.brands.map((b) => b.brand)]"
    )
    assert shown == [
        persona().user_agent,
        "Win32",
        "Windows",
        ["Not:A-Brand", "Chromium", "Google Chrome"],
    ]


@in_module_loop
@pytest.mark.parametrize("user_agent", [MACOS, LINUX, SAFARI])
async def test_socket_request_user_agent_brings_its_own_platform(
    pool: tuple[BrowserProvider, PersonaStore, Events], user_agent: str
) -> None:
    """A socket request's own UA is signed on that browser's platform: envcode 65."""
    provider, _, _ = pool
    request = SignRequest(url=f"{SOCKET}?a=b c", kind="ws", user_agent=user_agent)
    result = await provider.sign(request)
    record = decoded(result.x_gnarly)
    assert record.get(5) == hashlib.md5(user_agent.encode()).hexdigest()
    assert record.get(1) == 65
    assert result.user_agent == result.navigator.user_agent == user_agent
    page = provider._slots[0]  # noqa: SLF001 - the page's own browser is back
    assert page is not None
    assert await page.page.evaluate("() => navigator.platform") == "Win32"


@in_module_loop
async def test_http_request_with_another_user_agent_is_declined(
    pool: tuple[BrowserProvider, PersonaStore, Events],
) -> None:
    """X-Dynosaur hashes the UA the SDK read when it loaded: HTTP is signed as the page's UA."""
    provider, _, _ = pool
    with pytest.raises(ProviderDeclined, match="user agent"):
        await provider.sign(SignRequest(url=f"{ORIGIN}/api/x/?aid=1988", user_agent=MACOS))
    own = await provider.sign(SignRequest(url=f"{ORIGIN}/api/x/?aid=1988", user_agent=WINDOWS))
    assert own.user_agent == WINDOWS


def test_presented_browsers() -> None:
    """navigator.platform and userAgentData a real browser of each UA shows."""
    assert presented(MACOS)[1] == "MacIntel"
    assert presented(LINUX)[1] == "Linux x86_64"
    assert presented(WINDOWS)[1] == "Win32"
    assert presented(SAFARI)[1:] == ("MacIntel", None)  # Safari has no userAgentData
    assert presented("curl/8.0")[1:] == (None, None)
    metadata = user_agent_metadata(WINDOWS)
    assert metadata is not None
    assert (metadata["platform"], metadata["mobile"]) == ("Windows", False)
    assert [brand["version"] for brand in metadata["fullVersionList"]] == [
        "8.0.0.0",
        "156.0.0.0",
        "156.0.0.0",
    ]
    edge = user_agent_metadata(WINDOWS + " Edg/156.0.0.0")
    assert edge is not None
    assert edge["brands"][2] == {"brand": "Microsoft Edge", "version": "156"}


@in_module_loop
async def test_signs_the_query_as_the_sdk_rewrites_it(
    pool: tuple[BrowserProvider, PersonaStore, Events],
) -> None:
    """The page gets the caller's query as written; signed_url is exactly the SDK's output."""
    provider, _, _ = pool
    plain = await provider.sign(SignRequest(url=f"{ORIGIN}/api/x/?q=a b&ids=[1]&n=é"))
    assert plain.signed_url.startswith(f"{ORIGIN}/api/x/?q=a%20b&ids=%5B1%5D&n=%C3%A9&X-Dynosaur=")
    escaped = await provider.sign(SignRequest(url=f"{ORIGIN}/api/x/?q=a%20b&t=it's"))
    # With a % escape the SDK signs the raw string (only ' becomes %27).
    assert escaped.signed_url.startswith(f"{ORIGIN}/api/x/?q=a%20b&t=it%27s&X-Dynosaur=")
    for result in (plain, escaped):
        signed = parse_signed(result.signed_url)
        assert signed is not None
        assert (
            decoded(result.x_gnarly).get(3) == hashlib.md5(signed.signed_query.encode()).hexdigest()
        )


@in_module_loop
async def test_mixed_batch_of_http_and_socket_requests(
    pool: tuple[BrowserProvider, PersonaStore, Events],
) -> None:
    """HTTP and socket requests at once, in shared batches: each signed as its kind, checked."""
    provider, _, _ = pool
    requests = [
        SignRequest(url=f"{SOCKET}?room_id={n}&browser_version=5.0 (X11)", kind="ws")
        if n % 2
        else SignRequest(url=f"{ORIGIN}/api/x/?n={n}", method="POST", body=f"n={n}")
        for n in range(40)
    ]
    results = await asyncio.gather(*(provider.sign(request) for request in requests))
    for request, result in zip(requests, results, strict=True):
        assert result.x_gnarly is not None
        if request.kind == "ws":
            token = quote(result.x_gnarly, safe="-_.!~*'()")
            assert result.signed_url == f"{request.url.replace(' ', '%20')}&X-Gnarly={token}"
            record = decoded(result.x_gnarly)
            assert record.get(3) == hashlib.md5(request.query.encode()).hexdigest()
            assert (record.get(12), record.get(13)) == (0, 0)
        else:
            assert result.signed_url.startswith(f"{request.url}&X-Dynosaur=")
            assert result.x_dynosaur is not None
    assert len({result.x_gnarly for result in results}) == 40


@in_module_loop
async def test_paths_the_build_does_not_sign_are_declined(
    pool: tuple[BrowserProvider, PersonaStore, Events],
) -> None:
    """webcast/im/fetch (not signed by 2026 pages) and non-API paths never reach a page."""
    provider, _, _ = pool
    signed_before = provider.stats.signatures
    for url in (
        "https://webcast.tiktok.com/webcast/im/fetch/?aid=1988&room_id=1",
        f"{ORIGIN}/node/share/user/@x?aid=1",
    ):
        with pytest.raises(ProviderDeclined, match="does not sign this path"):
            await provider.sign(SignRequest(url=url))
    assert provider.stats.signatures == signed_before


async def test_unknown_build_is_served_and_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens of a build without profile that check out: served, flagged in health and events."""
    events = Events()
    store = PersonaStore(persona())
    provider = BrowserProvider(config(), store, events)
    await provider.start()
    try:
        published = store.current
        # The 1.0.0.417 profile removed; the newest known build stays a 2026 one (a
        # stand-in "1.0.0.400"), whose rules judge the unknown build's tokens.
        known = {build: p for build, p in profiles.PROFILES.items() if build != BUILD}
        older = dataclasses.replace(
            profiles.get(BUILD), build="1.0.0.400", gnarly_build="1.0.0.400"
        )
        monkeypatch.setattr(profiles, "PROFILES", {**known, older.build: older})
        result = await provider.sign(SignRequest(url=f"{ORIGIN}/api/x/?aid=1988"))
        socket = await provider.sign(SignRequest(url=f"{SOCKET}?aid=1988", kind="ws"))
        health = provider.health().details
    finally:
        await provider.aclose()
    assert result.provider == socket.provider == "browser"
    assert result.sdk_version == socket.sdk_version == BUILD
    assert health["unknown_build"] == BUILD
    assert events.builds[-2:] == [(BUILD, False), (BUILD, False)]
    assert store.current == published  # native is not told to imitate an unknown build


#: Under the SDK, above the capture stub: every signed URL gets one X-Gnarly character changed.
TAMPER_JS = """(() => {
  let current = window.fetch;
  let assigned = 0;
  Object.defineProperty(window, "fetch", {
    configurable: true,
    get: () => current,
    set: (next) => {
      assigned += 1;
      current = assigned > 1 ? next : function (url, init) {
        const tampered = String(url).replace(/(X-Gnarly=.{40})(.)/, (all, head, c) =>
          head + (c === "A" ? "B" : "A"));
        return next.call(this, tampered, init);
      };
    },
  });
})();"""
#: The SDK sees another user agent than the page presents (its UA hashes do not match).
LYING_UA_JS = """Object.defineProperty(Navigator.prototype, "userAgent",
  {configurable: true, get: () => "Mozilla/5.0 (tampered)"});"""


@pytest.mark.parametrize("script", [TAMPER_JS, LYING_UA_JS], ids=["token", "hashes"])
async def test_tampered_token_is_refused(script: str) -> None:
    """A token changed under the SDK, or hashing another UA, is refused (SelfCheckFailed)."""
    provider = BrowserProvider(
        config(probe_on_open=False, init_scripts=(script,)), PersonaStore(persona())
    )
    await provider.start()
    try:
        with pytest.raises(SelfCheckFailed):
            await provider.sign(SignRequest(url=f"{ORIGIN}/api/x/?aid=1988"))
        if script is LYING_UA_JS:
            with pytest.raises(SelfCheckFailed):
                await provider.sign(SignRequest(url=f"{SOCKET}?aid=1988", kind="ws"))
    finally:
        await provider.aclose()
    assert provider.stats.self_check_failures == (2 if script is LYING_UA_JS else 1)


async def test_live_mode_recognises_the_build_the_site_serves(serve_fake: ServeFake) -> None:
    """Live: the site's 1.0.0.417 is recognised; its msToken appended; sockets signed too."""
    tiktok = await serve_fake(FakeTikTok(sdk_file=SDK_FILE))
    store = PersonaStore(persona())
    provider = BrowserProvider(
        config(sdk_source="live", sdk_file=None, origin=tiktok.origin), store
    )
    await provider.start()
    try:
        result = await provider.sign(SignRequest(url=f"{tiktok.origin}/api/x/?q=a b"))
        socket = await provider.sign(SignRequest(url=f"{SOCKET}?aid=1988", kind="ws"))
        health = provider.health().details
    finally:
        await provider.aclose()
    assert result.signed_url.startswith(f"{tiktok.origin}/api/x/?q=a%20b&X-Dynosaur=")
    assert f"&msToken={MS_TOKEN}&X-Bogus=1&X-Gnarly=" in result.signed_url
    assert result.sdk_version == socket.sdk_version == BUILD
    assert (health["sdk_version"], health["unknown_build"]) == (BUILD, None)
    assert store.current.sdk_build == BUILD
    assert tiktok.victim_hits == []
