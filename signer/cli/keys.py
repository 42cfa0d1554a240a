"""``tiktok-signer keys add NAME``: make a client key of the sign routes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from signer.cli import ExitCode, config_option, error, out
from signer.errors import ConfigError

if TYPE_CHECKING:
    import argparse

    from signer.settings import Settings


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``keys add NAME [--file PATH]``."""
    keys_parser = commands.add_parser("keys", help="client API keys of the sign routes")
    keys_commands = keys_parser.add_subparsers(dest="keys_command", required=True)
    add = keys_commands.add_parser(
        "add",
        help="print a new client key once and append its hash to the keys file",
    )
    config_option(add)
    add.add_argument("name", help="the client's name (shown in logs instead of the key)")
    add.add_argument("--file", type=Path, help="the keys file (default: SIGNER_API_KEYS_FILE)")
    add.set_defaults(run=add_key)


def add_key(settings: Settings, args: argparse.Namespace) -> int:
    """Print a new key on stdout (alone, for scripts) and append ``NAME:sha256`` to the file."""
    from signer.access import keys  # noqa: PLC0415 - keeps `--help` fast (aiohttp)

    path: Path | None = args.file or settings.api_keys_file
    name: str = args.name
    if path is None:
        error("keys add needs the keys file: set SIGNER_API_KEYS_FILE or pass --file PATH")
        return ExitCode.USAGE
    if not keys.valid_name(name):
        error(f"client name {name!r}: use {keys.NAME_RULE}")
        return ExitCode.USAGE
    try:
        store = keys.KeyStore.load(path if path.exists() else None, settings.api_keys)
    except ConfigError as exc:
        error(exc.message)
        return ExitCode.USAGE
    if name in store:
        error(f"a client named {name!r} already exists; pick another name")
        return ExitCode.USAGE
    key = keys.generate_key()
    try:
        keys.append_key(path, name, key)
    except OSError as exc:
        error(f"cannot write the keys file {path}: {exc.strerror}")
        return ExitCode.USAGE
    out(key)
    sys.stderr.write(
        f"Added client {name!r} to {path}; the key above is shown only once.\n"
        "The service reads the keys file at start: restart it to let this client in.\n"
    )
    return ExitCode.OK
