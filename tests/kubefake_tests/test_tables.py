"""Server-side printing: kubectl Table requests get the CRD printer columns (Phase, URL, ...)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.kubefake import KubeFake
from tests.kubefake.tables import first_match, human_duration

ROOT = Path(__file__).resolve().parents[2]
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
ENVS = "/apis/catalyst.catalyst.dev/v1alpha1/namespaces/acme-web/environments"


@pytest.fixture
def crd_fake() -> Iterator[KubeFake]:
    """The fake serving the project's real CRDs, with the production sample stored (Ready)."""
    with KubeFake([ROOT / "crds"]) as fake:
        fake.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "acme-web"}})
        fake.put_object(
            yaml.safe_load((ROOT / "crds/examples/environment-production.yaml").read_text())
        )
        yield fake


def get_table(fake: KubeFake, path: str) -> dict[str, Any]:
    answer = httpx.get(fake.url + path, headers={"Accept": TABLE}, timeout=30)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def test_a_list_asked_as_table_has_the_crd_printer_columns(crd_fake: KubeFake) -> None:
    body = get_table(crd_fake, ENVS)
    assert body["kind"] == "Table" and body["apiVersion"] == "meta.k8s.io/v1"
    names = [c["name"] for c in body["columnDefinitions"]]
    assert names == ["Name", "Phase", "URL", "Commit", "Type", "Project", "Target", "Age"]
    assert [c["priority"] for c in body["columnDefinitions"]][4:7] == [1, 1, 1]
    (row,) = body["rows"]
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert row["cells"][:7] == [
        "production", "Ready", "https://acme-web-production.preview.acme.dev/", sha,
        "deployment", "web", sha,
    ]  # fmt: skip
    assert row["cells"][7].endswith("s")  # an age, e.g. "0s"
    assert row["object"]["metadata"]["namespace"] == "acme-web"


def test_a_get_asked_as_table_is_a_one_row_table_and_plain_json_is_unchanged(
    crd_fake: KubeFake,
) -> None:
    body = get_table(crd_fake, ENVS + "/production")
    assert [r["cells"][0] for r in body["rows"]] == ["production"]
    plain = httpx.get(crd_fake.url + ENVS + "/production", timeout=30).json()
    assert plain["kind"] == "Environment" and plain["status"]["phase"] == "Ready"


def test_a_watch_asked_as_table_streams_one_row_tables(crd_fake: KubeFake) -> None:
    with httpx.stream(
        "GET",
        crd_fake.url + ENVS + "?watch=true&timeoutSeconds=1",
        headers={"Accept": TABLE},
        timeout=30,
    ) as answer:
        first = json.loads(next(answer.iter_lines()))
    assert first["type"] == "ADDED" and first["object"]["kind"] == "Table"
    assert first["object"]["rows"][0]["cells"][1] == "Ready"


def test_built_in_kinds_get_name_and_age(crd_fake: KubeFake) -> None:
    body = get_table(crd_fake, "/api/v1/namespaces")
    assert [c["name"] for c in body["columnDefinitions"]] == ["Name", "Age"]
    assert "acme-web" in [r["cells"][0] for r in body["rows"]]


def test_column_paths_follow_the_crd_jsonpath_subset() -> None:
    obj = {
        "status": {
            "conditions": [
                {"type": "Built", "status": "False"},
                {"type": "Ready", "status": "True"},
            ]
        }
    }
    assert first_match(obj, '.status.conditions[?(@.type=="Ready")].status') == "True"
    assert first_match(obj, ".status.conditions[0].type") == "Built"
    assert first_match(obj, ".status.phase") is None
    assert [human_duration(s) for s in (5, 150, 3 * 3600 + 60, 3 * 86400)] == [
        "5s",
        "2m30s",
        "3h1m",
        "3d",
    ]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_shows_phase_url_and_commit(crd_fake: KubeFake, tmp_path: Path) -> None:
    kubeconfig = crd_fake.write_kubeconfig(tmp_path / "kubeconfig")
    shown = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "get", "environments", "-A"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    header, row = shown.stdout.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "PHASE", "URL", "COMMIT", "AGE"]
    assert row.split()[:4] == [
        "acme-web",
        "production",
        "Ready",
        "https://acme-web-production.preview.acme.dev/",
    ]
