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
    from collections.abc import Callable

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


#: Tracebacks as data, without the frames' local variables (they hold keys, URLs, tokens).
json_tracebacks = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False, use_rich=False)
)
#: Library log records of one kind (logger, error class) written at most this often.
LIBRARY_LOG_INTERVAL_S = 10.0


def renderers(*, console: bool) -> list[Processor]:
    """The processors after the shared ones: tracebacks without locals, then the renderer."""
    if console:
        return [structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)]
    return [json_tracebacks, structlog.processors.JSONRenderer(serializer=orjson.dumps)]


class LibraryLogBridge(logging.Handler):
    """Sends the standard library's log records (aiohttp, asyncio) through structlog.

    A record becomes one event, ``library_error`` or ``library_warning``, with the logger's
    name and the error's class, never the record's text or the error's message: aiohttp
    quotes a malformed request's bytes there (a client's key among them). Records of one
    kind are written at most once per ``interval_s``; the next one says how many were
    left out (``repeated``), so a flood of failing connections is a line every few seconds.
    """

    def __init__(
        self,
        interval_s: float = LIBRARY_LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(logging.WARNING)
        self._interval_s = interval_s
        self._clock = clock
        self._last: dict[tuple[str, str], tuple[float, int]] = {}
        self._log = structlog.get_logger("signer.library")

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record as one structlog event (or count it while throttled)."""
        error = record.exc_info[1] if record.exc_info else None
        kind = (record.name, type(error).__name__ if error is not None else "")
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last[0] < self._interval_s:
            self._last[kind] = (last[0], last[1] + 1)
            return
        self._last[kind] = (now, 0)
        if len(self._last) > 1000:  # one entry per (logger, error class): bounded anyway
            self._last.clear()
        fields: dict[str, object] = {"logger": record.name}
        if error is not None:
            fields["error"] = type(error).__name__
        if last is not None and last[1]:
            fields["repeated"] = last[1]
        if record.levelno >= logging.ERROR:
            self._log.error("library_error", **fields)
        else:
            self._log.warning("library_warning", **fields)


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
    root = logging.getLogger()
    root.handlers = [LibraryLogBridge()]
    root.setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, *renderers(console=console)],
        wrapper_class=wrapper,
        logger_factory=(
            structlog.PrintLoggerFactory(sys.stdout)
            if console
            else BatchingLineLoggerFactory(sys.stdout.buffer)
        ),
        cache_logger_on_first_use=True,
    )
