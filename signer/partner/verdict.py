"""The outcome of a partner check: accepted or not, and why not (never with a secret in it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Verdict:
    """Whether a signature or payload checked out; ``reason`` says why not, in words only.

    Reasons name what failed (a missing header, a MAC mismatch, an age), never a key, a
    secret or the expected MAC.
    """

    valid: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        """A verdict is true when it accepts."""
        return self.valid

    def as_json(self) -> dict[str, Any]:
        """``{"valid": bool, "reason"?: str}``, as the verify routes answer."""
        return {"valid": True} if self.valid else {"valid": False, "reason": self.reason}


#: The accepting verdict.
ACCEPTED = Verdict(valid=True)


def rejected(reason: str) -> Verdict:
    """A rejecting verdict with its reason."""
    return Verdict(valid=False, reason=reason)
