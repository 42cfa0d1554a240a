"""The package layout holds: providers is a library, and no module imports itself in a circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.support import REPO

if TYPE_CHECKING:
    from pathlib import Path

PACKAGES = ("providers", "signer", "monitoring")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module, *, module_level: bool) -> set[str]:
    """Modules a file imports: anywhere, or at module level (type-checking imports too)."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If | ast.Try):
                for block in ("body", "orelse", "finalbody"):
                    visit(getattr(node, block, []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif not module_level:
                visit(
                    [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)]
                )

    visit(tree.body)
    return found


def _sources() -> dict[str, ast.Module]:
    return {
        _module_name(path): ast.parse(path.read_text(encoding="utf-8"))
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
    }


def test_providers_import_nothing_from_the_service() -> None:
    """No module of providers/ imports signer or monitoring, not even for type checking."""
    offenders = {
        module: sorted(
            name
            for name in _imports(tree, module_level=False)
            if name.split(".")[0] in {"signer", "monitoring"}
        )
        for module, tree in _sources().items()
        if module.split(".")[0] == "providers"
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_no_import_cycle_between_modules() -> None:
    """The module-level imports of the three packages (type-checking ones too) form no cycle."""
    sources = _sources()
    graph = {
        module: {name for name in _imports(tree, module_level=True) if name in sources} - {module}
        for module, tree in sources.items()
    }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert cycles == []


def test_the_registry_loads_no_provider() -> None:
    """Importing the registry (and the native provider) does not load Playwright."""
    code = (
        "import sys, providers.registry, providers.native;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'playwright', 'signer'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("driver", "backend", "without_it"),
    [
        # The SQLite store never loads psycopg.
        ("psycopg", "signer.store.postgres", "signer.store, signer.store.sqlite"),
        # The app on memory state never loads redis.
        ("redis", "signer.state.redis", "signer.app, signer.state.memory"),
    ],
)
def test_a_backend_driver_is_imported_only_by_its_backend(
    driver: str, backend: str, without_it: str
) -> None:
    """A third-party driver is imported by its backend's module alone, and only when used."""
    importers = sorted(
        module
        for module, tree in _sources().items()
        if any(name.split(".")[0] == driver for name in _imports(tree, module_level=False))
    )
    assert importers == [backend]
    code = (
        f"import sys, {without_it};"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] == {driver!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "[]"
