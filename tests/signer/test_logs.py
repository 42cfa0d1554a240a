"""Log set-up: batched JSON lines, timestamps, and the request id processor."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog

from signer.logs import (
    REQUEST_ID,
    BatchingLineLogger,
    IsoTimestamper,
    LibraryLogBridge,
    add_request_id,
    renderers,
)
from tests.fakes.clock import FakeClock


def test_lines_wait_for_the_timer_inside_a_loop() -> None:
    """Inside a running loop info lines are written together after the interval."""
    stream = io.BytesIO()
    logger = BatchingLineLogger(stream, interval_s=0.01)

    async def write_two() -> bytes:
        logger.msg(b"one")
        logger.msg(b"two")
        before = stream.getvalue()
        await asyncio.sleep(0.05)
        return before

    assert asyncio.run(write_two()) == b""
    assert stream.getvalue() == b"one\ntwo\n"


def test_without_a_loop_lines_are_written_at_once() -> None:
    """Outside an event loop (CLI code) every line goes out immediately."""
    stream = io.BytesIO()
    BatchingLineLogger(stream).msg(b"now")
    assert stream.getvalue() == b"now\n"


def test_errors_flush_everything_pending() -> None:
    """An error line goes out at once, with the lines queued before it."""
    stream = io.BytesIO()
    logger = BatchingLineLogger(stream, interval_s=60)

    async def log_then_fail() -> None:
        logger.info(b"queued")
        logger.error(b"failed")

    asyncio.run(log_then_fail())
    assert stream.getvalue() == b"queued\nfailed\n"


def test_iso_timestamp_is_utc_with_microseconds() -> None:
    """The timestamp parses as ISO 8601 UTC and is close to now."""
    event = IsoTimestamper()(None, "info", {})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", event["timestamp"])
    stamped = datetime.fromisoformat(event["timestamp"])
    assert abs((datetime.now(UTC) - stamped).total_seconds()) < 5


def test_request_id_is_added_only_inside_a_request() -> None:
    """The processor adds the current request id, and nothing outside a request."""
    assert add_request_id(None, "info", {}) == {}
    token = REQUEST_ID.set("abc")
    try:
        assert add_request_id(None, "info", {}) == {"request_id": "abc"}
    finally:
        REQUEST_ID.reset(token)


def _fail_with_a_secret_in_a_local() -> None:
    admin_key = "planted-admin-key-0123456789"  # noqa: F841 - the local the renderer must hide
    raise RuntimeError("boom")


def _render(console: bool) -> str:
    try:
        _fail_with_a_secret_in_a_local()
    except RuntimeError:
        event: Any = {"event": "unhandled_error", "exc_info": sys.exc_info()}
    for processor in renderers(console=console):
        event = processor(None, "error", event)
    return event.decode() if isinstance(event, bytes) else str(event)


@pytest.mark.parametrize("console", [False, True])
def test_tracebacks_carry_no_local_variables(console: bool) -> None:
    """A logged exception shows its frames but never the values of their locals."""
    rendered = _render(console)
    assert "_fail_with_a_secret_in_a_local" in rendered
    assert "RuntimeError" in rendered
    assert "planted-admin-key" not in rendered


def _record(name: str, message: str, error: BaseException | None) -> logging.LogRecord:
    exc_info = (type(error), error, None) if error is not None else None
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, (), exc_info)


def test_library_records_become_one_event_without_their_text() -> None:
    """The record aiohttp writes of a bad request becomes one event: logger and error class."""
    secret = "X-Api-Key: alice-key-\x01"
    bridge = LibraryLogBridge(clock=FakeClock(100.0))
    with structlog.testing.capture_logs() as logs:
        bridge.emit(
            _record("aiohttp.server", f"Error handling request {secret}", ValueError(secret))
        )
    assert logs == [
        {
            "event": "library_error",
            "log_level": "error",
            "logger": "aiohttp.server",
            "error": "ValueError",
        }
    ]


def test_library_records_of_one_kind_are_throttled() -> None:
    """A flood of one kind is one line per interval, then a line saying how many were left out."""
    clock = FakeClock(100.0)
    bridge = LibraryLogBridge(interval_s=10, clock=clock)
    with structlog.testing.capture_logs() as logs:
        for _ in range(500):
            bridge.emit(_record("asyncio", "socket.accept() out of system resource", OSError(24)))
        clock.advance(10)
        bridge.emit(_record("asyncio", "socket.accept() out of system resource", OSError(24)))
    assert [event.get("repeated") for event in logs] == [None, 499]
