"""``tiktok-signer baseline``: see issue 20 (being built)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``baseline`` (nothing yet)."""
    del commands
