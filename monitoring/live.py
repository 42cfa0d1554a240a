"""The live site: the SDK it serves against the baseline, and a canary TikTok judges."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

import aiohttp
from yarl import URL

from monitoring.findings import Finding, Severity
from monitoring.probe import CANARY_UA, Observation

if TYPE_CHECKING:
    from monitoring.config import MonitorConfig

__all__ = ["check_live"]

_SCRIPT = re.compile(r"""<script[^>]+src=["']([^"']*webmssdk[^"']*)["']""", re.IGNORECASE)


def _finding(severity: Severity, kind: str, detail: str, action: str) -> Observation:
    return Observation(Finding(severity, kind, detail, action))


async def check_live(
    config: MonitorConfig, session: aiohttp.ClientSession, provider: str | None
) -> tuple[dict[str, Any], list[Observation]]:
    """Fetch and hash the live SDK, compare with the baseline, send TikTok a canary."""
    view: dict[str, Any] = {}
    found: list[Observation] = []
    www = config.tiktok_www_url.rstrip("/")
    try:
        script = config.live_sdk_url or await _script_url(session, www)
        async with session.get(script, headers={"User-Agent": CANARY_UA}) as response:
            response.raise_for_status()
            sdk = await response.read()
    except (aiohttp.ClientError, TimeoutError, LookupError) as exc:
        found.append(
            _finding(
                Severity.MEDIUM,
                "live_sdk_unavailable",
                f"the live site's SDK could not be fetched ({type(exc).__name__})",
                "check SIGNER_TIKTOK_WWW_URL and the network; run again",
            )
        )
    else:
        view["sdk"] = {"sha256": hashlib.sha256(sdk).hexdigest(), "size": len(sdk)}
        found += _against_baseline(config, view["sdk"])
    found += await _canary(config, session, provider, view)
    return view, found


async def _script_url(session: aiohttp.ClientSession, www: str) -> str:
    """The webmssdk script the ``{www}/`` page loads; LookupError when there is none."""
    async with session.get(f"{www}/", headers={"User-Agent": CANARY_UA}) as response:
        page = await response.text()
    match = _SCRIPT.search(page)
    if match is None:
        raise LookupError("no webmssdk script in the page")
    return str(URL(f"{www}/").join(URL(match.group(1))))


def _against_baseline(config: MonitorConfig, live: dict[str, Any]) -> list[Observation]:
    try:
        baseline = json.loads(config.baseline_path.read_text(encoding="utf-8"))
        pinned = baseline["file"]
        build = baseline.get("build")
    except (OSError, ValueError, KeyError, TypeError):
        return [
            _finding(
                Severity.MEDIUM,
                "baseline_missing",
                f"no readable baseline at {config.baseline_path}",
                "run `tiktok-signer baseline create`",
            )
        ]
    if (pinned.get("sha256"), pinned.get("size")) == (live["sha256"], live["size"]):
        return []
    return [
        _finding(
            Severity.HIGH,
            "live_sdk_changed",
            f"the live site serves a different SDK ({live['size']} bytes, sha256 "
            f"{live['sha256'][:12]}) than the baseline's build {build}",
            "run `tiktok-signer baseline analyze` to see what changed; check the canaries",
        )
    ]


async def _canary(
    config: MonitorConfig,
    session: aiohttp.ClientSession,
    provider: str | None,
    view: dict[str, Any],
) -> list[Observation]:
    """Sign a request to TikTok through the service and judge it by TikTok's answer."""
    url = f"{config.tiktok_www_url.rstrip('/')}/api/recommend/item_list/?aid=1988&count=1"
    payload: dict[str, Any] = {"url": url, "user_agent": CANARY_UA}
    if provider:
        payload["provider"] = provider
    headers = {"X-Admin-Key": config.admin_key} if config.admin_key else {}
    status: int | str
    answer: object
    try:
        async with session.post(
            config.service_url.rstrip("/") + "/sign", json=payload, headers=headers
        ) as response:
            signed = (await response.json(content_type=None))["data"]["signed_url"]
        async with session.get(signed, headers={"User-Agent": CANARY_UA}) as response:
            status = response.status
            answer = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
        answer, status = None, type(exc).__name__
    view["canary"] = {"status": status}
    code = answer.get("status_code", 0) if isinstance(answer, dict) else None
    if status == 200 and code == 0 and answer:
        return []
    return [
        _finding(
            Severity.HIGH,
            "live_canary_refused",
            f"TikTok answered the signed canary with {status} (status_code {code})",
            "TikTok may no longer accept these signatures: run `tiktok-signer baseline "
            "analyze` and compare the live SDK",
        )
    ]
