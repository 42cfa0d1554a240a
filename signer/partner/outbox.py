"""The webhook outbox's deliveries to the CloudEvents sink (placeholder until it lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from signer.partner.runtime import Partner


class Outbox:
    """Delivers queued CloudEvents to the sink (placeholder)."""

    name = "outbox"

    def __init__(self, partner: Partner) -> None:
        self.partner = partner

    async def run_once(self) -> float:
        """Nothing yet."""
        return 60.0
