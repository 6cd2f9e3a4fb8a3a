"""Untrusted code stays in its box, on a real API server (issue 13): the reconciler deploys a PR's
chart as the preview namespace's deployer ServiceAccount, whose writes end at its namespace (a real
403 from the RBAC authorizer), pod security refuses a privileged pod, and the chart's
ValidatingAdmissionPolicy refuses an Ingress for another host.

The reconciler acts with its own ServiceAccount token from the installed chart, creates the
deployer's ServiceAccount and RoleBinding itself (so `bind` is real) and impersonates it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config

from core.clients.kube import Forbidden
from core.errors import CatalystError
from reconciler import manifests
from reconciler.apiserver import ApiServerAddresses
from reconciler.cluster import Cluster
from reconciler.confinement import Refused, deployer_objects, deployer_user, pod_security_labels
from reconciler.helm import CliHelmRunner, Helm
from reconciler.modes import ModeIO
from reconciler.modes.helm import HelmMode
from tests.reconciler.mode_support import HELM_BIN, context
from tests.reconciler.test_confinement import LOOKUP_CHART, TEMPLATE, chart_sources
from tests.support.control_plane import PREVIEW_DOMAIN, ChartRelease, ClusterScope

DOMAIN = PREVIEW_DOMAIN  # the chart_release's config.previewDomain


@dataclasses.dataclass
class Preview:
    """A preview namespace set up by the reconciler, and the clients acting in it."""

    namespace: str
    reconciler: Cluster
    deployer: Cluster
    kubeconfig: Path

    @property
    def host(self) -> str:
        return f"{self.namespace}.{DOMAIN}"


@pytest.fixture
def preview(
    chart_release: ChartRelease, cluster: ClusterScope, tmp_path: Path
) -> Iterator[Preview]:
    kubeconfig = chart_release.kubeconfig_for("reconciler")
    api: Any = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    reconciler = Cluster(api)
    namespace = cluster.name("acme-shop-pr-1")
    cluster.track(namespace)
    labels = {"app.kubernetes.io/managed-by": "catalyst-preview"}
    ns_labels = {**labels, "catalyst.dev/namespace-type": "environment"}
    ns_labels |= pod_security_labels("baseline")
    reconciler.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": ns_labels},
        }
    )
    role = f"{chart_release.release}-catalyst-preview-deployer"
    for obj in deployer_objects(namespace, labels, role):
        reconciler.create(obj)
    _wait_until_bound(chart_release, namespace)
    yield Preview(
        namespace, reconciler, reconciler.impersonating(deployer_user(namespace)), kubeconfig
    )


def _wait_until_bound(release: ChartRelease, namespace: str) -> None:
    """RBAC is eventually consistent: a new RoleBinding takes effect a moment after it exists."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": deployer_user(namespace),
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
            "resourceAttributes": {
                "verb": "create",
                "resource": "configmaps",
                "namespace": namespace,
            },
        },
    }
    deadline = time.monotonic() + 30
    rest = release.plane.rest()
    while time.monotonic() < deadline:
        answer = rest.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
        if answer["status"].get("allowed"):
            return
        time.sleep(0.1)
    raise AssertionError(f"the deployer of {namespace} never got its Role")


def config_map(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
    }


def ingress(namespace: str, host: str) -> dict[str, Any]:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"rules": [{"host": host, "http": {"paths": [path]}}]},
    }


def test_the_deployer_writes_its_namespace_and_gets_a_real_403_elsewhere(preview: Preview) -> None:
    created = preview.deployer.create(config_map("app", preview.namespace))
    assert created["metadata"]["namespace"] == preview.namespace
    with pytest.raises(Forbidden, match="403"):
        preview.deployer.create(config_map("planted", "kube-system"))
    with pytest.raises(Forbidden, match="403"):
        preview.deployer.get("Secret", "anything", "kube-system")
    assert preview.reconciler.get_or_none("ConfigMap", "planted", "kube-system") is None


def test_the_reconciler_itself_no_longer_writes_workloads(preview: Preview) -> None:
    with pytest.raises(Forbidden, match="403"):
        preview.reconciler.create(config_map("direct", preview.namespace))


