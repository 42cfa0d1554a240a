"""``tiktok-signer``: the command line.

``serve`` runs the service; ``sdk fetch`` and ``sdk list`` manage TikTok's pinned SDK files
(the browser provider's ``SIGNER_SDK_SOURCE=file``); ``keys add NAME`` makes a client key.
Every command exits with an :class:`ExitCode`.
"""

from __future__ import annotations

import argparse
import enum
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from signer.errors import ConfigError
from signer.settings import load_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from signer.settings import Settings

    Command = Callable[[Settings, argparse.Namespace], int]


class ExitCode(enum.IntEnum):
    """The exit codes of every command."""

    OK = 0
    #: The monitor found a degraded or changed service; an SDK file is missing or altered.
    DEGRADED = 1
    #: Usage or settings error (a missing Chromium binary is a setting).
    USAGE = 2
    #: Could not run: Chromium will not launch, an SDK fetch failed, the port is taken.
    COULD_NOT_RUN = 3


def _parser() -> argparse.ArgumentParser:
    from signer.cli import (  # noqa: PLC0415 - the commands import this module
        baseline,
        keys,
        monitor,
        sdk,
        serve,
    )

    parser = argparse.ArgumentParser(prog="tiktok-signer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (serve, sdk, keys, monitor, baseline):
        command.add_parser(commands)
    return parser


def config_option(parser: argparse.ArgumentParser) -> None:
    """The ``--config FILE`` option every command takes."""
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
        error(str(exc))
        return ExitCode.USAGE
    command: Command = args.run
    return int(command(settings, args))


def out(text: str) -> None:
    """One line of the command's output."""
    sys.stdout.write(f"{text}\n")


def error(text: str) -> None:
    """One line on stderr, prefixed with the program's name."""
    sys.stderr.write(f"tiktok-signer: {text}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
