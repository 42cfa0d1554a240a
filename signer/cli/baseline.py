"""``tiktok-signer baseline create|analyze``: snapshot an SDK build, and diff with a snapshot.

``create [--sdk FILE] [-o FILE]`` writes the snapshot (:mod:`monitoring.baseline`) of the
SDK file (default: the configured ``SIGNER_SDK_VERSION`` from the SDK cache) to FILE
(default: ``<data dir>/baseline.json``). ``analyze [--against FILE] [--sdk FILE] [--json]``
snapshots the SDK file again and prints what changed since the baseline: a finding each,
with its severity and action. Exit codes: 0 nothing above INFO, 1 anything MEDIUM or
worse, 2 usage (no baseline, no SDK file, no Chromium binary), 3 Chromium will not launch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from monitoring import baseline
from monitoring.findings import Severity, worst
from providers import sdk
from providers.errors import ProviderConfigError, ProviderStartFailed, SdkMissing
from signer.cli import ExitCode, config_option, error, out
from signer.wiring import persona_from

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from monitoring.findings import Finding
    from signer.settings import Settings

BASELINE_FILE = "baseline.json"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``baseline create [--sdk FILE] [-o FILE]`` and ``baseline analyze``."""
    parser = commands.add_parser("baseline", help="snapshot an SDK build and diff with it")
    actions = parser.add_subparsers(dest="baseline_command", required=True)
    create = actions.add_parser("create", help="write a JSON snapshot of an SDK build")
    config_option(create)
    create.add_argument(
        "--sdk", type=Path, help="the SDK file (default: SIGNER_SDK_VERSION from the SDK cache)"
    )
    create.add_argument(
        "-o", "--output", type=Path, help=f"where to write it (default: <data dir>/{BASELINE_FILE})"
    )
    create.set_defaults(run=create_baseline)
    analyze = actions.add_parser(
        "analyze", help="snapshot the SDK build again and print what changed since a baseline"
    )
    config_option(analyze)
    analyze.add_argument(
        "--against", type=Path, help=f"the baseline (default: <data dir>/{BASELINE_FILE})"
    )
    analyze.add_argument(
        "--sdk", type=Path, help="the SDK file (default: SIGNER_SDK_VERSION from the SDK cache)"
    )
    analyze.add_argument("--json", action="store_true", help="print JSON instead of a table")
    analyze.set_defaults(run=analyze_baseline)


def _sdk_file(settings: Settings, args: argparse.Namespace) -> Path:
    """The SDK file named by ``--sdk``, else the configured build from the cache."""
    if args.sdk is not None:
        path: Path = args.sdk
        if not path.is_file():
            raise baseline.BaselineError(f"no SDK file at {path}", usage=True)
        return path
    return sdk.sdk_path(settings.sdk_dir, settings.sdk_version)


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Warnings and worse on stderr while the SDK runs: stdout is the command's output."""
    saved = structlog.get_config()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**saved)


def _snapshot(settings: Settings, args: argparse.Namespace) -> dict[str, Any] | int:
    """The current snapshot, or the exit code of why there is none (reported on stderr)."""
    try:
        with _quiet_logs():
            return baseline.snapshot(
                _sdk_file(settings, args), settings.chromium_path, persona=persona_from(settings)
            )
    except baseline.BaselineError as exc:
        error(exc.message)
        return ExitCode.USAGE if exc.usage else ExitCode.COULD_NOT_RUN
    except (SdkMissing, ProviderConfigError) as exc:
        error(exc.message)
        return ExitCode.USAGE
    except ProviderStartFailed as exc:
        error(f"could not run the SDK: {exc.message}")
        return ExitCode.COULD_NOT_RUN


def create_baseline(settings: Settings, args: argparse.Namespace) -> int:
    """Write the snapshot; exit 2 on a usage error, 3 when Chromium will not run."""
    target: Path = args.output or settings.data_dir / BASELINE_FILE
    current = _snapshot(settings, args)
    if isinstance(current, int):
        return current
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(baseline.dumps(current), encoding="utf-8")
    except OSError as exc:
        error(f"cannot write {target}: {exc}")
        return ExitCode.USAGE
    signature = current["signature"]
    out(
        f"baseline of SDK build {current['build']} written to {target} "
        f"(appends {','.join(signature['appended'])}; X-Bogus {signature['x_bogus']['form']}; "
        f"socket signer {'yes' if current['socket_signer']['exists'] else 'no'})"
    )
    return ExitCode.OK


def analyze_baseline(settings: Settings, args: argparse.Namespace) -> int:
    """Print the findings; exit 0 when nothing is above INFO, else 1 (2 usage, 3 no Chromium)."""
    against: Path = args.against or settings.data_dir / BASELINE_FILE
    try:
        previous = baseline.load(against)
    except baseline.BaselineError as exc:
        error(exc.message)
        return ExitCode.USAGE
    current = _snapshot(settings, args)
    if isinstance(current, int):
        return current
    findings = baseline.analyze(previous, current)
    if args.json:
        out(json.dumps({"findings": [finding.as_dict() for finding in findings]}, indent=2))
    else:
        out(
            f"SDK build {current['build']} against the baseline of build {previous['build']} "
            f"({against}, {previous.get('created_at', '?')}):"
        )
        out(render(findings))
    return ExitCode.DEGRADED if worst(findings) >= Severity.MEDIUM else ExitCode.OK


def render(findings: list[Finding]) -> str:
    """The human table: severity, kind and detail, the action indented under each."""
    width = max(len(finding.kind) for finding in findings)
    columns = 100
    lines = []
    for finding in findings:
        lines.append(f"{finding.severity.name:<8}  {finding.kind:<{width}}  {finding.detail}")
        lines.extend(
            textwrap.wrap(
                f"action: {finding.action}",
                width=columns,
                initial_indent=" " * 10,
                subsequent_indent=" " * 18,
            )
        )
    return "\n".join(lines)
