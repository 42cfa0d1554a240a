"""Helpers shared by the test packages: where the repo and shared/ are, how to read vectors."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _shared_dir() -> Path:
    """``../shared`` beside the checkout (CI's layout), or ``SIGNER_SHARED_DIR``."""
    configured = os.environ.get("SIGNER_SHARED_DIR")
    return Path(configured) if configured else REPO.parent / "shared"


SHARED = _shared_dir()


def load_vectors(name: str) -> dict[str, Any]:
    """Read one JSON vector file from ``shared/vectors``; fail loudly when it is missing."""
    path = SHARED / "vectors" / name
    if not path.is_file():
        pytest.fail(f"vector file {path} is missing: CI expects shared/ beside the repo")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


#: The Chromium binary the browser tests drive (CI may point ``SIGNER_CHROMIUM_PATH`` elsewhere).
CHROMIUM = Path(os.environ.get("SIGNER_CHROMIUM_PATH", "/usr/bin/chromium"))


def free_port() -> int:
    """A port nobody listens on now, on 127.0.0.1 (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
