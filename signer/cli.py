"""``tiktok-signer``: the command line.

``serve`` runs the service; ``sdk fetch`` and ``sdk list`` manage TikTok's pinned SDK files
(the browser provider's ``SIGNER_SDK_SOURCE=file``); ``keys add NAME`` makes a client key.

Exit codes: 0 success, 1 the SDK files are missing, do not match their pins or could not be
fetched, 2 usage or configuration error, 3 the service could not start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from providers import sdk
from signer.errors import ConfigError, SdkFetchFailed
from signer.logs import configure_logging
from signer.settings import env_values, load_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from signer.settings import Settings

    Command = Callable[[Settings, argparse.Namespace], int]

EXIT_OK = 0
EXIT_SDK_NOT_READY = 1
EXIT_USAGE = 2
EXIT_START_FAILED = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tiktok-signer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the signing service")
    _config_option(serve)
    serve.add_argument("--host", help="listen address (overrides SIGNER_HOST)")
    serve.add_argument("--port", type=int, help="listen port (overrides SIGNER_PORT)")
    serve.set_defaults(run=_serve)

    sdk_parser = commands.add_parser("sdk", help="TikTok's pinned SDK files")
    sdk_commands = sdk_parser.add_subparsers(dest="sdk_command", required=True)
    fetch = sdk_commands.add_parser(
        "fetch", help=f"fetch the pinned SDK files from {sdk.PACKAGE} (npm) and verify them"
    )
    _config_option(fetch)
    fetch.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing when they are already there"
    )
    fetch.set_defaults(run=_sdk_fetch)
    listing = sdk_commands.add_parser("list", help="show each pinned SDK file and its state")
    _config_option(listing)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=_sdk_list)

    keys_parser = commands.add_parser("keys", help="client API keys of the sign routes")
    keys_commands = keys_parser.add_subparsers(dest="keys_command", required=True)
    add = keys_commands.add_parser(
        "add",
        help="print a new client key once and append its hash to the keys file",
    )
    _config_option(add)
    add.add_argument("name", help="the client's name (shown in logs instead of the key)")
    add.add_argument("--file", type=Path, help="the keys file (default: SIGNER_API_KEYS_FILE)")
    add.set_defaults(run=_keys_add)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="TOML settings file (default: config/default.toml)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    overrides = {"host": args.host, "port": args.port} if args.command == "serve" else {}
    try:
        settings = load_settings(os.environ, args.config, **overrides)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    command: Command = args.run
    return command(settings, args)


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    configure_logging(settings.log_level, settings.log_format)
    log = structlog.get_logger("signer.cli")
    _, unknown = env_values(os.environ)
    if unknown:
        log.warning("unknown_environment_settings", names=unknown)
    from providers.registry import check_names  # noqa: PLC0415 - keeps `--help` fast
    from signer.access import check_access  # noqa: PLC0415
    from signer.server import serve  # noqa: PLC0415

    try:
        check_names(settings)
        check_access(settings)
        return serve(settings)
    except ConfigError as exc:
        log.error("start_failed", error=exc.message)  # noqa: TRY400 - the message says it all
        return EXIT_USAGE
    except OSError as exc:
        log.error("start_failed", error=str(exc))  # noqa: TRY400 - e.g. port in use
        return EXIT_START_FAILED


def _sdk_fetch(settings: Settings, args: argparse.Namespace) -> int:
    cache = settings.sdk_dir
    files = sdk.list_files(cache)
    if all(file.ok for file in files):
        if not args.quiet:
            _print(f"TikTok's SDK files are already in {cache}, verified:")
            _print(_table(files))
        return EXIT_OK
    try:
        files = sdk.fetch(cache)
    except SdkFetchFailed as exc:
        _error(f"sdk fetch failed: {exc.message}")
        return EXIT_SDK_NOT_READY
    _print(f"Fetched TikTok's SDK files from {sdk.PACKAGE} into {cache}:")
    _print(_table(files))
    return _verdict(files)


def _sdk_list(settings: Settings, args: argparse.Namespace) -> int:
    cache = settings.sdk_dir
    files = sdk.list_files(cache)
    if args.json:
        listing = {
            "package": sdk.PACKAGE,
            "directory": str(cache),
            "ok": all(file.ok for file in files),
            "files": [
                {
                    "version": file.version,
                    "status": file.status,
                    "path": str(file.path),
                    "size": file.size,
                    "sha256": file.sha256,
                    "problem": file.problem,
                }
                for file in files
            ],
        }
        _print(json.dumps(listing, indent=2))
    else:
        _print(_table(files))
    return _verdict(files)


def _keys_add(settings: Settings, args: argparse.Namespace) -> int:
    """Print a new key on stdout (alone, for scripts) and append ``NAME:sha256`` to the file."""
    from signer import access  # noqa: PLC0415 - keeps `--help` fast (aiohttp)

    path: Path | None = args.file or settings.api_keys_file
    name: str = args.name
    if path is None:
        _error("keys add needs the keys file: set SIGNER_API_KEYS_FILE or pass --file PATH")
        return EXIT_USAGE
    if not access.valid_name(name):
        _error(f"client name {name!r}: use {access.NAME_RULE}")
        return EXIT_USAGE
    try:
        keys = access.KeyStore.load(path if path.exists() else None, settings.api_keys)
    except ConfigError as exc:
        _error(exc.message)
        return EXIT_USAGE
    if name in keys:
        _error(f"a client named {name!r} already exists; pick another name")
        return EXIT_USAGE
    key = access.generate_key()
    try:
        access.append_key(path, name, key)
    except OSError as exc:
        _error(f"cannot write the keys file {path}: {exc.strerror}")
        return EXIT_USAGE
    _print(key)
    sys.stderr.write(
        f"Added client {name!r} to {path}; the key above is shown only once.\n"
        "The service reads the keys file at start: restart it to let this client in.\n"
    )
    return EXIT_OK


def _verdict(files: list[sdk.SdkFile]) -> int:
    """Exit 0 when every pinned file verifies; otherwise name each problem on stderr."""
    bad = [file for file in files if not file.ok]
    for file in bad:
        _error(f"{file.path}: {file.problem}")
    if bad:
        _error(f"{sdk.FETCH_HINT} to fetch and verify TikTok's SDK files")
        return EXIT_SDK_NOT_READY
    return EXIT_OK


def _table(files: list[sdk.SdkFile]) -> str:
    rows = [("version", "status", "bytes", "sha256", "path")]
    rows += [
        (
            file.version,
            file.status,
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


def _print(text: str) -> None:
    sys.stdout.write(f"{text}\n")


def _error(text: str) -> None:
    sys.stderr.write(f"tiktok-signer: {text}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
