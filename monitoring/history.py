"""Run history and alert state in SQLite (``<data dir>/monitor.db``), across cron runs."""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    verdict INTEGER NOT NULL,
    summary TEXT NOT NULL,
    findings TEXT NOT NULL,
    latencies TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    key TEXT PRIMARY KEY,
    since REAL NOT NULL,
    detail TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Run:
    """One recorded run."""

    id: int
    started_at: float
    verdict: int
    summary: str
    findings: list[dict[str, Any]]
    latencies: dict[str, float]


class History:
    """The monitor's SQLite file; each call opens, commits and closes (cron-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def record(
        self,
        started_at: float,
        verdict: int,
        summary: str,
        findings: list[dict[str, Any]],
        latencies: dict[str, float],
    ) -> None:
        """Append one run."""
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO runs (started_at, verdict, summary, findings, latencies)"
                " VALUES (?, ?, ?, ?, ?)",
                (started_at, verdict, summary, json.dumps(findings), json.dumps(latencies)),
            )

    def recent(self, limit: int = 20) -> list[Run]:
        """The newest ``limit`` runs, newest first."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT id, started_at, verdict, summary, findings, latencies FROM runs"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            Run(row[0], row[1], row[2], row[3], json.loads(row[4]), json.loads(row[5]))
            for row in rows
        ]

    def median_latency(self, provider: str, runs: int = 20) -> tuple[float | None, int]:
        """The median sign latency of ``provider`` over the last ``runs`` runs, and how many."""
        samples = [
            run.latencies[provider] for run in self.recent(runs) if provider in run.latencies
        ]
        return (statistics.median(samples) if samples else None), len(samples)

    def active_alerts(self) -> dict[str, str]:
        """Conditions already alerted and not yet recovered: ``{key: detail}``."""
        with closing(self._connect()) as db:
            return dict(db.execute("SELECT key, detail FROM alerts").fetchall())

    def set_alerts(self, raised: dict[str, str], cleared: list[str]) -> None:
        """Mark ``raised`` as alerted and ``cleared`` as recovered, in one transaction."""
        now = time.time()
        with closing(self._connect()) as db, db:
            db.executemany(
                "INSERT OR REPLACE INTO alerts (key, since, detail) VALUES (?, ?, ?)",
                [(key, now, detail) for key, detail in raised.items()],
            )
            db.executemany("DELETE FROM alerts WHERE key = ?", [(key,) for key in cleared])
