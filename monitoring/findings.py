"""Findings: what the monitor and the baseline analyzer report, with a severity and an action."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["Finding", "Severity", "worst"]


class Severity(enum.IntEnum):
    """How bad a finding is; ordered, so ``max`` gives the worst."""

    INFO = 0
    MEDIUM = 1
    HIGH = 2
    CRITICAL = 3


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that changed or is wrong: ``kind`` is a stable snake_case key."""

    severity: Severity
    kind: str
    detail: str
    action: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"severity": "CRITICAL", "kind", "detail", "action"}``."""
        return {
            "severity": self.severity.name,
            "kind": self.kind,
            "detail": self.detail,
            "action": self.action,
        }


def worst(findings: list[Finding]) -> Severity:
    """The highest severity of ``findings`` (INFO when there are none)."""
    return max((finding.severity for finding in findings), default=Severity.INFO)
