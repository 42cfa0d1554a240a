"""Run the service: one process, or a supervisor and ``SIGNER_WORKERS`` worker processes.

Each worker is a whole app (its own providers) listening on the same address with
``SO_REUSEPORT``, so the kernel spreads connections over them; signing in Python is
CPU-bound and one process uses one core. The supervisor restarts a worker that dies,
gives up when workers keep dying at start-up, and on SIGTERM/SIGINT lets every worker
shut down gracefully within ``shutdown_timeout_s``. It also relays operator state
(``signer.state.relay``): a change made through one worker holds on all of them before
the ``/admin`` call that made it answers.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import signal
import sys
import time
from multiprocessing.connection import wait
from typing import TYPE_CHECKING

import structlog

from providers.errors import ProviderConfigError, ProviderStartFailed
from signer.app import make_app
from signer.app_keys import DRAIN
from signer.cli import ExitCode
from signer.errors import ConfigError
from signer.logs import configure_logging
from signer.metrics import Metrics
from signer.runner import serve_app
from signer.state.relay import Relay, RelayHub
from signer.wiring import operator_state

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess
    from pathlib import Path
    from types import FrameType

    from signer.settings import Settings
    from signer.state.operator import OperatorState

log = structlog.get_logger("signer.server")

#: A worker that dies sooner than this after its start counts as a failed start.
FAST_FAILURE_S = 5.0
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def run_worker(
    settings: Settings,
    *,
    metrics_dir: Path | None = None,
    reuse_port: bool = False,
    relay: Relay | None = None,
) -> None:
    """Serve one app until a signal; in-flight requests get ``shutdown_timeout_s``."""
    app = make_app(settings, metrics=Metrics(metrics_dir), relay=relay)
    asyncio.run(serve_app(app, settings, app[DRAIN], reuse_port=reuse_port))


def _worker_main(
    settings: Settings,
    index: int,
    metrics_dir: Path,
    connection: Connection,
    state: OperatorState,
) -> None:
    """Entry point of a worker process (spawned: it sets up its own logging)."""
    configure_logging(settings.log_level, settings.log_format)
    structlog.contextvars.bind_contextvars(worker=index)
    # The supervisor handles Ctrl-C for the whole group; a worker waits for its SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        run_worker(
            settings, metrics_dir=metrics_dir, reuse_port=True, relay=Relay(connection, state)
        )
    except (ConfigError, ProviderConfigError) as exc:
        log.error("start_failed", error=exc.message)  # noqa: TRY400 - the message says it all
        sys.exit(ExitCode.USAGE)
    except (OSError, ProviderStartFailed) as exc:
        log.error("start_failed", error=str(exc))  # noqa: TRY400 - e.g. the port is taken
        sys.exit(ExitCode.COULD_NOT_RUN)


class Supervisor:
    """Starts, watches and stops the worker processes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics_dir = settings.data_dir / "metrics"
        self._context = multiprocessing.get_context("spawn")
        self._workers: dict[int, tuple[BaseProcess, float]] = {}
        self._connections: dict[int, Connection] = {}
        self._hub = RelayHub(operator_state(settings))
        self._stopping = False
        self._fast_failures = 0

    def run(self) -> int:
        """Run until a signal (exit 0), or workers keep failing at start (exit 2 or 3)."""
        from prometheus_client import multiprocess  # noqa: PLC0415 - after the env is set

        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True)
        # prometheus-client reads this when a worker imports it (spawned children inherit it).
        os.environ[MULTIPROC_ENV] = str(self.metrics_dir)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        log.info("supervisor_started", workers=self.settings.workers, pid=os.getpid())
        for index in range(self.settings.workers):
            self._start(index)
        while not self._stopping:
            sentinels = [process.sentinel for process, _ in self._workers.values()]
            connections = list(self._connections.values())
            for ready in wait([*sentinels, *connections], timeout=0.5):
                if ready in connections and not self._stopping:
                    self._hub.serve(ready, list(self._connections.values()))
            for index, (process, started) in list(self._workers.items()):
                if process.is_alive() or self._stopping:
                    continue
                multiprocess.mark_process_dead(process.pid)  # type: ignore[no-untyped-call]
                self._connections.pop(index).close()
                lived = time.monotonic() - started
                log.warning("worker_exited", worker=index, code=process.exitcode, lived_s=lived)
                if lived < FAST_FAILURE_S and process.exitcode == ExitCode.USAGE:
                    self._stop_all()  # a settings error: every restart would fail alike
                    return ExitCode.USAGE
                self._fast_failures = self._fast_failures + 1 if lived < FAST_FAILURE_S else 0
                if self._fast_failures >= 2 * self.settings.workers:
                    log.error("workers_keep_failing", failures=self._fast_failures)
                    self._stop_all()
                    return ExitCode.COULD_NOT_RUN
                self._start(index)
        self._stop_all()
        return ExitCode.OK

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("supervisor_stopping", signal=signal.Signals(signum).name)
        self._stopping = True

    def _start(self, index: int) -> None:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main,
            args=(self.settings, index, self.metrics_dir, theirs, self._hub.state),
            name=f"tiktok-signer-worker-{index}",
        )
        process.start()
        theirs.close()
        self._workers[index] = (process, time.monotonic())
        self._connections[index] = ours

    def _stop_all(self) -> None:
        """SIGTERM every worker, wait out the shutdown deadline, then kill stragglers."""
        for process, _ in self._workers.values():
            if process.is_alive():
                process.terminate()
        settings = self.settings
        deadline = time.monotonic() + settings.drain_delay_s + settings.shutdown_timeout_s + 2.0
        for process, _ in self._workers.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("worker_killed", pid=process.pid)
                process.kill()
                process.join()
        log.info("supervisor_stopped")


def serve(settings: Settings) -> int:
    """Serve with the configured number of workers; return the exit code."""
    if settings.workers == 1:
        run_worker(settings)
        return ExitCode.OK
    return Supervisor(settings).run()
