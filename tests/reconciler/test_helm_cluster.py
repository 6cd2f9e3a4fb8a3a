"""Opt-in: install, re-apply (no new revision) and uninstall the test chart on a real cluster.

Skipped unless CATALYST_TEST_KUBECONFIG points at a disposable cluster (kind/k3d). The chart runs
public nginx so the `--wait` rollout can become ready.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from reconciler.helm import (
    DESCRIPTION_PREFIX,
    ChartSource,
    CliHelmRunner,
    Helm,
    ReleaseSpec,
    is_current,
)
from tests.reconciler.mode_support import CHARTS, HELM_BIN

KUBECONFIG = os.environ.get("CATALYST_TEST_KUBECONFIG", "")

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not KUBECONFIG, reason="set CATALYST_TEST_KUBECONFIG to a test cluster"),
]


def test_small_chart_installs_end_to_end(tmp_path: Path) -> None:
    api_client: Any = config.new_client_from_config(config_file=KUBECONFIG)  # type: ignore[no-untyped-call]
    core: Any = client.CoreV1Api(api_client)
    namespace = f"catalyst-test-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    helm = Helm(CliHelmRunner({"KUBECONFIG": KUBECONFIG}), HELM_BIN, timeout=120)
    values = tmp_path / "values.json"
    values.write_text('{"port":80,"global":{"images":{"web":{"repository":"nginx","tag":"1.27"}}}}')
    chart = ChartSource(str(CHARTS / "app"))
    spec = ReleaseSpec("pr-1", namespace, chart, values, 180, DESCRIPTION_PREFIX + "e2e")
    try:
        helm.upgrade_install(spec)
        assert is_current(helm.history("pr-1", namespace), "e2e")
        assert core.read_namespaced_service("web", namespace).spec.ports[0].port == 80
    finally:
        helm.uninstall("pr-1", namespace)
        core.delete_namespace(namespace)
    assert helm.history("pr-1", namespace) == []
