"""The chart's RBAC on a real API server: each process can do what it needs and nothing more.

The chart is installed with the real helm; the questions go to the real authorizer as
SelfSubjectAccessReviews with each ServiceAccount's own token (TokenRequest), and a forbidden
call is a real 403.
"""

from __future__ import annotations

import pytest

from tests.support.control_plane import ChartRelease, ClusterScope
from tests.support.kube_rest import KubeRestError

Check = tuple[str, str, str, str]  # verb, group, resource, subresource

WORKER_MAY: list[Check] = [
    ("create", "catalyst.catalyst.dev", "environments", ""),
    ("patch", "catalyst.catalyst.dev", "environments", ""),
    ("delete", "catalyst.catalyst.dev", "environments", ""),
    ("list", "catalyst.catalyst.dev", "projects", ""),
]
# Asked in the project namespace `acme-shop`: pods and their logs the worker reads only in preview
# namespaces, where the reconciler binds it the pod-reader role (test_worker_pods.py).
WORKER_MAY_NOT: list[Check] = [
    ("get", "", "secrets", ""),
    ("create", "", "namespaces", ""),
    ("create", "", "pods", "exec"),
    ("list", "", "pods", ""),
    ("get", "", "pods", ""),
    ("get", "", "pods", "log"),
    ("patch", "catalyst.catalyst.dev", "projects", ""),
    ("create", "batch", "jobs", ""),
]
RECONCILER_MAY: list[Check] = [
    ("create", "", "namespaces", ""),
    ("delete", "", "namespaces", ""),
    ("create", "batch", "jobs", ""),
    ("create", "networking.k8s.io", "networkpolicies", ""),
    ("create", "rbac.authorization.k8s.io", "rolebindings", ""),
    ("get", "apps", "deployments", ""),
    ("get", "", "pods", "log"),
    ("patch", "catalyst.catalyst.dev", "environments", "status"),
    ("update", "catalyst.catalyst.dev", "environments", "finalizers"),
]
RECONCILER_MAY_NOT: list[Check] = [
    ("create", "", "pods", "exec"),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings", ""),
    ("delete", "apiextensions.k8s.io", "customresourcedefinitions", ""),
    ("create", "catalyst.catalyst.dev", "environments", ""),
    # what a preview deploys is written as its namespace's deployer (tests/control_plane/
    # test_confinement.py), never with the reconciler's own rights
    ("create", "apps", "deployments", ""),
    ("create", "networking.k8s.io", "ingresses", ""),
    ("create", "", "configmaps", ""),
]


def allowed(release: ChartRelease, component: str, check: Check, namespace: str) -> bool:
    verb, group, resource, subresource = check
    rest = release.plane.rest(release.token_for(component))
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "verb": verb,
                "group": group,
                "resource": resource,
                "subresource": subresource,
                "namespace": namespace,
            }
        },
    }
    answer = rest.http.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=review)
    answer.raise_for_status()
    return bool(answer.json()["status"]["allowed"])


CASES = (
    [("worker", c, True) for c in WORKER_MAY]
    + [("worker", c, False) for c in WORKER_MAY_NOT]
    + [("reconciler", c, True) for c in RECONCILER_MAY]
    + [("reconciler", c, False) for c in RECONCILER_MAY_NOT]
)


@pytest.mark.parametrize(
    ("component", "check", "expected"),
    CASES,
    ids=[
        f"{c}-{'may' if e else 'not'}-{k[0]}-{k[2]}{'/' + k[3] if k[3] else ''}"
        for c, k, e in CASES
    ],
)
def test_the_chart_grants_exactly_what_each_process_needs(
    chart_release: ChartRelease, component: str, check: Check, expected: bool
) -> None:
    assert allowed(chart_release, component, check, "acme-shop") is expected


def test_a_forbidden_call_is_a_real_403(chart_release: ChartRelease, cluster: ClusterScope) -> None:
    ns = cluster.namespace(cluster.name("rbac"))
    cluster.rest.create(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "team-creds", "namespace": ns}}
    )
    worker = chart_release.plane.rest(chart_release.token_for("worker"))
    with pytest.raises(KubeRestError) as refused:
        worker.get("secrets", "team-creds", ns)
    assert refused.value.status == 403


def test_the_web_process_has_no_token(chart_release: ChartRelease) -> None:
    account = chart_release.plane.rest().get(
        "serviceaccounts", chart_release.service_account("web"), chart_release.namespace
    )
    assert account is not None and account["automountServiceAccountToken"] is False
