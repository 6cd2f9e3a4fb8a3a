"""The import-linter contracts cover what the code says about itself.

A module whose docstring starts with "Pure" must be in the "Pure modules do no I/O" contract, so a
new pure module cannot quietly reach an I/O library; a module listed there must still exist and
still call itself pure.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "cli", "webhook", "workers", "reconciler")
PURE_CONTRACT = "Pure modules do no I/O"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def self_declared_pure() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            if doc.startswith("Pure"):
                found.add(module_name(path))
    return found


def contract(name: str) -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["name"] == name)


def test_every_module_calling_itself_pure_is_under_the_pure_contract() -> None:
    listed = set(contract(PURE_CONTRACT)["source_modules"])
    assert self_declared_pure() == listed


def test_the_pure_contract_forbids_every_io_library() -> None:
    forbidden = set(contract(PURE_CONTRACT)["forbidden_modules"])
    io = {"httpx", "redis", "kubernetes", "celery", "prometheus_client", "gidgethub", "jwt"}
    assert io <= forbidden


def project_imports() -> dict[str, set[str]]:
    """Every project module and the project modules it imports (function-level imports too)."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module)
                    found.update(f"{node.module}.{alias.name}" for alias in node.names)
            graph[module_name(path)] = found
    return {name: {m for m in found if m in graph and m != name} for name, found in graph.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for target in sorted(graph[name]):
            if cycle := visit(target, [*path, name]):
                return cycle
        done.add(name)
        return None

    return next((c for name in sorted(graph) if (c := visit(name, [])) is not None), None)


def test_no_import_cycle_anywhere() -> None:
    # A package importing its own submodules (reconciler.modes -> reconciler.modes.docker) is the
    # registry's late import, not a cycle between jobs; only module-to-module edges count.
    graph = project_imports()
    packages = {name for name in graph if any(other.startswith(name + ".") for other in graph)}
    edges = {name: {t for t in targets if t not in packages} for name, targets in graph.items()}
    assert find_cycle(edges) is None