def test_the_lookup_chart_gets_nothing_and_cannot_leave_its_namespace(
    preview: Preview, chart_release: ChartRelease, tmp_path: Path
) -> None:
    admin = chart_release.plane.rest()
    admin.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "cloud-creds", "namespace": "kube-system"},
            "stringData": {"key": "s3cr3t"},
        }
    )
    helm = Helm(CliHelmRunner({"KUBECONFIG": str(preview.kubeconfig)}), HELM_BIN, timeout=120)
    ctx = dataclasses.replace(context(TEMPLATE), namespace=preview.namespace, host=preview.host)
    mode = HelmMode(chart_sources(tmp_path / "src", LOOKUP_CHART))
    mode.apply(ctx, ModeIO(helm=helm))
    stolen = admin.get("configmaps", "stolen", preview.namespace)
    assert stolen is not None and stolen["data"] == {"creds": "null"}
    escaping = dataclasses.replace(
        ctx, template=ctx.template.model_copy(update={"values": {"escape": True}})
    )
    with pytest.raises(Refused, match="namespace kube-system"):
        mode.apply(escaping, ModeIO(helm=helm))
    assert admin.get("configmaps", "planted", "kube-system") is None


def test_helm_as_the_deployer_cannot_install_outside_the_namespace(
    preview: Preview, tmp_path: Path
) -> None:
    """Even a chart the checker missed: the API server refuses the deployer (helm gets a 403)."""
    chart = tmp_path / "escape"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: escape\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n  namespace: kube-system\n"
    )
    runner = CliHelmRunner({"KUBECONFIG": str(preview.kubeconfig)})
    argv = [
        HELM_BIN,
        "upgrade",
        "--install",
        "escape",
        str(chart),
        "--namespace",
        preview.namespace,
    ]
    result = runner.run([*argv, "--kube-as-user", deployer_user(preview.namespace)], timeout=120)
    assert result.returncode != 0 and "forbidden" in result.stderr.lower()
    assert preview.reconciler.get_or_none("ConfigMap", "planted", "kube-system") is None


def test_pod_security_refuses_a_privileged_pod(preview: Preview) -> None:
    container = {"name": "c", "image": "busybox", "securityContext": {"privileged": True}}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": preview.namespace},
        "spec": {"containers": [container]},
    }
    with pytest.raises(CatalystError, match="violates PodSecurity"):
        preview.deployer.create(pod)
    assert preview.reconciler.get_or_none("Pod", "root", preview.namespace) is None


def test_the_admission_policy_refuses_an_ingress_for_another_host(preview: Preview) -> None:
    with pytest.raises(CatalystError, match="may only serve"):
        preview.deployer.create(ingress(preview.namespace, "shop.example.com"))
    assert preview.deployer.create(ingress(preview.namespace, preview.host))["spec"]["rules"]


def test_build_egress_excepts_the_api_server_the_reconciler_reads(preview: Preview) -> None:
    slices = preview.reconciler.list_items(
        "EndpointSlice", "default", label_selector="kubernetes.io/service-name=kubernetes"
    )
    endpoints = [a for s in slices for e in s.get("endpoints") or [] for a in e["addresses"]]
    assert endpoints  # the session wrote what a cluster's API server publishes
    # with the reconciler's own chart token: the chart's Role lets it list the EndpointSlices
    addresses = ApiServerAddresses(preview.reconciler)()
    service = preview.reconciler.get("Service", "kubernetes", "default")
    assert service["spec"]["clusterIP"] in addresses
    assert set(endpoints) <= set(addresses)
    policy = manifests.build_network_policy(
        preview.namespace, {}, cidrs=("0.0.0.0/0",), ports=(443,), excluded=addresses
    )
    preview.reconciler.create(policy)  # the real API server checks every `except` lies in its cidr
    live = preview.reconciler.get("NetworkPolicy", manifests.BUILD_POLICY_NAME, preview.namespace)
    (block,) = live["spec"]["egress"][0]["to"]
    assert set(block["ipBlock"]["except"]) == {f"{a}/32" for a in addresses}
