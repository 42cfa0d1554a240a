"""``tiktok-signer serve``: run the service until a signal."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import structlog

from signer.cli import ExitCode, config_option
from signer.logs import configure_logging
from signer.settings import env_values

if TYPE_CHECKING:
    import argparse

    from signer.settings import Settings


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``serve [--config FILE] [--host H] [--port P]``."""
    serve = commands.add_parser("serve", help="run the signing service")
    config_option(serve)
    serve.add_argument("--host", help="listen address (overrides SIGNER_HOST)")
    serve.add_argument("--port", type=int, help="listen port (overrides SIGNER_PORT)")
    serve.set_defaults(run=run)


def run(settings: Settings, _args: argparse.Namespace) -> int:
    """Serve; a settings error exits 2, a service that cannot start exits 3."""
    configure_logging(settings.log_level, settings.log_format)
    log = structlog.get_logger("signer.cli")
    _, unknown = env_values(os.environ)
    if unknown:
        log.warning("unknown_environment_settings", names=unknown)
    # Imported here: `--help` and the other commands stay fast (aiohttp, Playwright).
    from providers.errors import ProviderConfigError, ProviderStartFailed  # noqa: PLC0415
    from providers.registry import check_names  # noqa: PLC0415
    from signer.access.guard import check_access  # noqa: PLC0415
    from signer.errors import ConfigError  # noqa: PLC0415
    from signer.server import serve  # noqa: PLC0415

    try:
        check_names(settings.providers, settings.remotes)
        check_access(settings)
        return serve(settings)
    except (ConfigError, ProviderConfigError) as exc:
        log.error("start_failed", error=exc.message)  # noqa: TRY400 - the message says it all
        return ExitCode.USAGE
    except ProviderStartFailed as exc:
        log.error("start_failed", error=exc.message)  # noqa: TRY400
        return ExitCode.COULD_NOT_RUN
    except OSError as exc:
        log.error("start_failed", error=str(exc))  # noqa: TRY400 - e.g. port in use
        return ExitCode.COULD_NOT_RUN
