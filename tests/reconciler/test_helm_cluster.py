"""The real helm against the real control plane: install, re-apply (no new revision), uninstall.

Helm does not wait for readiness (no `--wait`): an install returns once the API server holds
the objects, even while their pods can never start; readiness is the reconciler's job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubernetes import client

from reconciler.helm import (
    DESCRIPTION_PREFIX,
    ChartSource,
    CliHelmRunner,
    Helm,
    ReleaseSpec,
    is_current,
)
from tests.reconciler.mode_support import CHARTS, HELM_BIN
from tests.support.control_plane import ClusterScope, ControlPlane


def values_file(tmp_path: Path, repository: str, tag: str) -> Path:
    path = tmp_path / "values.json"
    images = {"web": {"repository": repository, "tag": tag}}
    path.write_text(json.dumps({"port": 80, "global": {"images": images}}))
    return path


def test_small_chart_installs_end_to_end(
    cluster: ClusterScope, control_plane: ControlPlane, tmp_path: Path
) -> None:
    kubeconfig = control_plane.write_kubeconfig(tmp_path / "kubeconfig")
    core: Any = client.CoreV1Api(control_plane.api_client())
    namespace = cluster.namespace(cluster.name("helm"))
    helm = Helm(CliHelmRunner({"KUBECONFIG": str(kubeconfig)}), HELM_BIN, timeout=120)
    values = tmp_path / "values.json"
    values.write_text('{"port":80,"global":{"images":{"web":{"repository":"nginx","tag":"1.27"}}}}')
    chart = ChartSource(str(CHARTS / "app"))
    spec = ReleaseSpec("pr-1", namespace, chart, values, 180, DESCRIPTION_PREFIX + "e2e")
    try:
        helm.upgrade_install(spec)
        assert is_current(helm.history("pr-1", namespace), "e2e")
        assert core.read_namespaced_service("web", namespace).spec.ports[0].port == 80
        helm.upgrade_install(spec)  # what the reconciler does only when is_current says no
        assert [r.status for r in helm.history("pr-1", namespace)] == ["superseded", "deployed"]
    finally:
        helm.uninstall("pr-1", namespace)
    assert helm.history("pr-1", namespace) == []
    assert core.list_namespaced_service(namespace).items == []


def test_install_returns_while_the_deployment_cannot_become_available(
    cluster: ClusterScope, control_plane: ControlPlane, tmp_path: Path
) -> None:
    kubeconfig = control_plane.write_kubeconfig(tmp_path / "kubeconfig")
    apps: Any = client.AppsV1Api(control_plane.api_client())
    namespace = cluster.namespace(cluster.name("helm"))
    helm = Helm(CliHelmRunner({"KUBECONFIG": str(kubeconfig)}), HELM_BIN, timeout=120)
    repository = f"registry.local:5000/{namespace}/never"
    values = values_file(tmp_path, repository, "1")
    chart = ChartSource(str(CHARTS / "app"))
    # With `--wait` this install would end in HelmTimeout after 30 s: the image never pulls.
    spec = ReleaseSpec("pr-1", namespace, chart, values, 30, DESCRIPTION_PREFIX + "nowait")
    try:
        with control_plane.rules.image_missing(repository + ":"):
            release = helm.upgrade_install(spec)
            web = apps.read_namespaced_deployment("web", namespace)
            assert not web.status.available_replicas
        assert [r.status for r in helm.history("pr-1", namespace)] == ["deployed"]
        assert release.revision == 1
        assert "kind: Deployment" in release.manifest and "name: web" in release.manifest
        assert helm.manifest("pr-1", namespace, 1).manifest.strip() == release.manifest.strip()
    finally:
        helm.uninstall("pr-1", namespace)
    assert helm.history("pr-1", namespace) == []
