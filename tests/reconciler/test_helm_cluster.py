"""The real helm against the real control plane: install, re-apply (no new revision), uninstall.

The chart's Deployment becomes available through the simulated node, so `--wait` returns.
"""

from __future__ import annotations

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
