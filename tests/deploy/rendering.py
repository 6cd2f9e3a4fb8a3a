"""Test support: render the deploy/chart Helm chart with the real helm v3 binary into plain dicts.

`helm` comes from `.tools/bin/helm` (scripts/get-helm.sh) or PATH; without it the chart tests fail
with a line saying how to get it, rather than silently skipping.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "chart"
FULL_VALUES = CHART / "ci" / "full-values.yaml"
RELEASE = "rel"
NAMESPACE = "catalyst-system"

Manifest = dict[str, Any]


def helm_binary() -> str:
    """The helm v3 binary: the repo's pinned copy first, then PATH."""
    pinned = REPO / ".tools" / "bin" / "helm"
    if pinned.is_file():
        return str(pinned)
    found = shutil.which("helm")
    if found is None:
        pytest.fail("helm v3 not found: run scripts/get-helm.sh", pytrace=False)
    return found


def run_helm(*args: str) -> str:
    """Run helm, failing the test with its stderr when it exits non-zero."""
    done = subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"helm {' '.join(args[:2])} failed:\n{done.stderr}", pytrace=False)
    return done.stdout


def value_args(values_files: Iterable[Path] = (), sets: Iterable[str] = ()) -> list[str]:
    """`-f FILE` and `--set K=V` arguments for helm."""
    args: list[str] = []
    for path in values_files:
        args += ["-f", str(path)]
    for assignment in sets:
        args += ["--set", assignment]
    return args


def render(values_files: Iterable[Path] = (), sets: Iterable[str] = ()) -> list[Manifest]:
    """Every object `helm template --include-crds` renders, as dicts, in output order."""
    out = run_helm(
        "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--include-crds",
        *value_args(values_files, sets),
    )  # fmt: skip
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    """The one rendered object of `kind` called `name`."""
    hits = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected one {kind} {name}, found {len(hits)}"
    return hits[0]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    """All rendered objects of `kind`."""
    return [m for m in manifests if m["kind"] == kind]


def component_name(component: str) -> str:
    """The object name the chart gives a component under the test release."""
    return f"{RELEASE}-catalyst-preview-{component}"
