"""structlog set-up: JSON lines to stdout, or a console renderer on a terminal.

The request id lives in one :class:`contextvars.ContextVar` that the edge middleware sets
and a processor adds to every event: much cheaper per request than re-binding structlog's
context. JSON lines are written in batches: a line waits at most ``FLUSH_INTERVAL_S`` (or
until a warning or error comes), so a busy service makes one write per batch, not per line.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import threading
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson
import structlog

if TYPE_CHECKING:
    from structlog.typing import EventDict, Processor, WrappedLogger

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
FLUSH_INTERVAL_S = 0.2
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class IsoTimestamper:
    """Processor: ``timestamp`` in ISO 8601 UTC with microseconds.

    structlog's TimeStamper formats a datetime per event; this formats the date and time
    once per second and appends the fraction, which is what a busy access log needs.
    """

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, _logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
        """Add the current time."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        event["timestamp"] = f"{self._prefix}.{int((now - second) * 1_000_000):06d}Z"
        return event


def add_request_id(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    """Processor: the current request's id, when there is one."""
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


class BatchingLineLogger:
    """A structlog logger writing rendered byte lines in batches.

    Info and debug lines are flushed by a timer on the running event loop (or at once
    when no loop runs); warnings and errors, and process exit, flush everything at once.
    """

    def __init__(self, stream: BinaryIO, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self._stream = stream
        self._interval_s = interval_s
        self._pending: list[bytes] = []
        self._timer_set = False
        self._lock = threading.Lock()
        atexit.register(self.flush)

    def flush(self) -> None:
        """Write out every pending line."""
        with self._lock:
            self._timer_set = False
            if not self._pending:
                return
            lines, self._pending = self._pending, []
        self._stream.write(b"".join(lines))
        self._stream.flush()

    def msg(self, message: bytes) -> None:
        """Queue one line; make sure a flush is scheduled."""
        self._pending.append(message + b"\n")
        if self._timer_set:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._timer_set = True
        loop.call_later(self._interval_s, self.flush)

    def msg_now(self, message: bytes) -> None:
        """Queue one line and flush at once (warnings and errors)."""
        self._pending.append(message + b"\n")
        self.flush()

    debug = info = msg
    warning = warn = error = err = critical = exception = fatal = msg_now


class BatchingLineLoggerFactory:
    """One shared :class:`BatchingLineLogger` for every structlog logger."""

    def __init__(self, stream: BinaryIO) -> None:
        self._logger = BatchingLineLogger(stream)

    def __call__(self, *_args: Any) -> BatchingLineLogger:
        """Return the shared logger."""
        return self._logger


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog once, at the edge (the CLI); tests keep structlog's defaults."""
    console = fmt == "console" or (fmt == "auto" and sys.stdout.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.processors.add_log_level,
        IsoTimestamper(),
    ]
    wrapper = structlog.make_filtering_bound_logger(_LEVELS[level])
    if console:
        structlog.configure(
            processors=[*shared, structlog.dev.ConsoleRenderer()],
            wrapper_class=wrapper,
            logger_factory=structlog.PrintLoggerFactory(sys.stdout),
            cache_logger_on_first_use=True,
        )
        return
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=wrapper,
        logger_factory=BatchingLineLoggerFactory(sys.stdout.buffer),
        cache_logger_on_first_use=True,
    )
