"""constraints.txt pins every dependency exactly, and every install path uses it."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
REQUIREMENTS = [
    Requirement(line) for line in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]
]
LINES = (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines()
PINS = dict(line.split("==") for line in LINES if line and not line.startswith("#"))
VERSIONS = {canonicalize_name(name): version for name, version in PINS.items()}


def test_every_line_is_a_comment_or_an_exact_pin() -> None:
    """No ranges, options or URLs: the machine's pip settings say where packages come from."""
    for line in LINES:
        assert not line or line.startswith("#") or re.fullmatch(r"[A-Za-z0-9._-]+==[\w.+!]+", line)


@pytest.mark.parametrize("requirement", REQUIREMENTS, ids=str)
def test_every_dependency_is_pinned_within_pyproject(requirement: Requirement) -> None:
    """Each runtime and test dependency has a pin that pyproject.toml's range allows."""
    version = VERSIONS.get(canonicalize_name(requirement.name))
    assert version is not None, f"{requirement.name} is not pinned"
    assert requirement.specifier.contains(version, prereleases=True), version


def test_the_test_environment_runs_the_pinned_versions() -> None:
    """scripts/setup installed exactly the pinned versions into the virtualenv running this."""
    installed = {name: importlib.metadata.version(name) for name in VERSIONS}
    assert installed == VERSIONS


@pytest.mark.parametrize("path", ["scripts/setup", "Dockerfile"])
def test_installs_use_the_constraints(path: str) -> None:
    """The virtualenv of scripts/setup and the image install with ``-c constraints.txt``."""
    commands = (REPO / path).read_text(encoding="utf-8").replace("\\\n", " ")
    assert re.search(r"pip install [^\n]*-c constraints\.txt", commands), path
