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
