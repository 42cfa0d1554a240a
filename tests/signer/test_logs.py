"""Log set-up: batched JSON lines, timestamps, and the request id processor."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime

from signer.logs import REQUEST_ID, BatchingLineLogger, IsoTimestamper, add_request_id


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
