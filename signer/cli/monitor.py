"""``tiktok-signer monitor``: probe the running service; ``monitor history`` lists runs.

One run by default (cron-friendly), ``--continuous --interval S`` to loop. Exit 0 healthy,
1 degraded or changed, 2 usage error, 3 could not run (the service does not answer).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from monitoring.config import MonitorConfig
from signer.cli import ExitCode, config_option, error, out

if TYPE_CHECKING:
    import argparse

    from monitoring.run import Report
    from signer.settings import Settings


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``monitor [history] [--continuous --interval S] [--json] [--simulate] [--service URL]``."""
    parser = commands.add_parser(
        "monitor", help="probe the running service; `monitor history` lists recent runs"
    )
    config_option(parser)
    parser.add_argument("action", nargs="?", choices=["history"], help="list recent runs")
    parser.add_argument("--continuous", action="store_true", help="run every --interval S")
    parser.add_argument("--interval", type=float, help="seconds between runs (--continuous)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--simulate", action="store_true", help="print the emergency step, change nothing"
    )
    parser.add_argument("--service", help="the service's URL (default: SIGNER_SERVICE_URL)")
    parser.add_argument("--limit", type=int, default=20, help="runs `history` lists")
    parser.set_defaults(run=monitor)


def config_of(settings: Settings, service: str | None = None) -> MonitorConfig:
    """The monitor's slice of the settings."""
    live = settings.monitor_live
    return MonitorConfig(
        service_url=service or str(settings.service_url),
        data_dir=settings.data_dir,
        admin_key=settings.admin_key.get_secret_value() if settings.admin_key else None,
        live=settings.sdk_source == "live" if live is None else live,
        emergency=settings.monitor_emergency,
        textfile=settings.monitor_textfile,
        tiktok_www_url=str(settings.tiktok_www_url),
        slack_url=_secret(settings.alert_slack_url),
        webhook_url=_secret(settings.alert_webhook_url),
        smtp_url=_secret(settings.alert_smtp_url),
        email_to=tuple(settings.alert_email_to),
        compare_builds=settings.sdk_source == "file",
    )


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter is not None else None


def monitor(settings: Settings, args: argparse.Namespace) -> int:
    """Run once, or continuously; or list the history."""
    if args.interval is not None and not args.continuous:
        error("--interval goes with --continuous")
        return ExitCode.USAGE
    if args.continuous and (args.interval is None or args.interval <= 0):
        error("--continuous needs --interval S (seconds, more than 0)")
        return ExitCode.USAGE
    if args.service is not None and not args.service.startswith(("http://", "https://")):
        error("--service must be an http:// or https:// URL")
        return ExitCode.USAGE
    config = config_of(settings, args.service)
    if args.action == "history":
        return _history(config, args)
    from monitoring.run import run_once  # noqa: PLC0415 - keeps `--help` fast (aiohttp)

    while True:
        report = asyncio.run(run_once(config, simulate=args.simulate))
        _print(report, config, as_json=args.json)
        if not args.continuous:
            return report.verdict
        try:
            time.sleep(args.interval)
        except KeyboardInterrupt:
            return report.verdict


def _history(config: MonitorConfig, args: argparse.Namespace) -> int:
    from monitoring.history import History  # noqa: PLC0415

    runs = History(config.history_path).recent(args.limit)
    if args.json:
        out(
            json.dumps(
                [
                    {
                        "started_at": r.started_at,
                        "verdict": r.verdict,
                        "summary": r.summary,
                        "findings": r.findings,
                        "latencies": r.latencies,
                    }
                    for r in runs
                ]
            )
        )
        return ExitCode.OK
    if not runs:
        out(f"No monitor runs recorded in {config.history_path}.")
    for run in runs:
        when = datetime.fromtimestamp(run.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        kinds = ", ".join(sorted({f["kind"] for f in run.findings})) or "-"
        out(f"{when}Z  exit {run.verdict}  {run.summary}  [{kinds}]")
    return ExitCode.OK


def _print(report: Report, config: MonitorConfig, *, as_json: bool) -> None:
    text = json.dumps(report.as_dict()) if as_json else "\n".join(_human(report))
    for secret in config.secrets():
        text = text.replace(secret, "***")
    out(text)
    sys.stdout.flush()


def _human(report: Report) -> list[str]:
    verdict = {0: "HEALTHY", 1: "DEGRADED", 3: "COULD NOT RUN"}[report.verdict]
    lines = [f"monitor: {verdict} — {report.service} ({report.duration_s:.2f} s)"]
    if report.error:
        lines.append(f"  the service did not answer: {report.error}")
    for name, p in report.providers.items():
        latency = f"{p.latency_s * 1000:.1f} ms" if p.latency_s is not None else "-"
        build = p.build or "?"
        state = "ok" if p.ok else "FAIL"
        lines.append(f"  {name:<10} {state:<5} {p.state:<9} build {build:<10} {latency}")
    for o in report.observations:
        where = f" [{o.provider}]" if o.provider else ""
        lines.append(f"  {o.finding.severity.name:<8} {o.finding.kind}{where}: {o.finding.detail}")
        lines.append(f"           action: {o.finding.action}")
    lines += [f"  emergency: {line}" for line in report.emergency]
    lines += [f"  alert: {line}" for line in report.alerts]
    return lines
