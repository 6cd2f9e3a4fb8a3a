"""The worker reads pods and logs of previews, and only of previews (issue 16), on a real server.

The reconciler runs with its own chart ServiceAccount token and sets a preview up as it does in a
cluster, binding the chart's pod-reader ClusterRole to the worker's ServiceAccount in the preview
namespace (so its `bind` on that role is real). The worker then reads with its own chart token
through the adapter `/catalyst logs` and `/catalyst status` use, and the same reads anywhere else
are real 403s from the RBAC authorizer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import config

from core.clients.kube import Forbidden, KubePods
from core.errors import TemporaryError
from reconciler.confinement import WORKER_POD_READER
from tests.control_plane.test_platform import deployment, pods_of
from tests.control_plane.test_rbac import allowed
from tests.reconciler.support import SETTINGS, Names, Rig, environment_obj, make_rig, seed
from tests.support.control_plane import ChartRelease, ClusterScope, ControlPlane
from tests.support.waiting import wait_for

READ_PODS = ("list", "", "pods", "")


@dataclasses.dataclass
class Preview:
    """A Ready preview the reconciler set up, and the worker's view of the cluster."""

    names: Names
    worker: KubePods

    @property
    def namespace(self) -> str:
        return self.names.env_ns()


def client_of(release: ChartRelease, component: str) -> Any:
    """An official-client ApiClient holding `component`'s chart ServiceAccount token."""
    path = str(release.kubeconfig_for(component))
    return config.new_client_from_config(config_file=path)  # type: ignore[no-untyped-call]


def reconciler_of(release: ChartRelease, names: Names, plane: ControlPlane) -> Rig:
    """The reconciler as the chart configures it, acting with its own token."""
    prefix = f"{release.release}-catalyst-preview"
    settings = dataclasses.replace(
        SETTINGS,
        deployer_cluster_role=f"{prefix}-deployer",
        pod_reader_cluster_role=f"{prefix}-pod-reader",
        worker_account=(release.namespace, release.service_account("worker")),
    )
    return make_rig(
        plane.rest(), api_client=client_of(release, "reconciler"), names=names, settings=settings
    )


def ready(rig: Rig) -> bool:
    """One reconcile pass (as the queue would run it); whether pr-1 is Ready now."""
    try:
        rig.run()
    except TemporaryError:  # e.g. a RoleBinding just created, not yet in the authorizer
        pass
    return rig.status().get("phase") == "Ready"


@pytest.fixture
def preview(
    chart_release: ChartRelease, cluster: ClusterScope, control_plane: ControlPlane
) -> Iterator[Preview]:
    names = Names(cluster.name("acme"))
    for namespace in names.namespaces:
        cluster.track(namespace)
    seed(control_plane.rest(), builds=False, names=names)  # a ready-made image, no build
    control_plane.rest().put_object(environment_obj(names=names))
    rig = reconciler_of(chart_release, names, control_plane)
    wait_for("pr-1 Ready, set up by the reconciler's own token", lambda: ready(rig), timeout=90)
    yield Preview(names, KubePods(client_of(chart_release, "worker")))
    for env in control_plane.rest().list("environments", names.project_ns):
        if env["metadata"].get("finalizers"):  # no reconciler is left to release it
            name = env["metadata"]["name"]
            control_plane.rest().remove_finalizers("environments", name, names.project_ns)


def test_the_reconciler_binds_the_pod_reader_role_to_the_worker(
    preview: Preview, chart_release: ChartRelease
) -> None:
    binding = chart_release.plane.rest().get("rolebindings", WORKER_POD_READER, preview.namespace)
    assert binding is not None
    assert binding["roleRef"]["name"] == f"{chart_release.release}-catalyst-preview-pod-reader"
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": chart_release.service_account("worker"),
            "namespace": chart_release.namespace,
        }
    ]


def test_the_worker_lists_pods_and_reads_a_log_in_the_preview(
    preview: Preview, chart_release: ChartRelease, control_plane: ControlPlane
) -> None:
    wait_for(
        "the binding in the authorizer",
        lambda: allowed(chart_release, "worker", READ_PODS, preview.namespace),
    )
    running = wait_for(
        "a running pod of the preview, as the worker lists them",
        lambda: [
            p
            for p in preview.worker.list_pods(preview.namespace)
            if p["status"].get("phase") == "Running"
        ],
    )
    pod = running[0]
    control_plane.append_log(f"served from {preview.namespace}")
    container = pod["spec"]["containers"][0]["name"]
    text = preview.worker.pod_log(
        preview.namespace, pod["metadata"]["name"], container=container, tail_lines=20
    )
    assert f"served from {preview.namespace}" in text


def test_outside_preview_namespaces_the_worker_gets_a_real_403(
    preview: Preview, cluster: ClusterScope, chart_release: ChartRelease
) -> None:
    project_ns = preview.names.project_ns
    cluster.rest.create(deployment(project_ns, "tool"))
    pod = wait_for("a pod in the project namespace", lambda: pods_of(cluster, project_ns, "tool"))[
        0
    ]
    for namespace in (project_ns, "kube-system", chart_release.namespace):
        with pytest.raises(Forbidden, match="403"):
            preview.worker.list_pods(namespace)
    with pytest.raises(Forbidden, match="403"):
        preview.worker.pod_log(project_ns, pod["metadata"]["name"], container="app", tail_lines=5)
    assert allowed(chart_release, "worker", READ_PODS, preview.namespace)
