"""The README stays true to the code: every setting documented, quick start runnable."""

from __future__ import annotations

import os
import re

import pytest

from providers import sdk
from signer.settings import Settings
from tests.support import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme_table(name: str) -> None:
    """Each setting's environment variable has a row in the settings table."""
    assert re.search(rf"^\| [^\n|]*`SIGNER_{name.upper()}`", README, re.MULTILINE), name


def test_quick_start_is_two_commands_that_exist() -> None:
    """The quick start block holds exactly the two scripts, and both are executable."""
    block = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert commands == ["scripts/serve", "scripts/test"]
    for command in commands:
        assert os.access(REPO / command, os.X_OK), command


def test_ci_runs_the_readme_test_command_then_the_container_checks() -> None:
    """CI runs the README's test command, then the container checks, and nothing else."""
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in ci.splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert commands == [
        "set -euo pipefail",
        'cd "$(dirname "$0")/.."',
        "scripts/test",
        "exec scripts/ci-containers",
    ]
    assert os.access(REPO / "scripts" / "ci-containers", os.X_OK)


def test_readme_says_how_to_run_the_container_checks() -> None:
    """The Docker section names the container checks and the constraints file."""
    docker = README.split("### Docker", 1)[1].split("\n## ", 1)[0]
    for needed in ("scripts/ci-containers", "constraints.txt", "scripts/update-constraints"):
        assert needed in docker, needed


def test_readme_lists_the_sdk_pins() -> None:
    """The README's table of TikTok's SDK files carries the pins the code checks."""
    assert f"`{sdk.TARBALL_SHA256}`" in README
    for version, pin in sdk.PINS.items():
        row = f"| `{version}` | `{pin.name}` | {pin.size} | `{pin.sha256}` |"
        assert row in README, version
