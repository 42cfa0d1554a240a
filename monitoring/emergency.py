"""Emergency response (opt-in): a working provider first, else maintenance mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp

from monitoring.findings import Finding, Severity
from monitoring.probe import BREAKAGES, Observation

if TYPE_CHECKING:
    from monitoring.config import MonitorConfig
    from monitoring.probe import ProbeResult

__all__ = ["respond"]


def plan(result: ProbeResult) -> tuple[str, dict[str, object]] | None:
    """The admin call to make (path, JSON body), or None when the first provider works."""
    broken = {o.provider for o in result.observations if o.finding.kind in BREAKAGES}
    enabled = [name for name, p in result.providers.items() if p.enabled]
    if not enabled or enabled[0] not in broken:
        return None
    working = [name for name, p in result.providers.items() if p.ok and name not in broken]
    if working:
        return "/admin/providers", {"order": [working[0]]}
    if result.health.get("maintenance"):
        return None
    names = ", ".join(sorted(name for name in broken if name))
    return "/admin/maintenance", {
        "enabled": True,
        "reason": f"monitor: no provider signs correctly ({names})",
    }


async def respond(
    config: MonitorConfig,
    session: aiohttp.ClientSession,
    result: ProbeResult,
    *,
    simulate: bool,
) -> tuple[list[str], list[Observation]]:
    """Take (or with ``simulate`` only describe) the step; lines for the report, findings."""
    step = plan(result)
    if step is None:
        return [], []
    path, body = step
    described = f"POST {path} {body}"
    if simulate:
        return [f"would {described} (--simulate: nothing changed)"], []
    if not config.admin_key:
        return [], [
            Observation(
                Finding(
                    Severity.HIGH,
                    "emergency_needs_admin_key",
                    f"the emergency step ({described}) needs the admin key",
                    "set SIGNER_ADMIN_KEY for the monitor, or take the step by hand",
                )
            )
        ]
    url = config.service_url.rstrip("/") + path
    try:
        async with session.post(
            url, json=body, headers={"X-Admin-Key": config.admin_key}
        ) as response:
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return [f"{described}: failed ({type(exc).__name__})"], []
    if status != 200:
        return [f"{described}: the service answered {status}"], []
    return [f"took the emergency step: {described}"], []
