"""The browser provider: TikTok's own web SDK in a pool of headless Chromium pages.

Chromium (Debian's package, ``SIGNER_CHROMIUM_PATH``) is driven by Playwright. Every page
loads TikTok's SDK on the TikTok origin (``SIGNER_TIKTOK_WWW_URL``): with
``SIGNER_SDK_SOURCE=file`` the origin is synthetic (Playwright answers the page and the
pinned SDK file, and aborts everything else, so nothing leaves the machine); with
``live`` the page is the real site, whose SDK and msToken are used.

A signature is a ``fetch`` through the SDK's interceptor, caught by a stub under it
(``browser_capture.js``) and answered inside the page. While a request is signed no fetch
or XHR leaves the page; one the SDK hands down changed (beyond percent-encoding and its
appended parameters) is declined, never sent. Requests wait in one queue; a page
that comes free takes everything waiting (up to ``SIGNER_BROWSER_BATCH_MAX``) and signs it
in one ``evaluate`` round trip.

Which SDK build a page runs is a :class:`~providers.profiles.Profile`: in ``file`` mode the
configured one (``SIGNER_SDK_VERSION``), in ``live`` mode whatever the site serves,
recognised from the version strings inside its tokens. The profile says which paths the
SDK signs (others are declined before a page sees them), how the page is handed the URL
(2026 builds rewrite the caller's query themselves, so they get it as written) and whether
the page has a socket signer: ``wss://`` URLs (``kind == "ws"``) are signed by the signer
``byted_acrawler.registerWsSigner()`` returns, taken once per page. The appended
parameters are read by name. Every result is checked with the native codecs before it is
returned (every hash its tokens carry: query, body, user agent): a build without profile
whose tokens check out is served and flagged (``/health``, ``ProviderEvents``), a token
whose hashes do not match is refused. The flags, canvas, version strings and build the SDK
writes are published to the native provider, so the fallback signs as the same browser.

The page presents one browser: the persona's user agent, its ``navigator.platform`` and a
``navigator.userAgentData`` derived from the user agent (TikTok's 2026 SDK sets bit
``0x400`` of its envcode when the platform disagrees with the user agent). A request with
its own user agent is signed with the platform and ``userAgentData`` of that browser.

The queue is bounded (``queue_max``): a request that finds it full, or that waits for a
page until the chain's sign timeout would be near, is declined as ``Overloaded`` (the next
provider signs it; overload is no failure and never opens the breaker), and a request
whose caller has given up is never signed.

Faults: a crashed page is replaced, a dead browser is relaunched; a request caught in
either is retried once on a healthy page, then fails with ProviderUnavailable so the chain
moves on. A batch that outlives the sign timeout costs its page, not the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib.resources
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn
from urllib.parse import quote

import structlog
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from providers import profiles, sdk
from providers.errors import (
    Overloaded,
    ProviderConfigError,
    ProviderDeclined,
    ProviderStartFailed,
    ProviderUnavailable,
    SelfCheckFailed,
)
from providers.selfcheck import verify_http, verify_ws
from providers.typing import (
    NoEvents,
    ProviderHealth,
    ProviderState,
    SignRequest,
    SignResult,
)
from providers.urls import join_url, parse_signed, requested_token
from providers.useragent import OPERATING_SYSTEMS as _OPERATING_SYSTEMS
from providers.useragent import navigator_platform

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from playwright.async_api import Browser, BrowserContext, Page, Playwright, Route

    from providers.config import BrowserConfig
    from providers.profiles import Profile
    from providers.selfcheck import Verified
    from providers.typing import PersonaStore, ProviderContext, ProviderEvents

log = structlog.get_logger("providers.browser")

NAME = "browser"
CAPTURE_JS = importlib.resources.files("providers").joinpath("browser_capture.js").read_text()
SDK_PATH = "/__signer/webmssdk.js"
PAGE_HTML = (
    "<!doctype html><html><head><meta charset='utf-8'><title>TikTok</title>"
    f"<script src='{SDK_PATH}'></script></head><body></body></html>"
)
# The SDK signs fetches to the profile's paths once init() has run (/api/ and /webcast/).
INIT_SDK_JS = """(paths) => {
  try {
    window.byted_acrawler.init({aid: 1988, dfp: true, boe: false, intercept: true,
                                enablePathList: paths});
  } catch (error) {
    // Offline the 2025 builds throw "cacheOpts[aid] has not bee initialized", after
    // installing the interceptor: that is expected and harmless.
    return String(error);
  }
  return null;
}"""
READY_JS = "() => Boolean(window.byted_acrawler && window.__signer)"
EXPORTS_JS = "() => Object.keys(window.byted_acrawler || {})"
SETUP_JS = "() => window.__signer.setup()"
SIGN_JS = "(jobs) => window.__signer.sign(jobs)"
PROBE_PATH = "/api/signer/probe/?aid=1988"
#: What ``encodeURIComponent`` leaves as it is (the socket URL's X-Gnarly is written so).
URI_COMPONENT_SAFE = "-_.!~*'()"
#: A build string as reported (health, metrics, logs): digits and dots, this long at most.
BUILD_CHARS = 24
LIVE_BLOCKED = frozenset({"image", "media", "font", "stylesheet"})
LAUNCH_ARGS = (
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--mute-audio",
    # Memory (measured with bench/bench_browser.py, PSS over the whole tree): the GPU
    # process and the network service live in the browser process, no spare renderer is
    # kept warm, and the omnibox popups headless Chromium preloads (a renderer each) are
    # never created.
    "--in-process-gpu",
    "--enable-features=NetworkServiceInProcess2",
    (
        "--disable-features=SpareRendererForSitePerProcess,WebUIOmniboxPopup,"
        "WebUIOmniboxAimPopup,WebUIOmniboxFullPopup"
    ),
)
#: Playwright's driver is a Node process; smaller heaps save about 30 MiB of it. Given to
#: the driver when the environment sets no NODE_OPTIONS of its own.
DRIVER_NODE_OPTIONS = "--max-semi-space-size=1 --max-old-space-size=64"
#: How much of a Playwright error goes into ``last_error`` (its first line, cut).
ERROR_CHARS = 200
#: Without ``queue_timeout_s``, a request waits for a page this share of the sign timeout:
#: it is declined as overloaded while the rest leaves time for one batch, before the
#: chain's timeout would count it as a failure of the provider.
QUEUE_TIMEOUT_SHARE = 0.8
# What ``last_error`` leaves out: a URL keeps its origin (a client's path and query are
# the client's), anything else after "?" goes, and so do Chromium's temporary profiles.
_URL = re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s/?#'\"\\]*)[^\s'\"]*", re.IGNORECASE)
_QUERY = re.compile(r"\?\S*")
_TEMP_PATH = re.compile(r"/tmp/\S*")  # noqa: S108 - a pattern for error text, no file


class PageUnusable(PlaywrightError):
    """Raised when a new page loads but its SDK does not sign; handled like a page error."""


@dataclass(slots=True)
class Job:
    """One request waiting for a page.

    For ``http`` ``url`` is what the page fetches; for ``ws`` it is the raw query the
    socket signer signs, and ``base`` the socket URL before ``?``.
    """

    url: str
    method: str
    body: str
    user_agent: str | None
    token: str | None
    future: asyncio.Future[SignResult]
    kind: Literal["http", "ws"] = "http"
    base: str = ""
    tries: int = 0
    #: Declines the job as overloaded if no page has taken it by the queue timeout.
    expiry: asyncio.TimerHandle | None = None

    def payload(self) -> list[Any]:
        """The job as ``window.__signer.sign`` takes it (``browser_capture.js``)."""
        browser = None if self.user_agent is None else presented(self.user_agent)
        return [self.kind, self.url, self.method, self.body, browser]


@dataclass(slots=True)
class Slot:
    """One page of the pool and what the SDK in it has shown."""

    page: Page
    created_at: float
    token: str
    signatures: int = 0
    #: The build its tokens name (sanitised), once one was signed; whether it has a profile.
    build: str | None = None
    known: bool = True
    #: The build's profile: the configured one in file mode, the recognised one in live mode.
    profile: Profile | None = None
    #: Whether the page holds a socket signer (``registerWsSigner``).
    ws: bool = False
    replacement: asyncio.Task[None] | None = None
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        """A new page starts idle."""
        self.idle.set()

    @property
    def busy(self) -> bool:
        """Whether a batch is being signed on this page right now."""
        return not self.idle.is_set()


@dataclass(slots=True)
class PoolStats:
    """Counters shown in ``/health``."""

    recycles: int = 0
    page_crashes: int = 0
    browser_crashes: int = 0
    relaunches: int = 0
    self_check_failures: int = 0
    signatures: int = 0


class BrowserProvider:
    """Signs with TikTok's SDK in headless Chromium; see the module docstring."""

    name = NAME
    awaits = True
    checked = True

    def __init__(
        self, config: BrowserConfig, personas: PersonaStore, events: ProviderEvents | None = None
    ) -> None:
        self.config = config
        self._personas = personas
        self._persona = personas.current
        self._events = events or NoEvents()
        # Unbounded on purpose: a job retried after a page fault must always fit back in;
        # sign() keeps new requests within queue_max.
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._queue_timeout_s = (
            config.queue_timeout_s
            if config.queue_timeout_s is not None
            else config.batch_timeout_s * QUEUE_TIMEOUT_SHARE
        )
        self._slots: list[Slot | None] = [None] * config.pages
        self._slot_locks = [asyncio.Lock() for _ in range(config.pages)]
        self._workers: list[asyncio.Task[None]] = []
        self._healing: asyncio.Task[None] | None = None
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._browser_lock = asyncio.Lock()
        self._state: ProviderState = "stopped"
        self._last_error: str | None = None
        self._closing = False
        self.browser_pid: int | None = None
        self.stats = PoolStats()
        #: The configured build's profile (file mode); in live mode the build is what the
        #: site serves, recognised from the tokens of each page (``Slot.profile``).
        self._profile: Profile | None = None
        if config.sdk_source == "file":
            try:
                self._profile = profiles.get(config.sdk_version)
            except KeyError as exc:
                raise ProviderConfigError(f"invalid setting sdk_version: {exc.args[0]}") from None
        #: The profile live pages were last seen to run (None: none recognised yet).
        self._live_profile: Profile | None = None

    @classmethod
    def from_context(cls, context: ProviderContext, name: str = NAME) -> BrowserProvider:
        """Build from the context's browser slice; in ``file`` mode the SDK file must verify.

        Raises :class:`SdkMissing` when the pinned file is not in the SDK cache.
        """
        del name  # one browser provider, always called "browser"
        config = context.browser
        if config.sdk_source == "file" and config.sdk_file is None:
            if config.sdk_dir is None:
                raise ProviderConfigError("invalid setting sdk_cache_dir: no SDK cache directory")
            sdk_file = sdk.sdk_path(config.sdk_dir, config.sdk_version)
            config = dataclasses.replace(config, sdk_file=sdk_file)
        return cls(config, context.personas, context.events)

    # -- lifecycle

    async def start(self) -> None:
        """Launch Chromium and open every page.

        Raises :class:`ProviderConfigError` when there is no Chromium at the configured
        path, :class:`ProviderStartFailed` when it is there but will not run the pool.
        """
        path = self.config.chromium_path
        if not (path.is_file() and os.access(path, os.X_OK)):
            self._state = "failed"
            self._last_error = _summary(f"no Chromium at {path}")
            raise ProviderConfigError(
                f"invalid setting chromium_path: no Chromium at {path}; install Debian's "
                "chromium (scripts/setup does) or point SIGNER_CHROMIUM_PATH at one"
            )
        self._state = "starting"
        self._closing = False
        try:
            self._playwright = await _start_driver()
            async with asyncio.timeout(self.config.start_timeout_s):
                await self._ensure_browser()
                slots = await asyncio.gather(*(self._open_page() for _ in self._slots))
        except (PlaywrightError, TimeoutError) as exc:
            await self.aclose()
            self._state = "failed"
            self._last_error = _summary(f"could not start: {_summary(exc)}")
            raise ProviderStartFailed(
                f"the browser provider could not start: {_summary(exc)}"
            ) from exc
        self._slots = list(slots)
        self._workers = [
            asyncio.create_task(self._work(index), name=f"browser-page-{index}")
            for index in range(len(self._slots))
        ]
        self._state = "ready"
        log.info("browser_ready", pages=len(self._slots), pid=self.browser_pid)

    async def aclose(self) -> None:
        """Stop the workers, fail what is queued, close Chromium and Playwright."""
        self._closing = True
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        if self._healing is not None:
            self._healing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._healing
            self._healing = None
        for slot in self._slots:
            if slot is not None and slot.replacement is not None:
                slot.replacement.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await slot.replacement
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(ProviderUnavailable("the browser provider stopped"))
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                await self._browser.close()
        if self._playwright is not None:
            with contextlib.suppress(PlaywrightError):
                await self._playwright.stop()
        self._browser = self._context = self._playwright = None
        self._slots = [None] * self.config.pages
        self._state = "stopped"

    def health(self) -> ProviderHealth:
        """Pool state, pages, queue, counters, the SDK version seen."""
        ready = sum(1 for slot in self._slots if slot is not None)
        state = self._state
        if state == "ready" and ready < len(self._slots):
            state = "degraded" if ready else "starting"
        slots = [slot for slot in self._slots if slot is not None and slot.build is not None]
        builds = sorted({slot.build for slot in slots if slot.build is not None})
        unknown = sorted({slot.build for slot in slots if slot.build and not slot.known})
        return ProviderHealth(
            name=self.name,
            state=state,
            last_error=self._last_error,
            details={
                "sdk_source": self.config.sdk_source,
                # The build the pages' tokens name; an unknown one (no profile) is served
                # because its hashes check out, and shown here until no page runs it.
                "sdk_version": ", ".join(builds) or None,
                "unknown_build": ", ".join(unknown) or None,
                "pages": len(self._slots),
                "pages_ready": ready,
                "pages_busy": sum(1 for slot in self._slots if slot is not None and slot.busy),
                "queue": self._queue.qsize(),
                "queue_max": self.config.queue_max,
                "queue_timeout_s": self._queue_timeout_s,
                "browser_pid": self.browser_pid,
                "recycles": self.stats.recycles,
                "page_crashes": self.stats.page_crashes,
                "browser_crashes": self.stats.browser_crashes,
                "relaunches": self.stats.relaunches,
                "self_check_failures": self.stats.self_check_failures,
            },
        )

    # -- signing

    async def sign(self, request: SignRequest) -> SignResult:
        """Queue the request for the next free page and wait for its result.

        Raises :class:`Overloaded` at once when the queue is full, and when no page has
        taken the request within the queue timeout.
        """
        if self._state in {"stopped", "failed"} or self._closing:
            raise ProviderUnavailable(f"the browser provider is {self._state}")
        waiting = self._queue.qsize()
        if waiting >= self.config.queue_max:
            raise Overloaded(f"the browser queue is full ({waiting} waiting for a page)")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SignResult] = loop.create_future()
        job = self._job(request, future)
        expiry = loop.call_later(self._queue_timeout_s, _expire, job, self._queue_timeout_s)
        job.expiry = expiry
        self._queue.put_nowait(job)
        try:
            return await future
        finally:
            # Answered, or its caller gave up (the future is cancelled with it: no page
            # will sign it): the timer (re-armed on a retry) has nothing left to decline.
            if job.expiry is not None:
                job.expiry.cancel()

    def _job(self, request: SignRequest, future: asyncio.Future[SignResult]) -> Job:
        """The page's job for ``request``; ProviderDeclined when the build cannot sign it."""
        profile = self._expected_profile()
        user_agent = request.user_agent
        if user_agent == self._persona.user_agent:
            user_agent = None
        if request.kind == "ws":
            if profile is not None and not profile.socket_signer:
                raise ProviderDeclined(f"SDK build {profile.build} has no socket signer")
            return Job(request.query, "GET", "", user_agent, None, future, "ws", request.base)
        if profile is not None and not profile.signs_path(_path_of(request.base)):
            raise ProviderDeclined(_unsigned_path(profile))
        if user_agent is not None and (profile is None or profile.x_dynosaur):
            # X-Dynosaur hashes the UA the SDK read when it loaded, whatever the page
            # presents later: a 2026 page signs HTTP only as its own browser.
            raise ProviderDeclined(
                "a 2026 SDK page signs HTTP requests only with the persona's user agent"
            )
        if profile is not None and profile.rewrites_url:
            # A 2026 build rewrites the URL itself (urls.sdk_query): it gets it as written.
            url = join_url(request.base, request.raw_query)
        else:
            url = join_url(request.base, request.query)
        token = requested_token(request.ms_token, request.query)
        return Job(url, request.method, request.body, user_agent, token, future)

    async def in_page_rate(self, requests: Sequence[SignRequest], count: int) -> float:
        """Signatures per second of one page signing ``count`` requests in an in-page loop.

        The in-page limit the benchmark compares the pool with: no round trip, no queue,
        no check (the requests are taken in turn). Run it on an idle pool.
        """
        slot = self._slots[0]
        if slot is None:
            raise ProviderUnavailable("the browser provider has no page open")
        future: asyncio.Future[SignResult] = asyncio.get_running_loop().create_future()
        jobs = [self._job(request, future).payload() for request in requests]
        slot.idle.clear()
        try:
            elapsed_ms: float = await slot.page.evaluate(
                "([jobs, n]) => window.__signer.loop(jobs, n)", [jobs, count]
            )
        finally:
            slot.idle.set()
        return count / (elapsed_ms / 1000)

    async def page_facts(self) -> dict[str, Any]:
        """What a fresh page shows of the SDK: ``byted_acrawler``'s keys before and after init.

        ``exports`` are the keys once the SDK has loaded, before anything calls it (the
        pool's pages have spent the one-shot ``registerWsSigner`` by then);
        ``exports_after_init`` after ``init`` (file mode only: the page is ours), with
        ``init_error`` what init threw (2025 builds throw offline). ``socket_signer``: the
        pool's pages hold one. For the baseline analyzer; the page is closed again.
        """
        context = await self._ensure_browser()
        page = await context.new_page()
        try:
            await page.goto(self.config.origin + "/", wait_until="domcontentloaded")
            await page.wait_for_function(READY_JS, timeout=self.config.start_timeout_s * 1000)
            exports: list[str] = await page.evaluate(EXPORTS_JS)
            after: list[str] | None = None
            init_error: str | None = None
            if self._profile is not None:
                init_error = await page.evaluate(INIT_SDK_JS, list(self._profile.signed_paths))
                after = await page.evaluate(EXPORTS_JS)
        finally:
            with contextlib.suppress(PlaywrightError):
                await page.close()
        return {
            "exports": sorted(exports),
            "exports_after_init": None if after is None else sorted(after),
            "init_error": init_error,
            "socket_signer": any(slot is not None and slot.ws for slot in self._slots),
        }

    def _expected_profile(self) -> Profile | None:
        """The profile a request is prepared for: the configured build, or the one live pages run.

        In live mode, before any page has signed, the newest known line is assumed.
        """
        if self._profile is not None:
            return self._profile
        return self._live_profile or profiles.newest()

    async def _work(self, index: int) -> None:
        """One page's loop: take a batch, sign it, keep the page healthy."""
        while True:
            job = await self._queue.get()
            batch = [job]
            while len(batch) < self.config.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            slot = self._slots[index]
            try:
                if slot is None:
                    slot = await self._fill(index)
                await self._sign_batch(slot, batch)
            except (PlaywrightError, TimeoutError) as exc:
                await self._page_failed(index, batch, exc)
                continue
            except Exception as exc:  # pragma: no cover - a bug must not kill the worker
                log.exception("browser_worker_error", page=index)
                self._fail(batch, ProviderUnavailable(f"browser worker error: {exc!r}"))
                continue
            if self._spent(slot) and slot.replacement is None:
                slot.replacement = asyncio.create_task(self._recycle(index, slot))

    async def _sign_batch(self, slot: Slot, batch: list[Job]) -> None:
        # A done future is a caller that gave up (cancelled) or a job declined as overloaded:
        # neither is signed.
        live = [job for job in batch if not job.future.done()]
        declined = [job for job in live if job.token is not None and job.token != slot.token]
        for job in declined:
            job.future.set_exception(
                ProviderDeclined("the request's msToken is not the browser session's")
            )
        jobs = [job for job in live if job not in declined]
        if not jobs:
            return
        for job in jobs:
            # Taken by a page: from now on only the chain's sign timeout bounds it.
            if job.expiry is not None:
                job.expiry.cancel()
        slot.idle.clear()
        try:
            async with asyncio.timeout(self.config.batch_timeout_s):
                outputs: list[str] = await slot.page.evaluate(
                    SIGN_JS, [job.payload() for job in jobs]
                )
        finally:
            slot.idle.set()
        slot.signatures += len(jobs)
        self.stats.signatures += len(jobs)
        for job, output in zip(jobs, outputs, strict=True):
            if job.future.done():
                continue
            try:
                job.future.set_result(self._result(slot, job, output))
            except (ProviderDeclined, SelfCheckFailed) as exc:
                job.future.set_exception(exc)

    def _result(self, slot: Slot, job: Job, output: str) -> SignResult:
        """Read what the page produced, check it with the native codecs, build the result."""
        if output.startswith("!"):
            raise ProviderDeclined(f"the SDK did not sign this request: {output[1:]}")
        user_agent = job.user_agent or self._persona.user_agent
        if job.kind == "ws":
            return self._ws_result(slot, job, output, user_agent)
        parsed = parse_signed(output)
        # The URL comes back as it went when the SDK does not sign its path, even when the
        # caller's query carries tokens of its own.
        if output == job.url or parsed is None or parsed.x_gnarly is None:
            raise ProviderDeclined("the SDK did not sign this path (not an /api/ or /webcast/ URL)")
        try:
            verified = verify_http(parsed, job.body, user_agent)
        except SelfCheckFailed as exc:
            self._self_check_failed(exc.message)
        self._observe(slot, verified, publish=job.user_agent is None)
        return SignResult(
            signed_url=output,
            x_bogus=parsed.x_bogus,
            x_gnarly=parsed.x_gnarly,
            ms_token=slot.token,
            user_agent=user_agent,
            navigator=self._persona.navigator(user_agent),
            provider=self.name,
            x_dynosaur=parsed.x_dynosaur,
            sdk_version=slot.build,
        )

    def _ws_result(self, slot: Slot, job: Job, token: str, user_agent: str) -> SignResult:
        """A socket signature: the query as signed (spaces as %20) and its X-Gnarly."""
        try:
            verified = verify_ws(job.url, user_agent, token)
        except SelfCheckFailed as exc:
            self._self_check_failed(exc.message)
        self._observe(slot, verified, publish=job.user_agent is None)
        query = job.url.replace(" ", "%20")
        return SignResult(
            signed_url=f"{job.base}?{query}&X-Gnarly={quote(token, safe=URI_COMPONENT_SAFE)}",
            x_bogus=None,
            x_gnarly=token,
            ms_token="",
            user_agent=user_agent,
            navigator=self._persona.navigator(user_agent),
            provider=self.name,
            sdk_version=slot.build,
        )

    def _observe(self, slot: Slot, verified: Verified, *, publish: bool) -> None:
        """Note the build a page's tokens name; publish what a known build wrote to the persona.

        A build without profile is served (its hashes matched) and flagged: health, the
        event, a warning when a page first shows it. Its environment is not published: the
        native provider cannot imitate a build it has no profile for.
        """
        profile = verified.profile
        # A known build by its profile's name (5.1.3's tokens name 1.0.0.328), else as named.
        build = clean_build(verified.build if profile is None else profile.build) or "unknown"
        known = profile is not None
        if (slot.build, slot.known) != (build, known):
            slot.build, slot.known = build, known
            if known:
                slot.profile = verified.profile
                if self.config.sdk_source == "live":
                    self._live_profile = verified.profile
            else:
                log.warning("sdk_unknown_build", build=build, line=self._expected_line(slot))
        self._events.sdk_build_seen(self.name, build, known=known)
        if not publish or profile is None or verified.flags is None or verified.canvas is None:
            return
        if self._personas.publish(
            flags=verified.flags,
            canvas=verified.canvas,
            gnarly_version=profile.gnarly_version,
            gnarly_build=profile.gnarly_build,
            sdk_build=profile.build,
        ):
            log.info(
                "persona_published",
                flags=list(verified.flags),
                envcode=verified.envcode,
                canvas=verified.canvas,
                gnarly_version=profile.gnarly_version,
                gnarly_build=profile.gnarly_build,
                sdk_build=profile.build,
            )

    def _expected_line(self, slot: Slot) -> int | None:
        profile = slot.profile or self._expected_profile()
        return None if profile is None else profile.line

    def _self_check_failed(self, reason: str) -> NoReturn:
        # Counted for /health here; the chain decides whether the page or the request's own
        # input is at fault (signer.chain), and reports the former to the events.
        self.stats.self_check_failures += 1
        raise SelfCheckFailed(reason)

    def _fail(self, jobs: Sequence[Job], error: Exception) -> None:
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(error)

    # -- pages and the browser

    def _spent(self, slot: Slot) -> bool:
        age = time.monotonic() - slot.created_at
        return slot.signatures >= self.config.max_signatures or age >= self.config.max_age_s

    async def _recycle(self, index: int, old: Slot) -> None:
        """Open a fresh page beside the spent one, swap them, close the old one when idle.

        The worker keeps signing on the old page meanwhile, so a recycle costs no
        throughput and no queued request waits for a page to load.
        """
        try:
            fresh = await self._open_page()
        except (PlaywrightError, TimeoutError, ProviderUnavailable) as exc:
            old.replacement = None  # the next batch tries again
            self._note_error("page_recycle_failed", exc, page=index)
            return
        async with self._slot_locks[index]:
            swapped = self._slots[index] is old
            if swapped:
                self._slots[index] = fresh
        if not swapped:  # the old page failed meanwhile and was replaced
            with contextlib.suppress(PlaywrightError):
                await fresh.page.close()
            return
        self.stats.recycles += 1
        self._events.browser_event("recycle")
        await old.idle.wait()
        with contextlib.suppress(PlaywrightError):
            await old.page.close()

    async def _page_failed(self, index: int, batch: list[Job], exc: BaseException) -> None:
        """Retry the batch's jobs once elsewhere, replace the page (and the browser if dead)."""
        for job in batch:
            if job.future.done():
                continue
            job.tries += 1
            if job.tries == 1:
                # Back in the queue, it is bounded again: no page may be free for a while.
                job.expiry = asyncio.get_running_loop().call_later(
                    self._queue_timeout_s, _expire, job, self._queue_timeout_s
                )
                self._queue.put_nowait(job)
            else:
                job.future.set_exception(
                    ProviderUnavailable(f"the browser failed twice: {_summary(exc)}")
                )
        timed_out = isinstance(exc, TimeoutError)
        if timed_out:
            self._note_error(
                "batch_timed_out", "a batch outlived the sign timeout", page=index, jobs=len(batch)
            )
        else:
            self._note_error("page_crashed", exc, page=index, jobs=len(batch))
        old = self._slots[index]
        self._slots[index] = None
        if old is not None:
            if not timed_out:
                self.stats.page_crashes += 1
                self._events.browser_event("page_crash")
            with contextlib.suppress(PlaywrightError):
                await old.page.close()
        try:
            await self._fill(index)
        except (PlaywrightError, TimeoutError, ProviderUnavailable) as error:
            self._note_error("page_reopen_failed", error, page=index)
            await asyncio.sleep(0.5)

    async def _fill(self, index: int) -> Slot:
        """The page of ``index``, opened first when it is missing (one opener at a time)."""
        async with self._slot_locks[index]:
            slot = self._slots[index]
            if slot is None:
                # Bounded: a page that never opens (a browser dying meanwhile) must not
                # hold this page's worker, and the requests it would take, forever.
                async with asyncio.timeout(self.config.start_timeout_s):
                    slot = self._slots[index] = await self._open_page()
            return slot

    async def _heal(self) -> None:
        """After a browser crash: relaunch and reopen every page, even with no traffic."""
        delay = 0.5
        while not self._closing:
            try:
                for index in range(len(self._slots)):
                    await self._fill(index)
            except (PlaywrightError, TimeoutError, ProviderUnavailable) as exc:
                self._note_error("relaunch_failed", exc, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            else:
                log.info("browser_recovered", pid=self.browser_pid)
                return

    def _note_error(self, event: str, error: BaseException | str, **data: object) -> None:
        """Log a pool fault under its own event name; keep one short line for /health."""
        summary = _summary(error)
        self._last_error = _summary(f"{event.replace('_', ' ')}: {summary}")
        log.warning(event, error=summary, **data)

    async def _open_page(self) -> Slot:
        """A new page on the TikTok origin with the SDK loaded and initialised."""
        context = await self._ensure_browser()
        page = await context.new_page()
        try:
            persona = self._persona
            if self.config.persona_user_agent:
                # The persona's browser: its UA, its platform, the userAgentData of its UA.
                override: dict[str, Any] = {
                    "userAgent": persona.user_agent,
                    "platform": persona.platform,
                    "acceptLanguage": persona.language,
                }
                metadata = user_agent_metadata(persona.user_agent)
                if metadata is not None:
                    override["userAgentMetadata"] = metadata
                # The session stays attached: Chromium drops its overrides when it detaches
                # (navigator.platform would fall back to Linux's while the UA stays).
                cdp = await context.new_cdp_session(page)
                await cdp.send("Emulation.setUserAgentOverride", override)
            await page.goto(self.config.origin + "/", wait_until="domcontentloaded")
            await page.wait_for_function(READY_JS, timeout=self.config.start_timeout_s * 1000)
            profile = self._profile
            if profile is not None:  # file mode: the page is ours, so is the SDK's init
                await page.evaluate(INIT_SDK_JS, list(profile.signed_paths))
            setup: dict[str, Any] = await page.evaluate(SETUP_JS)
            token = await page.evaluate("() => localStorage.getItem('xmst') || ''")
            slot = Slot(
                page=page,
                created_at=time.monotonic(),
                token=token,
                profile=profile,
                ws=bool(setup.get("ws")),
            )
            if self.config.probe_on_open:
                await self._probe(slot)
        except BaseException:
            with contextlib.suppress(PlaywrightError):
                await page.close()
            raise
        return slot

    async def _probe(self, slot: Slot) -> None:
        """Sign one request on a new page before it serves: it must sign, and check out.

        This also records the page's SDK version and publishes its flags and canvas to
        the native provider before the first real request.
        """
        probe = f"{self.config.origin}{PROBE_PATH}"
        (signed,) = await slot.page.evaluate(SIGN_JS, [["http", probe, "GET", "", None]])
        future: asyncio.Future[SignResult] = asyncio.get_running_loop().create_future()
        try:
            self._result(slot, Job(probe, "GET", "", None, None, future), signed)
        except (ProviderDeclined, SelfCheckFailed) as exc:
            raise PageUnusable(f"a new page failed its probe signature: {exc.message}") from exc

    async def _ensure_browser(self) -> BrowserContext:
        """The live browser context; relaunched (once, under a lock) when it died."""
        async with self._browser_lock:
            if (
                self._context is not None
                and self._browser is not None
                and self._browser.is_connected()
            ):
                return self._context
            if self._closing or self._playwright is None:
                raise ProviderUnavailable("the browser provider is stopping")
            if self._browser is not None:
                self.stats.relaunches += 1
                self._events.browser_event("relaunch")
                with contextlib.suppress(PlaywrightError):
                    await self._browser.close()
            self._context = await self._launch(self._playwright)
            return self._context

    async def _launch(self, playwright: Playwright) -> BrowserContext:
        marker = os.urandom(8).hex()
        args = [*LAUNCH_ARGS, f"--signer-instance={marker}"]
        if self.config.stealth:
            args.append("--disable-blink-features=AutomationControlled")
        browser = await playwright.chromium.launch(
            executable_path=self.config.chromium_path,
            headless=True,
            args=args,
            timeout=self.config.start_timeout_s * 1000,
            handle_sigint=False,
            handle_sigterm=False,
            handle_sighup=False,
        )
        browser.on("disconnected", self._on_disconnected)
        self._browser = browser
        self.browser_pid = _find_pid(marker)
        return await self._new_context(browser, self.config.init_scripts)

    async def _new_context(self, browser: Browser, init_scripts: Sequence[str]) -> BrowserContext:
        """A browser context for the persona: routed, with ``init_scripts`` before the capture."""
        persona = self._persona
        context = await browser.new_context(
            user_agent=persona.user_agent if self.config.persona_user_agent else None,
            locale=persona.language,
            viewport={"width": persona.screen_width, "height": persona.screen_height},
            screen={"width": persona.screen_width, "height": persona.screen_height},
            device_scale_factor=persona.device_scale_factor,
            service_workers="block",
        )
        await context.route("**/*", self._route)
        for script in init_scripts:
            await context.add_init_script(script)
        await context.add_init_script(CAPTURE_JS)
        return context

    def _on_disconnected(self, _browser: Browser) -> None:
        if self._closing:
            return
        self.stats.browser_crashes += 1
        self._events.browser_event("browser_crash")
        self._note_error("browser_disconnected", "relaunching", pid=self.browser_pid)
        # Every page died with it; reopen them now rather than on the next request.
        self._slots = [None] * len(self._slots)
        if self._healing is None or self._healing.done():
            self._healing = asyncio.get_running_loop().create_task(self._heal())

    async def _route(self, route: Route) -> None:
        """Serve the synthetic origin (file mode) or pass the site through (live mode)."""
        request = route.request
        url = request.url
        if self.config.sdk_source == "file":
            if url in {self.config.origin, self.config.origin + "/"}:
                await route.fulfill(body=PAGE_HTML, content_type="text/html; charset=utf-8")
            elif url == self.config.origin + SDK_PATH and self.config.sdk_file is not None:
                await route.fulfill(
                    path=self.config.sdk_file, content_type="application/javascript"
                )
            else:
                await route.abort()
            return
        if request.resource_type in LIVE_BLOCKED:
            await route.abort()
        else:
            await route.fallback()


# -- the browser a page presents


#: ``navigator.platform`` and ``userAgentData.platform`` by the OS a user agent names, first
#: match wins (what Chrome, Edge and Safari report on each).
#: The brand a Chromium-based browser adds to "Chromium", by its user-agent token.
_BRANDS = (("Edg/", "Microsoft Edge"), ("OPR/", "Opera"), ("Chrome/", "Google Chrome"))
_CHROME_VERSION = re.compile(r"(?:Chrome|Chromium)/(\d+)((?:\.\d+)*)")
# Chromium's GREASE brand (components/embedder_support/user_agent_utils.cc), seeded by the
# major version: "Not" + c1 + "A" + c2 + "Brand", one of three versions, one of six orders.
_GREASE_CHARS = (" ", "(", ":", "-", ".", "/", ")", ";", "=", "?", "_")
_GREASE_VERSIONS = ("8", "99", "24")
_GREASE_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def _brand_list(seed: int, brand: str, version: str) -> list[dict[str, str]]:
    order = _GREASE_ORDERS[seed % len(_GREASE_ORDERS)]
    grease = {
        "brand": f"Not{_GREASE_CHARS[seed % 11]}A{_GREASE_CHARS[(seed + 1) % 11]}Brand",
        "version": _GREASE_VERSIONS[seed % 3] + version[len(str(seed)) :],
    }
    brands: list[dict[str, str]] = [{}, {}, {}]
    brands[order[0]] = grease
    brands[order[1]] = {"brand": "Chromium", "version": version}
    brands[order[2]] = {"brand": brand, "version": version}
    return brands


@functools.lru_cache(maxsize=64)
def user_agent_metadata(user_agent: str) -> dict[str, Any] | None:
    """What ``navigator.userAgentData`` holds in the browser ``user_agent`` names.

    The shape of CDP's ``Emulation.UserAgentMetadata``; None for a browser without
    ``userAgentData`` (Safari, Firefox: only Chromium-based browsers have it).
    """
    version = _CHROME_VERSION.search(user_agent)
    if version is None or "CriOS/" in user_agent:
        return None
    major = int(version.group(1))
    brand = next(name for marker, name in _BRANDS if marker in user_agent or marker == "Chrome/")
    system = next((entry for entry in _OPERATING_SYSTEMS if entry[0] in user_agent), None)
    mobile = "Mobile" in user_agent
    return {
        "brands": _brand_list(major, brand, str(major)),
        "fullVersionList": _brand_list(major, brand, f"{major}{version.group(2) or '.0.0.0'}"),
        "platform": "" if system is None else system[2],
        "platformVersion": "",
        "architecture": "" if mobile else "x86",
        "model": "",
        "mobile": mobile,
        "bitness": "" if mobile else "64",
        "wow64": False,
    }


@functools.lru_cache(maxsize=64)
def presented(user_agent: str) -> tuple[str, str | None, dict[str, Any] | None]:
    """A request's own browser as a page presents it: user agent, platform, userAgentData.

    A user agent that names no OS keeps the page's platform (None).
    """
    metadata = user_agent_metadata(user_agent)
    data = None
    if metadata is not None:
        data = {key: metadata[key] for key in ("brands", "mobile", "platform")}
        data |= {key: metadata[key] for key in ("fullVersionList", "platformVersion")}
        data |= {"architecture": metadata["architecture"], "bitness": metadata["bitness"]}
    return (user_agent, navigator_platform(user_agent), data)


def clean_build(build: object) -> str | None:
    """A build string fit for health, metrics and logs: digits and dots, short; None if none."""
    text = re.sub(r"[^0-9.]", "", str(build))[:BUILD_CHARS] if build is not None else ""
    return text or None


def _unsigned_path(profile: Profile) -> str:
    """Why a request to a path the build does not sign is declined."""
    signed = ", ".join(profile.signed_paths)
    unsigned = ", ".join(profile.unsigned_paths)
    but = f", not {unsigned}" if unsigned else ""
    return f"the SDK does not sign this path (build {profile.build} signs {signed}{but})"


def _path_of(base: str) -> str:
    """The path of an absolute URL without its query (``/`` when it has none)."""
    scheme = base.find("://")
    at = base.find("/", scheme + 3 if scheme != -1 else 0)
    return "/" if at == -1 else base[at:]


def _expire(job: Job, waited_s: float) -> None:
    """Decline a job no page has taken in time, before the chain's timeout makes it a failure."""
    if not job.future.done():
        job.future.set_exception(Overloaded(f"no browser page was free within {waited_s:g} s"))


def _summary(error: BaseException | str) -> str:
    """One short line of an error, without a client's URL or Chromium's temporary paths.

    Playwright's errors carry call logs and Chromium's whole command line (its profile in
    /tmp among it); what reaches ``last_error`` and /health is the first line, cleaned.
    """
    lines = str(error).strip().splitlines()
    if lines:
        line = _TEMP_PATH.sub("<temp>", _QUERY.sub("", _URL.sub(r"\1", lines[0])))
    else:
        line = type(error).__name__
    return line if len(line) <= ERROR_CHARS else line[:ERROR_CHARS] + "..."


async def _start_driver() -> Playwright:
    """Playwright's Node driver, started; PlaywrightError when it will not run.

    The driver is a separate program: when it dies at start (a missing shared library in
    an image) Playwright raises whatever its pipe saw, not its own error class.
    """
    try:
        with _driver_environment():
            return await async_playwright().start()
    except PlaywrightError:
        raise
    except Exception as exc:
        raise PlaywrightError(f"Playwright's driver did not start: {exc!r}") from exc


@contextlib.contextmanager
def _driver_environment() -> Iterator[None]:
    """NODE_OPTIONS for Playwright's driver while it starts, then the environment as it was.

    Playwright starts its Node driver with a copy of the process environment and takes no
    environment of its own, so the heap limits are there only while the driver starts.
    """
    if "NODE_OPTIONS" in os.environ:
        yield
        return
    os.environ["NODE_OPTIONS"] = DRIVER_NODE_OPTIONS
    try:
        yield
    finally:
        os.environ.pop("NODE_OPTIONS", None)


def _find_pid(marker: str) -> int | None:
    """The browser process: the one started with our marker switch and no ``--type``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"--signer-instance={marker}".encode() in argv and not any(
            arg.startswith(b"--type=") for arg in argv
        ):
            return int(entry.name)
    return None
