"""Operator state: maintenance mode and the log of run-time changes (shown in /health)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger("signer.control")

#: How many recent changes /admin/state and /health show.
RECENT_CHANGES = 50


@dataclass(slots=True)
class Maintenance:
    """Maintenance mode: while on, the sign routes answer 503 with Retry-After."""

    enabled: bool = False
    reason: str | None = None
    retry_after_s: int = 60
    since: float | None = None


@dataclass(slots=True)
class Control:
    """What operators changed at run time."""

    maintenance: Maintenance = field(default_factory=Maintenance)
    changes: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_CHANGES))

    def record(self, action: str, **detail: Any) -> None:
        """Log one operator change and keep it for /admin/state and /health."""
        change = {"at": round(time.time(), 3), "action": action, **detail}
        self.changes.append(change)
        log.warning("operator_change", **change)

    def set_maintenance(self, *, enabled: bool, reason: str | None, retry_after_s: int) -> None:
        """Switch maintenance mode on or off."""
        self.maintenance = Maintenance(
            enabled=enabled,
            reason=reason if enabled else None,
            retry_after_s=retry_after_s,
            since=time.time() if enabled else None,
        )
        self.record("maintenance", enabled=enabled, reason=reason, retry_after_s=retry_after_s)

    def maintenance_view(self) -> dict[str, Any]:
        """Maintenance state as JSON data."""
        m = self.maintenance
        return {
            "enabled": m.enabled,
            "reason": m.reason,
            "retry_after_s": m.retry_after_s,
            "since": m.since,
        }
