"""``tiktok-signer sdk fetch|list``: TikTok's pinned SDK files in the SDK cache."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from providers import sdk
from providers.errors import SdkFetchFailed
from signer.cli import ExitCode, config_option, error, out

if TYPE_CHECKING:
    import argparse

    from signer.settings import Settings


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sdk fetch [--quiet]`` and ``sdk list [--json]``."""
    sdk_parser = commands.add_parser("sdk", help="TikTok's pinned SDK files")
    sdk_commands = sdk_parser.add_subparsers(dest="sdk_command", required=True)
    fetch = sdk_commands.add_parser(
        "fetch",
        help=f"fetch the pinned SDK files from {_names(sdk.sources())} and verify them",
    )
    config_option(fetch)
    fetch.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing when they are already there"
    )
    fetch.set_defaults(run=fetch_files)
    listing = sdk_commands.add_parser(
        "list", help="show each pinned SDK build, its source and its state"
    )
    config_option(listing)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=list_files)


def fetch_files(settings: Settings, args: argparse.Namespace) -> int:
    """Fetch what is missing; exit 3 when a source fails, 1 when a file does not verify."""
    cache = settings.sdk_dir
    files = sdk.list_files(cache)
    if all(file.ok for file in files):
        if not args.quiet:
            out(f"TikTok's SDK files are already in {cache}, verified:")
            out(_table(files))
        return ExitCode.OK
    needed = sdk.stale_sources(files)
    try:
        files = sdk.fetch(cache)
    except SdkFetchFailed as exc:
        error(f"sdk fetch failed: {exc.message}")
        return ExitCode.COULD_NOT_RUN
    out(f"Fetched TikTok's SDK files from {_names(needed)} into {cache}:")
    out(_table(files))
    return _verdict(files)


def list_files(settings: Settings, args: argparse.Namespace) -> int:
    """Show every pinned build and its source; exit 1 when a file is missing or altered."""
    cache = settings.sdk_dir
    files = sdk.list_files(cache)
    if args.json:
        listing = {
            "directory": str(cache),
            "ok": all(file.ok for file in files),
            "sources": [
                {
                    "source": str(source),
                    "kind": source.kind,
                    "package": source.package,
                    "archive": source.archive,
                    "sha256": source.sha256,
                }
                for source in sdk.sources()
            ],
            "files": [
                {
                    "version": file.version,
                    "source": str(file.source),
                    "status": file.status,
                    "path": str(file.path),
                    "size": file.size,
                    "sha256": file.sha256,
                    "problem": file.problem,
                }
                for file in files
            ],
        }
        out(json.dumps(listing, indent=2))
    else:
        out(_table(files))
    return _verdict(files)


def _names(sources: list[sdk.Source]) -> str:
    return ", ".join(str(source) for source in sources)


def _verdict(files: list[sdk.SdkFile]) -> int:
    """Exit 0 when every pinned file verifies; otherwise name each problem on stderr."""
    bad = [file for file in files if not file.ok]
    for file in bad:
        error(f"{file.path}: {file.problem}")
    if bad:
        error(f"{sdk.FETCH_HINT} to fetch and verify TikTok's SDK files")
        return ExitCode.DEGRADED
    return ExitCode.OK


def _table(files: list[sdk.SdkFile]) -> str:
    rows = [("version", "status", "source", "bytes", "sha256", "path")]
    rows += [
        (
            file.version,
            file.status,
            str(file.source),
            "-" if file.size is None else str(file.size),
            (file.sha256 or "-")[:12],
            str(file.path),
        )
        for file in files
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )
