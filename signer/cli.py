"""``tiktok-signer``: the command line.

Exit codes: 0 success, 2 usage or configuration error, 3 the service could not start.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from signer.errors import ConfigError
from signer.logs import configure_logging
from signer.settings import env_values, load_settings

if TYPE_CHECKING:
    from collections.abc import Sequence

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_START_FAILED = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tiktok-signer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the signing service")
    serve.add_argument(
        "--config", type=Path, help="TOML settings file (default: config/default.toml)"
    )
    serve.add_argument("--host", help="listen address (overrides SIGNER_HOST)")
    serve.add_argument("--port", type=int, help="listen port (overrides SIGNER_PORT)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(os.environ, args.config, host=args.host, port=args.port)
    except ConfigError as exc:
        print(f"tiktok-signer: {exc}", file=sys.stderr)  # noqa: T201 - logging is not set up yet
        return EXIT_USAGE
    configure_logging(settings.log_level, settings.log_format)
    log = structlog.get_logger("signer.cli")
    _, unknown = env_values(os.environ)
    if unknown:
        log.warning("unknown_environment_settings", names=unknown)
    from providers.registry import check_names  # noqa: PLC0415 - keeps `--help` fast
    from signer.server import serve  # noqa: PLC0415

    try:
        check_names(settings.providers)
        return serve(settings)
    except ConfigError as exc:
        log.error("start_failed", error=exc.message)  # noqa: TRY400 - the message says it all
        return EXIT_USAGE
    except OSError as exc:
        log.error("start_failed", error=str(exc))  # noqa: TRY400 - e.g. port in use
        return EXIT_START_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
