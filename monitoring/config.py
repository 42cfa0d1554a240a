"""What the monitor needs: a plain slice of the service's settings (``signer`` maps them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """The monitor's settings; secrets stay out of ``repr``.

    ``live`` is already resolved (on when the SDK source is ``live`` unless set).
    ``smtp_url`` is ``smtp://user:pass@host:port``, ``smtps://...`` or ``...?starttls=1``.
    """

    service_url: str
    data_dir: Path
    admin_key: str | None = field(default=None, repr=False)
    live: bool = False
    emergency: bool = False
    textfile: Path | None = None
    tiktok_www_url: str = "https://www.tiktok.com"
    #: The live site's SDK script; None: found in the ``{tiktok_www_url}/`` page.
    live_sdk_url: str | None = None
    slack_url: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)
    smtp_url: str | None = field(default=None, repr=False)
    email_to: tuple[str, ...] = ()
    timeout_s: float = 10.0
    #: Whether browser and native must name the same build (``file`` mode).
    compare_builds: bool = True

    @property
    def history_path(self) -> Path:
        """The SQLite file of runs and alert state."""
        return self.data_dir / "monitor.db"

    @property
    def baseline_path(self) -> Path:
        """The baseline ``baseline create`` writes."""
        return self.data_dir / "baseline.json"

    def secrets(self) -> tuple[str, ...]:
        """Every secret value set (to scrub text that might quote one)."""
        values = (self.admin_key, self.slack_url, self.webhook_url, self.smtp_url)
        return tuple(value for value in values if value)
