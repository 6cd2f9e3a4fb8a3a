"""Every built-in resource the project needs, created and read back through the typed client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kubefake import KubeFake

from .helpers import GROUP, VERSION, environment_crd, typed

M = client.V1ObjectMeta
POD_SPEC = client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")])
TEMPLATE = client.V1PodTemplateSpec(metadata=M(labels={"app": "a"}), spec=POD_SPEC)
SELECTOR = client.V1LabelSelector(match_labels={"app": "a"})
JOB_TEMPLATE = client.V1PodTemplateSpec(
    spec=client.V1PodSpec(
        restart_policy="Never", containers=[client.V1Container(name="c", image="busybox")]
    )
)

# (api class, resource suffix for create_namespaced_<x>/read_namespaced_<x>, body factory)
NAMESPACED: list[tuple[Any, str, Callable[[], Any]]] = [
    (client.CoreV1Api, "secret", lambda: client.V1Secret(metadata=M(name="r"), string_data={})),
    (client.CoreV1Api, "config_map", lambda: client.V1ConfigMap(metadata=M(name="r"))),
    (client.CoreV1Api, "service_account", lambda: client.V1ServiceAccount(metadata=M(name="r"))),
    (
        client.CoreV1Api,
        "service",
        lambda: client.V1Service(
            metadata=M(name="r"),
            spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)], selector={"a": "b"}),
        ),
    ),
    (client.CoreV1Api, "pod", lambda: client.V1Pod(metadata=M(name="r"), spec=POD_SPEC)),
    (
        client.CoreV1Api,
        "persistent_volume_claim",
        lambda: client.V1PersistentVolumeClaim(
            metadata=M(name="r"),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
            ),
        ),
    ),
    (
        client.CoreV1Api,
        "resource_quota",
        lambda: client.V1ResourceQuota(
            metadata=M(name="r"), spec=client.V1ResourceQuotaSpec(hard={"pods": "10"})
        ),
    ),
    (
        client.CoreV1Api,
        "limit_range",
        lambda: client.V1LimitRange(
            metadata=M(name="r"),
            spec=client.V1LimitRangeSpec(
                limits=[client.V1LimitRangeItem(type="Container", default={"cpu": "100m"})]
            ),
        ),
    ),
    (
        client.CoreV1Api,
        "event",
        lambda: client.CoreV1Event(
            metadata=M(name="r"),
            involved_object=client.V1ObjectReference(kind="Pod", name="p"),
            reason="Test",
            message="hello",
        ),
    ),
    (
        client.AppsV1Api,
        "deployment",
        lambda: client.V1Deployment(
            metadata=M(name="r"),
            spec=client.V1DeploymentSpec(selector=SELECTOR, template=TEMPLATE),
        ),
    ),
    (
        client.AppsV1Api,
        "stateful_set",
        lambda: client.V1StatefulSet(
            metadata=M(name="r"),
            spec=client.V1StatefulSetSpec(service_name="r", selector=SELECTOR, template=TEMPLATE),
        ),
    ),
    (
        client.BatchV1Api,
        "job",
        lambda: client.V1Job(metadata=M(name="r"), spec=client.V1JobSpec(template=JOB_TEMPLATE)),
    ),
    (
        client.NetworkingV1Api,
        "ingress",
        lambda: client.V1Ingress(
            metadata=M(name="r"),
            spec=client.V1IngressSpec(rules=[client.V1IngressRule(host="pr-1.example.dev")]),
        ),
    ),
    (
        client.NetworkingV1Api,
        "network_policy",
        lambda: client.V1NetworkPolicy(
            metadata=M(name="r"),
            spec=client.V1NetworkPolicySpec(pod_selector=client.V1LabelSelector()),
        ),
    ),
    (
        client.CoordinationV1Api,
        "lease",
        lambda: client.V1Lease(metadata=M(name="r"), spec=client.V1LeaseSpec(holder_identity="me")),
    ),
    (
        client.PolicyV1Api,
        "pod_disruption_budget",
        lambda: client.V1PodDisruptionBudget(
            metadata=M(name="r"),
            spec=client.V1PodDisruptionBudgetSpec(min_available=1, selector=SELECTOR),
        ),
    ),
    (
        client.RbacAuthorizationV1Api,
        "role",
        lambda: client.V1Role(
            metadata=M(name="r"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get"])],
        ),
    ),
    (
        client.RbacAuthorizationV1Api,
        "role_binding",
        lambda: client.V1RoleBinding(
            metadata=M(name="r"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="r"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="r", namespace="default")],
        ),
    ),
]


@pytest.mark.parametrize(
    ("api_class", "suffix", "body"), NAMESPACED, ids=[n[1] for n in NAMESPACED]
)
def test_namespaced_resource_round_trip(
    kf: KubeFake, api_class: Any, suffix: str, body: Callable[[], Any]
) -> None:
    api = api_class(kf.api_client())
    created = getattr(api, f"create_namespaced_{suffix}")("default", body())
    assert created.metadata.uid
    read = getattr(api, f"read_namespaced_{suffix}")("r", "default")
    assert read.metadata.resource_version == created.metadata.resource_version
    listed = getattr(api, f"list_namespaced_{suffix}")("default")
    assert [i.metadata.name for i in listed.items] == ["r"]
    getattr(api, f"delete_namespaced_{suffix}")("r", "default")
    with pytest.raises(ApiException) as info:
        getattr(api, f"read_namespaced_{suffix}")("r", "default")
    assert info.value.status == 404


def test_cluster_scoped_rbac(kf: KubeFake) -> None:
    api = typed(client.RbacAuthorizationV1Api, kf)
    role = client.V1ClusterRole(metadata=M(name="reader"), rules=[])
    api.create_cluster_role(role)
    assert api.read_cluster_role("reader").metadata.uid


def test_crd_created_through_the_api_serves_its_resources(kf: KubeFake) -> None:
    ext = typed(client.ApiextensionsV1Api, kf)
    crd = ext.create_custom_resource_definition(environment_crd("projects", "Project"))
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions["Established"] == "True"
    objects = typed(client.CustomObjectsApi, kf)
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Project", "metadata": {"name": "p"}}
    body["spec"] = {"repo": "o/r", "pr": 3}
    created = objects.create_namespaced_custom_object(GROUP, VERSION, "default", "projects", body)
    assert created["spec"]["replicas"] == 1  # schema default applied
    ext.delete_custom_resource_definition("projects.catalyst.catalyst.dev")
    with pytest.raises(ApiException) as info:
        objects.list_namespaced_custom_object(GROUP, VERSION, "default", "projects")
    assert info.value.status == 404


def test_crd_name_must_match_plural_and_group(kf: KubeFake) -> None:
    crd = environment_crd("projects", "Project")
    crd["metadata"]["name"] = "wrong"
    with pytest.raises(ApiException) as info:
        typed(client.ApiextensionsV1Api, kf).create_custom_resource_definition(crd)
    assert info.value.status == 422


def test_register_crd_from_yaml_directory(tmp_path: Any) -> None:
    import yaml

    (tmp_path / "environments.yaml").write_text(yaml.safe_dump(environment_crd()))
    (tmp_path / "other.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with KubeFake([tmp_path]) as fake:
        assert fake.resource("environments").group == GROUP
        assert fake.list("customresourcedefinitions")[0]["metadata"]["name"].startswith("env")
