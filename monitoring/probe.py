"""Probe a running service over HTTP: ``/health``, then canaries through ``/sign`` per provider.

Every canary is pinned to one provider (``"provider": name``) and carries the admin key when
the monitor has one, so disabled providers and maintenance hide nothing and no client's rate
limit is spent. Each answer is verified with the codecs (:mod:`providers.selfcheck`); what
the providers' tokens say about their SDK build is compared between them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from monitoring.findings import Finding, Severity
from providers import profiles
from providers.errors import SelfCheckFailed
from providers.selfcheck import verify_http, verify_ws
from providers.urls import parse_signed, parse_socket

if TYPE_CHECKING:
    from monitoring.config import MonitorConfig
    from monitoring.history import History
    from providers.selfcheck import Verified

__all__ = ["CANARY_UA", "Observation", "ProviderProbe", "ServiceUnreachable", "probe"]

#: The user agent every canary is signed for.
CANARY_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
_WWW = "https://www.tiktok.com"
_HTTP_CANARIES = (
    ("GET", f"{_WWW}/api/post/item_list/?aid=1988&count=30&cursor=0&device_platform=web_pc", ""),
    ("POST", f"{_WWW}/api/report/item/?aid=1988&device_platform=web_pc", '{"canary":1}'),
)
_SOCKET_CANARY = (
    "wss://webcast-ws.tiktok.com/webcast/im/ws_proxy/ws_reuse_supplement/?version_code=180800"
    "&device_platform=web&cookie_enabled=true&screen_width=1920&screen_height=1080"
    "&browser_language=en-US&browser_platform=Win32&browser_name=Mozilla&aid=1988"
    "&app_name=tiktok_web&room_id=7000000000000000000&compress=gzip&version_code=180800"
)
#: Much slower: more than this many times the median of earlier runs, and by this much.
SLOW_FACTOR = 3.0
SLOW_MARGIN_S = 0.05
#: Earlier runs needed before latency is judged.
MIN_SAMPLES = 3
#: Findings that mean a provider cannot be trusted to sign (the emergency step acts on them).
BREAKAGES = frozenset({"provider_down", "sign_failed", "bad_signature"})


class ServiceUnreachable(Exception):
    """``/health`` did not answer: the monitor could not run."""


@dataclass(frozen=True, slots=True)
class Observation:
    """A finding and the provider it is about (None: the service as a whole)."""

    finding: Finding
    provider: str | None = None

    @property
    def key(self) -> str:
        """What an alert is keyed by: the finding's kind and the provider."""
        return f"{self.finding.kind}:{self.provider}" if self.provider else self.finding.kind

    def as_dict(self) -> dict[str, Any]:
        """The finding's JSON form with ``provider``."""
        return {**self.finding.as_dict(), "provider": self.provider}


@dataclass(slots=True)
class ProviderProbe:
    """What the canaries of one provider showed."""

    name: str
    state: str
    enabled: bool
    ok: bool = True
    latency_s: float | None = None
    build: str | None = None
    envcode: int | None = None
    canvas: int | None = None
    known_build: bool | None = None
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``providers`` of ``--json``)."""
        return {
            "ok": self.ok,
            "state": self.state,
            "enabled": self.enabled,
            "latency_s": self.latency_s,
            "build": self.build,
            "envcode": self.envcode,
            "canvas": self.canvas,
            "known_build": self.known_build,
            "problems": self.problems,
        }


@dataclass(slots=True)
class ProbeResult:
    """``/health`` as read, every provider's probe, and the findings."""

    health: dict[str, Any]
    providers: dict[str, ProviderProbe]
    observations: list[Observation]


def _headers(config: MonitorConfig) -> dict[str, str]:
    return {"X-Admin-Key": config.admin_key} if config.admin_key else {}


