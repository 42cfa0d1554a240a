"""Operator state: maintenance mode, the provider order and switches, the recent changes.

One immutable :class:`OperatorState` value; an operator's action is an :class:`OperatorChange`
that :func:`apply` turns into the next value, after checking the whole change (a change that
cannot apply raises :class:`~signer.errors.BadRequest` and changes nothing). Backends store
and spread the value; this module only computes it, so every backend applies a change alike.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from signer.errors import BadRequest, UnknownProvider

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

#: How many recent changes /admin/state keeps (and /health shows the last ten of).
RECENT_CHANGES = 50


@dataclass(frozen=True, slots=True)
class Maintenance:
    """Maintenance mode: while on, the sign routes answer 503 with Retry-After."""

    enabled: bool = False
    reason: str | None = None
    retry_after_s: int = 60
    since: float | None = None

    def view(self) -> dict[str, Any]:
        """As JSON data."""
        return {
            "enabled": self.enabled,
            "reason": self.reason,
            "retry_after_s": self.retry_after_s,
            "since": self.since,
        }


@dataclass(frozen=True, slots=True)
class OperatorState:
    """What operators decide at run time; ``version`` grows by one with every change."""

    order: tuple[str, ...]
    disabled: frozenset[str] = frozenset()
    maintenance: Maintenance = field(default_factory=Maintenance)
    changes: tuple[dict[str, Any], ...] = ()
    version: int = 0

    def enabled(self, name: str) -> bool:
        """Whether the provider is switched on."""
        return name not in self.disabled


@dataclass(frozen=True, slots=True)
class SetMaintenance:
    """Switch maintenance mode on or off."""

    enabled: bool
    reason: str | None = None
    retry_after_s: int = 60


@dataclass(frozen=True, slots=True)
class SetProviders:
    """A new fallback order (listed first, the rest keep their place) and the switched-off set."""

    order: tuple[str, ...]
    disabled: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Note:
    """An action taken elsewhere (a provider restart) that goes into the recent changes."""

    action: str
    detail: tuple[tuple[str, Any], ...] = ()


OperatorChange = SetMaintenance | SetProviders | Note


def check(state: OperatorState, change: OperatorChange) -> None:
    """Raise BadRequest (or UnknownProvider) when ``change`` cannot apply to ``state``."""
    if not isinstance(change, SetProviders):
        return
    known = set(state.order)
    for name in (*change.order, *change.disabled):
        if name not in known:
            raise UnknownProvider(
                f"provider {name!r} is not configured (configured: {', '.join(state.order)})"
            )
    if len(set(change.order)) != len(change.order):
        raise BadRequest("a provider is listed twice in 'order'")
    if known <= set(change.disabled):
        raise BadRequest("at least one provider must stay enabled")


def apply(
    state: OperatorState, change: OperatorChange, *, now: float | None = None
) -> OperatorState:
    """The state after ``change``, with the change recorded; nothing changes when it fails."""
    check(state, change)
    at = time.time() if now is None else now
    if isinstance(change, SetMaintenance):
        maintenance = Maintenance(
            enabled=change.enabled,
            reason=change.reason if change.enabled else None,
            retry_after_s=change.retry_after_s,
            since=at if change.enabled else None,
        )
        record = {
            "action": "maintenance",
            "enabled": change.enabled,
            "reason": change.reason,
            "retry_after_s": change.retry_after_s,
        }
        return _next(state, record, at, maintenance=maintenance)
    if isinstance(change, SetProviders):
        order = (*change.order, *(name for name in state.order if name not in change.order))
        disabled = frozenset(change.disabled)
        record = {
            "action": "providers",
            "order": list(order),
            "disabled": sorted(disabled),
            "previous_order": list(state.order),
        }
        return _next(state, record, at, order=order, disabled=disabled)
    return _next(state, {"action": change.action, **dict(change.detail)}, at)


def _next(state: OperatorState, record: dict[str, Any], at: float, **updates: Any) -> OperatorState:
    changes = (*state.changes, {"at": round(at, 3), **record})[-RECENT_CHANGES:]
    return dataclasses.replace(state, changes=changes, version=state.version + 1, **updates)


def initial(order: Sequence[str], disabled: Sequence[str] = ()) -> OperatorState:
    """The state at start-up: the configured order, nothing changed yet."""
    return OperatorState(order=tuple(order), disabled=frozenset(disabled))


class Followed:
    """The operator state a backend knows now, and who to tell when a newer one arrives.

    Both state backends keep it: reading :attr:`operator` never does I/O, and
    :meth:`adopt` takes only a newer version, then tells every listener.
    """

    def __init__(self, initial: OperatorState) -> None:
        self._operator = initial
        self._listeners: list[Callable[[OperatorState], None]] = []

    @property
    def operator(self) -> OperatorState:
        """The newest operator state this process knows."""
        return self._operator

    def adopt(self, state: OperatorState) -> None:
        """Take a newer operator state (from here, another worker or replica); tell listeners."""
        if state.version <= self._operator.version:
            return
        self._operator = state
        for listener in self._listeners:
            listener(state)

    def subscribe(self, listener: Callable[[OperatorState], None]) -> None:
        """Call ``listener`` with every new operator state, whoever changed it."""
        self._listeners.append(listener)
