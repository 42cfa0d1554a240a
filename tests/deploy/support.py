"""Reading deploy/: YAML documents, durations, quantities, and which env names are settings."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import yaml

from signer.settings import ENV_ALIASES, ENV_PREFIX, env_values
from tests.support import REPO

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_QUANTITY = re.compile(r"(\d+)(Ki|Mi|Gi)?")
_BYTES = {None: 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def load_yaml(path: Path) -> dict[str, Any]:
    """The one YAML document in ``path``, which must be a mapping."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path} does not hold one mapping"
    return document


def seconds(duration: str | float) -> float:
    """A duration as compose and HAProxy write it (``20s``, ``1m30s``, ``500ms``, ``1``)."""
    if isinstance(duration, int | float):
        return float(duration)
    parts = _DURATION.findall(duration)
    assert parts, f"not a duration: {duration!r}"
    assert "".join(number + unit for number, unit in parts) == duration, duration
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


def mebibytes(quantity: str) -> float:
    """A Kubernetes memory quantity (``640Mi``, ``1Gi``) in MiB."""
    match = _QUANTITY.fullmatch(quantity)
    assert match, f"not a memory quantity: {quantity!r}"
    return int(match[1]) * _BYTES[match[2]] / 1024**2


def not_settings(names: Iterable[str]) -> list[str]:
    """The env names among ``names`` that the service does not read as a setting."""
    names = list(names)
    _values, unknown = env_values(dict.fromkeys(names, ""))
    others = [name for name in names if not name.startswith(ENV_PREFIX) and name not in ENV_ALIASES]
    return sorted([*unknown, *others])
