"""One monitor run: probe, live checks, emergency step, alerts, history, textfile."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from monitoring import alerts, emergency
from monitoring.findings import Severity, worst
from monitoring.history import History
from monitoring.live import check_live
from monitoring.probe import Observation, ProviderProbe, ServiceUnreachable, probe

if TYPE_CHECKING:
    from monitoring.config import MonitorConfig

__all__ = ["COULD_NOT_RUN", "DEGRADED", "HEALTHY", "Report", "run_once", "write_textfile"]

HEALTHY, DEGRADED, COULD_NOT_RUN = 0, 1, 3
_VERDICTS = {HEALTHY: "healthy", DEGRADED: "degraded", COULD_NOT_RUN: "could_not_run"}


@dataclass(slots=True)
class Report:
    """What one run found; ``verdict`` is the exit code."""

    service: str
    started_at: float
    verdict: int = HEALTHY
    duration_s: float = 0.0
    status: str | None = None
    error: str | None = None
    observations: list[Observation] = field(default_factory=list)
    providers: dict[str, ProviderProbe] = field(default_factory=dict)
    live: dict[str, Any] | None = None
    emergency: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "verdict": _VERDICTS[self.verdict],
            "exit_code": self.verdict,
            "service": self.service,
            "status": self.status,
            "error": self.error,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "worst": worst([o.finding for o in self.observations]).name,
            "findings": [o.as_dict() for o in self.observations],
            "providers": {name: p.as_dict() for name, p in self.providers.items()},
            "live": self.live,
            "emergency": self.emergency,
            "alerts": self.alerts,
        }


async def run_once(config: MonitorConfig, *, simulate: bool = False) -> Report:
    """Run every check once; alerts, history and the textfile follow (not when simulating)."""
    history = History(config.history_path)
    report = Report(config.service_url, time.time())
    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=config.timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            result = await probe(config, session, history)
        except ServiceUnreachable as exc:
            report.verdict, report.error = COULD_NOT_RUN, str(exc)
        else:
            report.status = str(result.health.get("status"))
            report.providers = result.providers
            report.observations = result.observations
            if config.live:
                first = next((n for n, p in result.providers.items() if p.enabled), None)
                report.live, found = await check_live(config, session, first)
                report.observations += found
            if config.emergency or simulate:
                lines, found = await emergency.respond(config, session, result, simulate=simulate)
                report.emergency, report.observations = lines, report.observations + found
            above_info = [o for o in report.observations if o.finding.severity > Severity.INFO]
            report.verdict = DEGRADED if above_info else HEALTHY
        if not simulate and report.verdict != COULD_NOT_RUN:
            report.alerts = await alerts.notify(config, session, history, report.observations)
    report.duration_s = round(time.perf_counter() - started, 3)
    if not simulate:
        history.record(
            report.started_at,
            report.verdict,
            report.error or f"{_VERDICTS[report.verdict]}: {len(report.observations)} finding(s)",
            [o.as_dict() for o in report.observations],
            {n: p.latency_s for n, p in report.providers.items() if p.latency_s is not None},
        )
        if config.textfile is not None:
            write_textfile(config, report)
    return report


def write_textfile(config: MonitorConfig, report: Report) -> None:
    """The verdict in Prometheus text format, written atomically for node-exporter."""
    if config.textfile is None:
        return
    registry = CollectorRegistry()
    Gauge(
        "signer_monitor_verdict",
        "Monitor verdict: 0 healthy, 1 degraded or changed, 3 could not run",
        registry=registry,
    ).set(report.verdict)
    Gauge(
        "signer_monitor_last_run_timestamp_seconds",
        "When the monitor last ran (Unix time)",
        registry=registry,
    ).set(report.started_at)
    findings = Gauge(
        "signer_monitor_findings",
        "Findings of the last run by severity",
        ["severity"],
        registry=registry,
    )
    for severity in Severity:
        count = sum(1 for o in report.observations if o.finding.severity == severity)
        findings.labels(severity.name).set(count)
    ok = Gauge(
        "signer_monitor_provider_ok",
        "Whether the provider's canaries verified",
        ["provider"],
        registry=registry,
    )
    latency = Gauge(
        "signer_monitor_sign_latency_seconds",
        "The provider's fastest canary round trip through /sign",
        ["provider"],
        registry=registry,
    )
    for name, result in report.providers.items():
        ok.labels(name).set(1 if result.ok else 0)
        if result.latency_s is not None:
            latency.labels(name).set(result.latency_s)
    config.textfile.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(config.textfile), registry)
