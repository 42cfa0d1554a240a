"""A worker's relay: an operator change the supervisor never confirms is a clear 503."""

from __future__ import annotations

import multiprocessing

import pytest

from signer.errors import StateUnavailable
from signer.state import operator, relay
from signer.state.operator import SetMaintenance


async def test_an_unconfirmed_change_is_state_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """No answer from the supervisor within the timeout: 503 state_unavailable, nothing hangs."""
    monkeypatch.setattr(relay, "ANSWER_TIMEOUT_S", 0.05)
    ours, theirs = multiprocessing.Pipe()
    worker = relay.Relay(theirs, operator.initial(["native"]))
    worker.start()
    try:
        with pytest.raises(StateUnavailable) as refused:
            await worker.change(SetMaintenance(enabled=True))
        assert refused.value.status == 503
        assert ours.recv()[0] == "change"  # it was sent; the supervisor just never answered
    finally:
        worker.close()
        ours.close()
