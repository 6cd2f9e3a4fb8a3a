"""Deploy artefacts: the chart's crds/ directory is an exact copy of the repository's CRDs.

crds/*.yaml is the source of truth; scripts/sync-chart-crds.sh copies it into deploy/chart/crds,
which Helm installs before the templates. These tests fail while the copies drift.
"""

from __future__ import annotations

import subprocess

import kubernetes_validate
import yaml

from tests.deploy.rendering import CHART, REPO, of_kind, render

SOURCE = REPO / "crds"
COPIES = CHART / "crds"
SCRIPT = REPO / "scripts" / "sync-chart-crds.sh"


def test_the_chart_carries_the_project_and_environment_crds() -> None:
    names = sorted(p.name for p in COPIES.glob("*.yaml"))
    assert names == sorted(p.name for p in SOURCE.glob("*.yaml"))
    assert {"projects.yaml", "environments.yaml"} <= set(names)


def test_chart_copies_equal_the_originals_byte_for_byte() -> None:
    for original in SOURCE.glob("*.yaml"):
        copy = COPIES / original.name
        assert copy.read_bytes() == original.read_bytes(), f"run {SCRIPT.name}: {copy} differs"


def test_sync_script_check_mode_agrees() -> None:
    done = subprocess.run([str(SCRIPT), "--check"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_helm_installs_both_crds_and_they_validate_strictly() -> None:
    crds = of_kind(render(), "CustomResourceDefinition")
    names = {c["metadata"]["name"] for c in crds}
    assert names == {"projects.catalyst.catalyst.dev", "environments.catalyst.catalyst.dev"}
    for crd in crds:
        kubernetes_validate.validate(crd, "1.29", strict=True)
        assert crd["spec"]["group"] == "catalyst.catalyst.dev"


def test_source_crds_parse_as_single_documents() -> None:
    for original in SOURCE.glob("*.yaml"):
        docs = [d for d in yaml.safe_load_all(original.read_text()) if d]
        assert len(docs) == 1 and docs[0]["kind"] == "CustomResourceDefinition"