async def probe(
    config: MonitorConfig, session: aiohttp.ClientSession, history: History
) -> ProbeResult:
    """Probe the service; ServiceUnreachable when ``/health`` does not answer with JSON."""
    base = config.service_url.rstrip("/")
    try:
        async with session.get(f"{base}/health") as response:
            health = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ServiceUnreachable(f"{base}/health: {type(exc).__name__}") from None
    if not isinstance(health, dict) or not isinstance(health.get("providers"), list):
        raise ServiceUnreachable(f"{base}/health: not the service's health answer")
    observations: list[Observation] = []
    status = health.get("status")
    if status != "ok":
        observations.append(
            Observation(
                Finding(
                    Severity.HIGH if status == "down" else Severity.MEDIUM,
                    "service_degraded",
                    f"/health says {status!r}",
                    "see /admin/state for each provider's last error",
                )
            )
        )
    if health.get("maintenance"):
        observations.append(
            Observation(
                Finding(
                    Severity.MEDIUM,
                    "maintenance",
                    "the service is in maintenance mode",
                    'turn it off with POST /admin/maintenance {"enabled": false} once fixed',
                )
            )
        )
    providers: dict[str, ProviderProbe] = {}
    for entry in health["providers"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        result = ProviderProbe(entry["name"], str(entry.get("state")), bool(entry.get("enabled")))
        providers[result.name] = result
        observations += _health_findings(entry, result)
        if result.enabled or config.admin_key:
            observations += await _canaries(base, entry, result, config, session)
            observations += _latency_findings(result, history)
    observations += _agreement(providers, compare_builds=config.compare_builds)
    return ProbeResult(health, providers, observations)


def _health_findings(entry: dict[str, Any], result: ProviderProbe) -> list[Observation]:
    found: list[Observation] = []
    if result.enabled and result.state not in {"ready", "degraded"}:
        result.ok = False
        found.append(
            Observation(
                Finding(
                    Severity.HIGH,
                    "provider_down",
                    f"state {result.state!r}, breaker {entry.get('breaker')!r}: "
                    f"{entry.get('last_error') or 'no error given'}",
                    f"POST /admin/providers/{result.name}/restart; see /admin/state",
                ),
                result.name,
            )
        )
    if entry.get("unknown_build"):
        found.append(_unknown_build(result.name, str(entry.get("unknown_build"))))
    return found


def _unknown_build(name: str, build: str | None) -> Observation:
    return Observation(
        Finding(
            Severity.HIGH,
            "unknown_build",
            f"tokens of SDK build {build or '?'} that has no profile",
            "run `tiktok-signer baseline analyze` and add a profile for the new build",
        ),
        name,
    )


def _canary_requests(entry: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The HTTP canaries, and the socket one when the provider's build has a socket signer."""
    canaries = list(_HTTP_CANARIES)
    build = entry.get("sdk_version")
    profile = profiles.PROFILES.get(build) if isinstance(build, str) else None
    if profile is not None and profile.socket_signer:
        canaries.append(("GET", _SOCKET_CANARY, ""))
    return canaries


async def _sign_one(
    base: str,
    request: tuple[str, str, str],
    name: str,
    config: MonitorConfig,
    session: aiohttp.ClientSession,
) -> tuple[float | None, str | None, str | None, Verified | None]:
    """One canary: its latency, and a failure, a bad signature or what it verified to."""
    method, url, body = request
    what = "socket" if url.startswith("wss") else method
    payload: dict[str, Any] = {"url": url, "user_agent": CANARY_UA, "provider": name}
    if method != "GET":
        payload |= {"method": method, "body": body}
    started = time.perf_counter()
    try:
        async with session.post(f"{base}/sign", json=payload, headers=_headers(config)) as response:
            answer = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return None, f"{what} canary: {type(exc).__name__}", None, None
    latency = time.perf_counter() - started
    data = answer.get("data") if isinstance(answer, dict) else None
    if status != 200 or not isinstance(data, dict):
        error = answer.get("error") if isinstance(answer, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return latency, f"{what} canary: {status} {code}", None, None
    try:
        return latency, None, None, _verify(url, body, data)
    except SelfCheckFailed as exc:
        return latency, None, f"{what} canary: {exc.message}", None


async def _canaries(
    base: str,
    entry: dict[str, Any],
    result: ProviderProbe,
    config: MonitorConfig,
    session: aiohttp.ClientSession,
) -> list[Observation]:
    latencies: list[float] = []
    failures: list[str] = []
    bad: list[str] = []
    unknown: list[Verified] = []
    for request in _canary_requests(entry):
        latency, failure, wrong, verified = await _sign_one(
            base, request, result.name, config, session
        )
        latencies += [latency] if latency is not None else []
        failures += [failure] if failure else []
        bad += [wrong] if wrong else []
        if verified is None:
            continue
        if request[1].startswith("https") or result.build is None:
            result.build = verified.build or result.build
            result.envcode, result.canvas = verified.envcode, verified.canvas
        # X-Bogus alone names no build: only tokens that name one can be of an unknown one.
        named = verified.x_gnarly is not None or verified.x_dynosaur is not None
        if named:
            result.known_build = verified.known and result.known_build is not False
        unknown += [] if verified.known or not named else [verified]
    if latencies:
        result.latency_s = round(min(latencies), 6)
    found: list[Observation] = []
    if failures:
        result.ok = False
        result.problems += failures
        found.append(
            Observation(
                Finding(
                    Severity.HIGH,
                    "sign_failed",
                    "; ".join(failures),
                    "see /admin/state for the provider's last error; restart or reorder it",
                ),
                result.name,
            )
        )
    if bad:
        result.ok = False
        result.problems += bad
        found.append(
            Observation(
                Finding(
                    Severity.CRITICAL,
                    "bad_signature",
                    "; ".join(bad),
                    "move a working provider first (POST /admin/providers) and check the SDK",
                ),
                result.name,
            )
        )
    if unknown:
        found.append(_unknown_build(result.name, unknown[0].build))
    return found


def _verify(url: str, body: str, data: dict[str, Any]) -> Verified:
    """Verify one answer of ``/sign`` with the codecs; SelfCheckFailed when it does not hold."""
    signed_url = data.get("signed_url")
    if not isinstance(signed_url, str):
        raise SelfCheckFailed("the answer carries no signed_url")
    if not signed_url.startswith(url.split("?", 1)[0]):
        raise SelfCheckFailed("the signed URL is not the canary's")
    if url.startswith("wss://"):
        socket = parse_socket(signed_url)
        if socket is None:
            raise SelfCheckFailed("the socket URL carries no X-Gnarly")
        return verify_ws(socket.query, CANARY_UA, _str(data.get("X-Gnarly")) or socket.x_gnarly)
    signed = parse_signed(signed_url)
    if signed is None:
        raise SelfCheckFailed("the signed URL carries no X-Bogus")
    signed = signed._replace(
        x_bogus=_str(data.get("X-Bogus")) or signed.x_bogus,
        x_gnarly=_str(data.get("X-Gnarly")) or signed.x_gnarly,
        x_dynosaur=_str(data.get("X-Dynosaur")) or signed.x_dynosaur,
    )
    return verify_http(signed, body, CANARY_UA)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _latency_findings(result: ProviderProbe, history: History) -> list[Observation]:
    if result.latency_s is None:
        return []
    median, samples = history.median_latency(result.name)
    if median is None or samples < MIN_SAMPLES:
        return []
    if result.latency_s > median * SLOW_FACTOR and result.latency_s - median > SLOW_MARGIN_S:
        return [
            Observation(
                Finding(
                    Severity.MEDIUM,
                    "slow_signing",
                    f"signed in {result.latency_s * 1000:.1f} ms; the median of the last "
                    f"{samples} runs is {median * 1000:.1f} ms",
                    "check the host's load and the provider's pool (signer_browser_* metrics)",
                ),
                result.name,
            )
        ]
    return []


def _agreement(providers: dict[str, ProviderProbe], *, compare_builds: bool) -> list[Observation]:
    """Browser and native agree on envcode, canvas and build (the build in ``file`` mode)."""
    browser, native = providers.get("browser"), providers.get("native")
    if browser is None or native is None or browser.build is None or native.build is None:
        return []
    differ = [
        f"{what} {getattr(browser, what)} (browser) vs {getattr(native, what)} (native)"
        for what in ("envcode", "canvas", "build")[: 3 if compare_builds else 2]
        if getattr(browser, what) != getattr(native, what)
    ]
    if not differ:
        return []
    return [
        Observation(
            Finding(
                Severity.HIGH,
                "providers_disagree",
                "; ".join(differ),
                "native no longer imitates what the browser runs: update the profile or "
                "SIGNER_SDK_VERSION, then run `tiktok-signer baseline analyze`",
            )
        )
    ]
