"""The browser provider with real Debian Chromium and TikTok's pinned SDK, offline."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pytest
import pytest_asyncio
from playwright.async_api import Error as PlaywrightError

from providers import sdk, xbogus, xgnarly
from providers.browser import BrowserProvider, _summary
from providers.config import BrowserConfig
from providers.errors import Overloaded, ProviderConfigError, ProviderDeclined, ProviderStartFailed
from providers.typing import PersonaStore, SignRequest, SignResult
from signer.settings import Settings
from signer.wiring import persona_from
from tests.fakes.tiktok import MS_TOKEN, VICTIM, FakeTikTok
from tests.support import CHROMIUM, REPO, SHARED, load_vectors

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from providers.typing import Persona
    from tests.conftest import ServeFake

pytestmark = pytest.mark.chromium

XBOGUS = [
    v for v in load_vectors("xbogus-sdk.json")["vectors"] if v["path"] == "interceptor(fetch)"
]
XGNARLY = load_vectors("xgnarly-sdk.json")["vectors"]
VERSIONS = ("1.0.0.368", "2.0.0.485", "5.1.3")
# The vector runs served their page from a loopback http origin; the origin is synthetic
# here (Playwright answers it), and it changes one flag bit, so it is the same kind.
VECTOR_ORIGIN = "http://127.0.0.1:8999"
TIKTOK_ORIGIN = "https://www.tiktok.com"
WORKLOAD = [
    line
    for line in (SHARED / "bench" / "urls.txt").read_text(encoding="utf-8").splitlines()
    if line.startswith("http")
]


def pin_script(date_now_ms: int, seed: int) -> str:
    """Pin Date and Math.random before the SDK loads (never Playwright's clock)."""
    return f"""(() => {{
  const fixed = {date_now_ms};
  let s = {seed} >>> 0;
  const RealDate = Date;
  class PinnedDate extends RealDate {{
    constructor(...a) {{ if (a.length === 0) super(fixed); else super(...a); }}
    static now() {{ return fixed; }}
  }}
  window.Date = PinnedDate;
  Math.random = function () {{
    s |= 0; s = s + 0x6D2B79F5 | 0;
    let t = Math.imul(s ^ s >>> 15, 1 | s);
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
    return ((t ^ t >>> 14) >>> 0) / 4294967296;
  }};
}})();"""


def sdk_file(version: str) -> Path:
    """The pinned SDK file fetched by scripts/setup into the repo's data dir."""
    return sdk.sdk_path(REPO / Settings().sdk_dir, version)


def config(**changes: Any) -> BrowserConfig:
    """A pool on the synthetic TikTok origin with the 5.1.3 SDK."""
    base = BrowserConfig(
        chromium_path=CHROMIUM, origin=TIKTOK_ORIGIN, sdk_file=sdk_file("5.1.3"), pages=2
    )
    return dataclasses.replace(base, **changes)


def vector_persona(user_agent: str) -> Persona:
    """The vector runs' browser: Chromium's own platform, the vector's UA."""
    return dataclasses.replace(
        persona_from(Settings()), user_agent=user_agent, platform="Linux x86_64"
    )


async def started(cfg: BrowserConfig, persona: Persona | None = None) -> BrowserProvider:
    provider = BrowserProvider(cfg, PersonaStore(persona or persona_from(Settings())))
    await provider.start()
    return provider


@pytest.fixture
async def pool() -> AsyncIterator[BrowserProvider]:
    """Two pages, production launch (stealth, persona), no pinning; this test's own."""
    provider = await started(config())
    yield provider
    await provider.aclose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_pool() -> AsyncIterator[BrowserProvider]:
    """Like ``pool``, shared by the tests that leave it as they found it (one Chromium)."""
    provider = await started(config())
    yield provider
    await provider.aclose()


#: The tests on ``shared_pool`` run in the module's event loop, where it was started.
in_module_loop = pytest.mark.asyncio(loop_scope="module")


def x_bogus_of(result: SignResult) -> str:
    """The result's X-Bogus (every 2025 build appends one)."""
    assert result.x_bogus is not None
    return result.x_bogus


def signed_query(url: str) -> str:
    return url.split("?", 1)[1].split("&X-Bogus=", 1)[0]


@pytest.mark.parametrize("version", VERSIONS)
async def test_reproduces_sdk_vectors_with_pinned_clock(version: str) -> None:
    """Pinned like the vector runs, every X-Bogus and the first two X-Gnarly match."""
    for user_agent in sorted({v["user_agent"] for v in XBOGUS}):
        headless = "HeadlessChrome" in user_agent
        cfg = config(
            origin=VECTOR_ORIGIN,
            sdk_file=sdk_file(version),
            pages=1,
            stealth=False,
            persona_user_agent=not headless,
            probe_on_open=False,
            init_scripts=(pin_script(1750000000000, 12345),),
        )
        provider = await started(cfg, vector_persona(user_agent))
        try:
            vectors = [v for v in XBOGUS if v["sdk_version"] == version]
            vectors = [v for v in vectors if v["user_agent"] == user_agent]
            assert len(vectors) == 4
            order = ["get_item_list", "post_digg", "short", "non_ascii_raw"]
            results = {}
            for case in order:
                vector = next(v for v in vectors if v["case"] == case)
                request = SignRequest(
                    url=f"{VECTOR_ORIGIN}/api/x/?{vector['request_query']}",
                    method=vector["method"],
                    body=vector["body"],
                    ms_token="",
                )
                results[case] = result = await provider.sign(request)
                assert signed_query(result.signed_url) == vector["query"]
                assert result.x_bogus == vector["expected_x_bogus"], case
            for gnarly in XGNARLY:
                if gnarly["sdk_version"] == version and gnarly["user_agent"] == user_agent:
                    assert results[gnarly["case"]].x_gnarly == gnarly["x_gnarly"]
        finally:
            await provider.aclose()


@in_module_loop
async def test_fifty_concurrent_signs_pass_self_check_and_differ(
    shared_pool: BrowserProvider,
) -> None:
    """50 different URLs at once: all signed by the SDK, all verified, all distinct."""
    requests = [SignRequest(url=url) for url in WORKLOAD]
    results = await asyncio.gather(*(shared_pool.sign(request) for request in requests))
    assert len(results) == 50
    ua = persona_from(Settings()).user_agent
    for request, result in zip(requests, results, strict=True):
        query = signed_query(result.signed_url)
        assert result.signed_url.startswith(request.url.split("#")[0] + "&msToken=")
        assert xbogus.verify(x_bogus_of(result), query, "", ua)
        assert result.x_gnarly is not None
        record = xgnarly.decode(result.x_gnarly)
        assert record.get(3) == hashlib.md5(query.encode()).hexdigest()
    assert len({r.x_gnarly for r in results}) == 50
    assert len({r.signed_url for r in results}) == 50


@in_module_loop
async def test_signs_post_bodies_and_per_request_user_agents(shared_pool: BrowserProvider) -> None:
    """The body and a request's own UA are what the SDK hashed."""
    body = '{"aweme_id":"7300000000000000000","type":1}'
    ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15"
    result = await shared_pool.sign(
        SignRequest(
            url=f"{TIKTOK_ORIGIN}/api/commit/item/digg/?aid=1988",
            method="POST",
            body=body,
            user_agent=ua,
        )
    )
    query = signed_query(result.signed_url)
    assert xbogus.verify(x_bogus_of(result), query, body, ua)
    assert result.navigator.user_agent == ua
    assert result.x_gnarly is not None
    assert xgnarly.decode(result.x_gnarly).get(4) == hashlib.md5(body.encode()).hexdigest()


async def test_query_carrying_an_x_bogus_is_checked_as_signed(pool: BrowserProvider) -> None:
    """A caller's stale X-Bogus stays in the query the SDK signs; its own X-Bogus is the last."""
    url = f"{TIKTOK_ORIGIN}/api/x/?aid=1988&X-Bogus=stale"
    result = await pool.sign(SignRequest(url=url))
    query = result.signed_url.split("?", 1)[1].rsplit("&X-Bogus=", 1)[0]
    assert query.startswith("aid=1988&X-Bogus=stale&msToken=")
    assert xbogus.verify(x_bogus_of(result), query, "", persona_from(Settings()).user_agent)


async def test_publishes_observed_flags_to_the_shared_persona() -> None:
    """Flags, canvas and version strings the SDK writes reach the native provider's persona."""
    stale = dataclasses.replace(
        persona_from(Settings()), flags=(1, 2, 3), canvas=7, gnarly_build=None
    )
    store = PersonaStore(stale)
    provider = BrowserProvider(config(pages=1), store)
    await provider.start()
    published_at_start = store.current
    try:
        result = await provider.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?aid=1988"))
    finally:
        await provider.aclose()
    assert published_at_start == store.current  # the start-up probe already published it
    decoded = xbogus.decode(x_bogus_of(result))
    assert (store.current.flags, store.current.canvas) == (decoded.flags, decoded.canvas)
    assert store.current.flags != (1, 2, 3)
    assert (store.current.gnarly_version, store.current.gnarly_build) == ("5.1.3", "1.0.0.328")


@in_module_loop
async def test_other_ms_token_is_declined(shared_pool: BrowserProvider) -> None:
    """A page cannot append another msToken than its own: the request is declined."""
    with pytest.raises(ProviderDeclined, match="msToken"):
        await shared_pool.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?aid=1", ms_token="other"))


@in_module_loop
async def test_path_the_sdk_does_not_sign_is_declined(shared_pool: BrowserProvider) -> None:
    """Outside /api/ and /webcast/ the SDK adds nothing, so the provider declines."""
    with pytest.raises(ProviderDeclined, match="does not sign this path"):
        await shared_pool.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/node/share/user/@x?aid=1"))


@in_module_loop
async def test_socket_url_is_declined_by_a_build_without_socket_signer(
    shared_pool: BrowserProvider,
) -> None:
    """5.1.3 has no registerWsSigner: a wss:// URL is declined before a page sees it."""
    signed_before = shared_pool.stats.signatures
    url = "wss://webcast-ws.tiktok.com/webcast/im/ws_proxy/ws_reuse_supplement/?aid=1988"
    with pytest.raises(ProviderDeclined, match="no socket signer"):
        await shared_pool.sign(SignRequest(url=url, kind="ws"))
    assert shared_pool.stats.signatures == signed_before


async def test_unsigned_path_carrying_tokens_is_declined(pool: BrowserProvider) -> None:
    """A URL the SDK left as it was is declined, even with tokens of the caller's in it."""
    url = f"{TIKTOK_ORIGIN}/node/share/user/@x?aid=1&X-Bogus=stale&X-Gnarly=stale"
    with pytest.raises(ProviderDeclined, match="does not sign this path"):
        await pool.sign(SignRequest(url=url))
    assert pool.stats.self_check_failures == 0


async def test_idle_pool_heals_after_chromium_is_killed(pool: BrowserProvider) -> None:
    """With no traffic at all, a killed Chromium is relaunched and its pages reopened."""
    pid = pool.browser_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    while pool.browser_pid == pid or pool.health().details["pages_ready"] < 2:
        assert time.monotonic() - killed_at < 5
        await asyncio.sleep(0.05)
    assert pool.health().state == "ready"
    result = await pool.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?aid=1"))
    assert result.provider == "browser"


async def test_health_reports_pool_and_sdk_version(pool: BrowserProvider) -> None:
    """Before any request, health shows the pages, the pid and the SDK version probed."""
    health = pool.health()
    assert health.state == "ready"
    assert health.details["pages"] == health.details["pages_ready"] == 2
    assert health.details["sdk_version"] == "5.1.3"
    assert health.details["unknown_build"] is None
    assert isinstance(health.details["browser_pid"], int)
    assert (health.details["queue"], health.details["queue_max"]) == (0, 1000)


async def test_killed_chromium_loses_no_request_and_recovers(pool: BrowserProvider) -> None:
    """SIGKILL to Chromium mid-load: every request is still answered; ready within 5 s."""
    pid = pool.browser_pid
    assert pid is not None
    requests = [SignRequest(url=WORKLOAD[i % 50] + f"&n={i}") for i in range(300)]
    tasks = [asyncio.ensure_future(pool.sign(request)) for request in requests]
    await asyncio.sleep(0.15)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    async with asyncio.timeout(60):  # a lost request fails the test instead of hanging it
        results = await asyncio.gather(*tasks)
    assert all(r.provider == "browser" for r in results)
    while pool.browser_pid == pid or pool.health().details["pages_ready"] < 2:
        assert time.monotonic() - killed_at < 5
        await asyncio.sleep(0.05)
    assert pool.browser_pid != pid
    assert pool.stats.browser_crashes == 1
    assert pool.health().state == "ready"


async def test_recycling_under_load_loses_no_request() -> None:
    """Pages renewed every 20 signatures while requests keep coming: all answered."""
    provider = await started(config(max_signatures=20, batch_max=8))
    answered = 0
    try:
        for round_ in range(30):
            if provider.stats.recycles >= 4:
                break
            requests = [SignRequest(url=f"{WORKLOAD[i % 50]}&r={round_}&n={i}") for i in range(100)]
            results = await asyncio.gather(*(provider.sign(r) for r in requests))
            assert [r.provider for r in results] == ["browser"] * 100
            answered += len(results)
    finally:
        await provider.aclose()
    assert provider.stats.recycles >= 4
    assert provider.stats.signatures == answered


async def test_batch_over_its_timeout_frees_the_page() -> None:
    """A batch that hangs costs its page; the request is retried on a fresh page."""
    # The retry waits for the replacement page, which a loaded 2-core machine may take
    # longer than the default queue bound (80 % of the batch timeout) to bring up.
    provider = await started(config(pages=1, batch_timeout_s=0.5, queue_timeout_s=15.0))
    try:
        slot = provider._slots[0]  # noqa: SLF001 - make this one page hang on purpose
        assert slot is not None
        await slot.page.evaluate(
            "() => { const f = window.fetch;"
            " window.fetch = (u, i) => u.includes('hang=1') ? new Promise(() => {}) : f(u, i); }"
        )
        result = await provider.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?hang=1"))
    finally:
        await provider.aclose()
    assert x_bogus_of(result).startswith("DFSz")
    assert provider.health().last_error is not None


async def test_missing_browser_is_a_clear_start_up_error() -> None:
    """No Chromium at the configured path: a config error naming the setting and the path."""
    provider = BrowserProvider(
        config(chromium_path=Path("/nonexistent/chromium")), PersonaStore(persona_from(Settings()))
    )
    with pytest.raises(
        ProviderConfigError, match=r"chromium_path: no Chromium at /nonexistent/chromium"
    ):
        await provider.start()


async def test_live_source_uses_the_sites_sdk_and_ms_token(fake_tiktok: FakeTikTok) -> None:
    """Live mode: the page is the origin's own; its msToken is appended; site fetches pass."""
    provider = await started(
        config(sdk_source="live", sdk_file=None, origin=fake_tiktok.origin, pages=1)
    )
    try:
        result = await provider.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?aid=1988"))
        with pytest.raises(ProviderDeclined):
            await provider.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?a=1", ms_token="other"))
    finally:
        await provider.aclose()
    assert result.ms_token == "fake-ms-token"
    assert "&msToken=fake-ms-token&X-Bogus=" in result.signed_url
    assert "/static/sdk.js" in fake_tiktok.paths  # the SDK came from the site
    assert "/site/ping" in fake_tiktok.paths  # the site's own fetch went out for real
    assert "/static/big.png" not in fake_tiktok.paths  # images are not loaded


def renderer_pids(browser_pid: int) -> list[int]:
    """Chromium renderer processes under the browser process (through its zygote)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[1])
    found = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor and ancestor != browser_pid:
            ancestor = parents.get(ancestor)
        if ancestor == browser_pid:
            try:
                argv = (Path("/proc") / str(pid) / "cmdline").read_bytes()
            except OSError:
                continue
            if b"--type=renderer" in argv:
                found.append(pid)
    return found


async def test_crashed_page_is_replaced_and_its_requests_retried(pool: BrowserProvider) -> None:
    """A renderer killed mid-load: its page is replaced and every request is answered."""
    assert pool.browser_pid is not None
    renderers = renderer_pids(pool.browser_pid)
    assert len(renderers) == 2
    requests = [SignRequest(url=WORKLOAD[i % 50] + f"&n={i}") for i in range(300)]
    tasks = [asyncio.ensure_future(pool.sign(request)) for request in requests]
    await asyncio.sleep(0.15)
    os.kill(renderers[0], signal.SIGKILL)
    results = await asyncio.gather(*tasks)
    assert [r.provider for r in results] == ["browser"] * 300
    assert pool.stats.page_crashes >= 1
    assert pool.stats.browser_crashes == 0
    assert pool.health().details["pages_ready"] == 2


#: Requests the SDK percent-encodes before they reach the stub under it (method, the URL
#: after the fake origin's VICTIM path, body): the case reproduced in issue 16 first.
HOSTILE = {
    "brackets-post": ("POST", "?ids=[1]", "action=delete&id=42"),
    "non-ascii-path": ("GET", "café/?aid=1988", ""),
    "backslash-query": ("POST", "?aid=1988&q=a\\b", "action=delete"),
    "backslash-path": ("GET", "a\\b/?aid=1988", ""),
    "braces-pipe-caret": ("POST", "?q={x}|y^z", "action=delete"),
    "backtick": ("GET", "?q=`x`", ""),
}
#: A site whose fetch goes through XMLHttpRequest (a polyfill loaded after the SDK).
FETCH_OVER_XHR = """window.fetch = (url, init = {}) => new Promise((resolve, reject) => {
  const xhr = new XMLHttpRequest();
  xhr.open(init.method || "GET", url);
  xhr.onload = () => resolve(new Response(xhr.responseText, {status: xhr.status}));
  xhr.onerror = () => reject(new TypeError("Network request failed"));
  xhr.send(init.body);
});"""
#: A site whose fetch wrapper (above the SDK's) reports every call to an API of its own.
TRACKING_SITE = """const siteFetch = window.fetch;
window.fetch = (url, init) => {
  siteFetch("/api/victim/track/?aid=1988");
  return siteFetch(url, init);
};"""
#: A site whose fetch wrapper (above the SDK's) moves every API call to another path.
REWRITING_SITE = """const siteFetch = window.fetch;
window.fetch = (url, init) =>
  siteFetch(String(url).replace("/api/victim/", "/api/victim/v2/"), init);"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live_pool() -> AsyncIterator[tuple[BrowserProvider, FakeTikTok]]:
    """One live-mode page on the fake TikTok origin, shared by the tests that only sign."""
    async with FakeTikTok() as tiktok:
        provider = await started(
            config(sdk_source="live", sdk_file=None, origin=tiktok.origin, pages=1)
        )
        yield provider, tiktok
        await provider.aclose()


async def live_provider(
    serve_fake: ServeFake, site_script: str
) -> tuple[BrowserProvider, FakeTikTok]:
    tiktok = await serve_fake(FakeTikTok(site_script=site_script))
    cfg = config(sdk_source="live", sdk_file=None, origin=tiktok.origin, pages=1)
    return await started(cfg), tiktok


@in_module_loop
@pytest.mark.parametrize(("method", "tail", "body"), HOSTILE.values(), ids=HOSTILE.keys())
async def test_live_job_the_sdk_encodes_never_leaves_the_page(
    live_pool: tuple[BrowserProvider, FakeTikTok], method: str, tail: str, body: str
) -> None:
    """A URL the SDK percent-encodes is caught and signed, never sent to the origin."""
    provider, tiktok = live_pool
    request = SignRequest(url=tiktok.origin + VICTIM + tail, method=method, body=body)
    result = await provider.sign(request)
    asked, _, appended = result.signed_url.partition("&msToken=")
    assert unquote(asked) == unquote(request.url)
    assert appended.startswith(f"{MS_TOKEN}&X-Bogus=")
    assert result.x_gnarly is not None
    assert tiktok.victim_hits == []


async def test_live_job_over_xhr_never_leaves_the_page(serve_fake: ServeFake) -> None:
    """A site whose fetch is XMLHttpRequest: the job is caught under the SDK's XHR, signed."""
    provider, tiktok = await live_provider(serve_fake, FETCH_OVER_XHR)
    try:
        url = f"{tiktok.origin}{VICTIM}?ids=[1]"
        result = await provider.sign(SignRequest(url=url, method="POST", body="action=delete"))
    finally:
        await provider.aclose()
    assert result.signed_url.startswith(f"{tiktok.origin}{VICTIM}?ids=%5B1%5D&msToken=")
    assert tiktok.victim_hits == []


async def test_live_site_request_during_a_job_is_refused(serve_fake: ServeFake) -> None:
    """A request the site sends while a job is signed never leaves; the job is signed."""
    provider, tiktok = await live_provider(serve_fake, TRACKING_SITE)
    try:
        result = await provider.sign(SignRequest(url=f"{tiktok.origin}/api/x/?aid=1988"))
    finally:
        await provider.aclose()
    assert result.signed_url.startswith(f"{tiktok.origin}/api/x/?aid=1988&msToken={MS_TOKEN}&")
    assert tiktok.victim_hits == []


async def test_live_job_changed_by_the_site_is_declined_not_sent(serve_fake: ServeFake) -> None:
    """A job that reaches the stub as another URL is declined; neither URL is requested."""
    provider, tiktok = await live_provider(serve_fake, REWRITING_SITE)
    try:
        request = SignRequest(url=f"{tiktok.origin}{VICTIM}?id=42", method="POST", body="x=1")
        with pytest.raises(ProviderDeclined, match="not the one asked"):
            await provider.sign(request)
    finally:
        await provider.aclose()
    assert tiktok.victim_hits == []


#: Above the SDK: a fetch whose URL carries ``hold=<ms>`` waits that long before the SDK
#: signs it, so the page is busy with it meanwhile (the signed URL passes at once).
HOLD_JS = """(() => {
  let current = window.fetch;
  Object.defineProperty(window, "fetch", {
    configurable: true,
    get: () => current,
    set: (next) => {
      current = function (input, init) {
        const url = String(typeof input === "string" ? input : input.url);
        const hold = /[?&]hold=(\\d+)/.exec(url);
        if (hold === null || url.includes("X-Bogus=")) return next.call(this, input, init);
        return new Promise((done) => setTimeout(done, Number(hold[1])))
          .then(() => next.call(this, input, init));
      };
    },
  });
})();"""


async def held(provider: BrowserProvider, ms: int) -> asyncio.Future[Any]:
    """Sign a request that keeps the page busy ``ms``; return once a page has taken it."""
    holder = asyncio.ensure_future(
        provider.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?hold={ms}"))
    )
    asked_at = time.monotonic()
    while provider.health().details["pages_busy"] == 0:
        assert time.monotonic() - asked_at < 2
        await asyncio.sleep(0.005)
    return holder


async def test_full_queue_declines_at_once() -> None:
    """The page busy and queue_max requests waiting: the next one is Overloaded at once."""
    provider = await started(config(pages=1, queue_max=2, init_scripts=(HOLD_JS,)))
    try:
        holder = await held(provider, 1000)
        waiting = [
            asyncio.ensure_future(provider.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?n={n}")))
            for n in range(2)
        ]
        await asyncio.sleep(0)
        assert provider.health().details["queue"] == 2
        asked_at = time.monotonic()
        with pytest.raises(Overloaded, match="queue is full"):
            await provider.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?n=2"))
        assert time.monotonic() - asked_at < 0.05
        results = await asyncio.gather(holder, *waiting)
    finally:
        await provider.aclose()
    assert [result.provider for result in results] == ["browser"] * 3


async def test_request_no_page_takes_in_time_is_declined_as_overloaded() -> None:
    """Waiting past the queue timeout: Overloaded then, not a failure later; never signed."""
    cfg = config(pages=1, queue_timeout_s=0.3, init_scripts=(HOLD_JS,))
    provider = await started(cfg)
    try:
        holder = await held(provider, 1500)
        asked_at = time.monotonic()
        with pytest.raises(Overloaded, match=r"no browser page was free within 0\.3 s"):
            await provider.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?n=1"))
        waited = time.monotonic() - asked_at
        await holder
        await provider.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?n=2"))
    finally:
        await provider.aclose()
    assert 0.25 < waited < 1.0
    assert provider.stats.signatures == 2  # the holder and the last one
    assert provider.health().last_error is None


def test_queue_timeout_defaults_below_the_sign_timeout() -> None:
    """Without queue_timeout_s, a request is declined before the chain's timeout fires."""
    provider = BrowserProvider(config(batch_timeout_s=10.0), PersonaStore(persona_from(Settings())))
    assert provider.health().details["queue_timeout_s"] == 8.0


async def test_request_whose_caller_gave_up_is_never_signed() -> None:
    """A queued request its caller cancelled (the chain's timeout) is skipped by the page."""
    provider = await started(config(pages=1, init_scripts=(HOLD_JS,)))
    try:
        holder = await held(provider, 500)
        given_up = asyncio.ensure_future(
            provider.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?n=1"))
        )
        await asyncio.sleep(0.05)
        given_up.cancel()
        await holder
        await provider.sign(SignRequest(url=f"{TIKTOK_ORIGIN}/api/x/?n=2"))
    finally:
        await provider.aclose()
    assert given_up.cancelled()
    assert provider.stats.signatures == 2  # the holder and the last one


async def test_start_failure_leaves_one_short_line_in_last_error() -> None:
    """A Chromium that exits at launch: last_error is one line, no command line, no /tmp."""
    provider = BrowserProvider(
        config(chromium_path=Path("/bin/false")), PersonaStore(persona_from(Settings()))
    )
    with pytest.raises(ProviderStartFailed):
        await provider.start()
    last_error = provider.health().last_error
    assert (
        last_error
        == "could not start: BrowserType.launch: Target page, context or browser has been closed"
    )


def test_error_summary_leaves_out_client_urls_and_temp_paths() -> None:
    """last_error's line: a URL keeps its origin, nothing after "?", no /tmp path."""
    temp = "/tmp"  # noqa: S108 - sample error text (Playwright quoting a profile path)
    error = PlaywrightError(
        "Page.evaluate: failed at https://www.tiktok.com/api/user/?secret=1 ?x=2"
        f" in {temp}/playwright_chromiumdev_profile-Ab12/Default\nCall log:\n  - <launching> ..."
    )
    assert _summary(error) == "Page.evaluate: failed at https://www.tiktok.com  in <temp>"
