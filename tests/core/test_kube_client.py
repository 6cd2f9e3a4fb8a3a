"""core.clients.kube.new_api_client: the one way every process builds its Kubernetes client."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from core.clients.kube import new_api_client
from tests.support.control_plane import ClusterScope, ControlPlane


@pytest.fixture
def outside_cluster(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    return monkeypatch


def test_kubeconfig_is_read_when_called_not_at_import(
    outside_cluster: pytest.MonkeyPatch,
    control_plane: ControlPlane,
    cluster: ClusterScope,
    tmp_path: Path,
) -> None:
    # A real server: TLS with the kubeconfig's CA file and a bearer token.
    kubeconfig = control_plane.write_kubeconfig(tmp_path / "kubeconfig")
    outside_cluster.setenv("KUBECONFIG", str(kubeconfig))
    seen = cluster.namespace(cluster.name("seen"))
    api = new_api_client(pool_size=7)
    names = [n.metadata and n.metadata.name for n in k8s.CoreV1Api(api).list_namespace().items]
    assert seen in names
    assert api.configuration.connection_pool_maxsize == 7


def test_no_cluster_and_no_kubeconfig_is_a_config_error(
    outside_cluster: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    outside_cluster.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(k8s_config.ConfigException):
        new_api_client()
