"""Operator state across worker processes, relayed by the supervisor (memory backend).

A worker sends each operator change to the supervisor (:class:`RelayHub`), which applies it
to the one authoritative :class:`~signer.state.operator.OperatorState`, sends the new state
to every worker and waits for each to acknowledge it; only then does it answer the worker
that asked, so an ``/admin`` call returns once the change holds on every worker.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import TYPE_CHECKING, Any

import structlog

from signer.errors import BadRequest, StateUnavailable
from signer.state import operator

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection

    from signer.state.operator import OperatorChange, OperatorState

log = structlog.get_logger("signer.state")

#: How long the hub waits for every worker to take a new state, and a worker for the hub.
ACK_TIMEOUT_S = 2.0
ANSWER_TIMEOUT_S = 5.0


class Relay:
    """A worker's end: sends changes to the supervisor and takes the states it sends back."""

    def __init__(self, connection: Connection, initial: OperatorState) -> None:
        self._connection = connection
        #: The supervisor's state when the worker was started.
        self.initial = initial
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[OperatorState]] = {}
        self._on_state: Callable[[OperatorState], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def on_state(self, callback: Callable[[OperatorState], None]) -> None:
        """Where new states go (the worker's memory state)."""
        self._on_state = callback

    def start(self) -> None:
        """Listen to the supervisor on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._connection.fileno(), self._readable)

    def close(self) -> None:
        """Stop listening; pending changes fail."""
        if self._loop is not None:
            self._loop.remove_reader(self._connection.fileno())
            self._loop = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BadRequest("the service is stopping"))
        self._pending.clear()

    async def change(self, change: OperatorChange) -> OperatorState:
        """Send a change; return the new state once every worker holds it."""
        if self._loop is None:
            raise RuntimeError("the relay is not started")
        request_id = next(self._ids)
        future: asyncio.Future[OperatorState] = self._loop.create_future()
        self._pending[request_id] = future
        self._connection.send(("change", request_id, change))
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                return await future
        except TimeoutError:
            raise StateUnavailable(
                f"the supervisor did not confirm the change within {ANSWER_TIMEOUT_S:g} s; "
                "see /admin/state for what holds"
            ) from None
        finally:
            self._pending.pop(request_id, None)

    def _readable(self) -> None:
        try:
            while self._connection.poll():
                self._handle(self._connection.recv())
        except (EOFError, OSError):  # the supervisor is gone: the worker is being stopped
            if self._loop is not None:
                self._loop.remove_reader(self._connection.fileno())
                self._loop = None

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "state":
            state: OperatorState = message[1]
            if self._on_state is not None:
                self._on_state(state)
            self._connection.send(("ack", state.version))
        elif kind == "done":
            _, request_id, state, error = message
            future = self._pending.get(request_id)
            if future is None or future.done():
                return
            if error is not None:
                future.set_exception(BadRequest(error))
            else:
                future.set_result(state)


class RelayHub:
    """The supervisor's end: one authoritative state, spread to every worker's connection."""

    def __init__(self, initial: OperatorState, clock: Callable[[], float] = time.monotonic) -> None:
        self.state = initial
        self._clock = clock
        self._backlog: list[tuple[Connection, tuple[Any, ...]]] = []

    def serve(self, source: Connection, workers: list[Connection]) -> None:
        """Handle what ``source`` sent (and anything that arrived meanwhile)."""
        self._backlog.extend((source, message) for message in _drain(source))
        while self._backlog:
            origin, message = self._backlog.pop(0)
            if message[0] == "change":
                self._change(origin, message[1], message[2], workers)

    def _change(
        self, origin: Connection, request_id: int, change: OperatorChange, workers: list[Connection]
    ) -> None:
        try:
            new = operator.apply(self.state, change)
        except BadRequest as exc:
            _send(origin, ("done", request_id, None, exc.message))
            return
        self.state = new
        waiting = [worker for worker in workers if _send(worker, ("state", new))]
        deadline = self._clock() + ACK_TIMEOUT_S
        while waiting and self._clock() < deadline:
            for worker in list(waiting):
                for message in _drain(worker, timeout=0.01):
                    if message == ("ack", new.version):
                        waiting.remove(worker)
                    elif message[0] == "change":
                        self._backlog.append((worker, message))
        if waiting:
            log.warning("relay_ack_missing", workers=len(waiting), version=new.version)
        _send(origin, ("done", request_id, new, None))


def _drain(connection: Connection, timeout: float = 0.0) -> list[tuple[Any, ...]]:
    """Every message waiting on ``connection`` (none from a closed one)."""
    messages = []
    try:
        while connection.poll(timeout):
            messages.append(connection.recv())
            timeout = 0.0
    except (EOFError, OSError):
        pass
    return messages


def _send(connection: Connection, message: tuple[Any, ...]) -> bool:
    try:
        connection.send(message)
    except (BrokenPipeError, OSError):
        return False
    return True
