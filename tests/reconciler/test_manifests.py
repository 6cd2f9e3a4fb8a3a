"""Every manifest the reconciler builds validates strictly against the Kubernetes 1.29 schemas, and
a real API server accepts it (strict field validation, admission included, as a dry run)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from core.model import Environment, Project
from core.naming import preview_host
from reconciler import manifests
from reconciler.builds import build_job
from reconciler.config import resolve_config
from reconciler.context import Observed, build_context
from reconciler.infra import infra_objects, namespace_manifest
from reconciler.modes.docker import DockerMode
from tests.reconciler.support import SETTINGS, SHA1, environment_obj, project_obj
from tests.support.control_plane import ClusterScope
from tests.support.kube_rest import KIND_TO_PLURAL


def rich_project() -> dict[str, Any]:
    project = project_obj()
    config = project["spec"]["templates"]["development"]["config"]
    config.update(
        {
            "command": ["/app/serve"],
            "args": ["--port", "8080"],
            "workingDir": "/app",
            "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
            "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 10},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "volumes": [{"name": "data", "storage": {"size": "2Gi"}}],
            "initContainers": [{"name": "migrate", "command": ["/app/migrate"]}],
        }
    )
    config["env"].append(
        {"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}
    )
    return project


def all_manifests() -> list[dict[str, Any]]:
    env = Environment.model_validate(environment_obj(redeployNonce="n1"))
    project = Project.model_validate(rich_project())
    source_secret = {
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "e30="},
    }
    obs = Observed(env, project, SETTINGS, team_pull_secret=source_secret)
    ctx, _ = build_context(obs)
    image = manifests.image_ref(SETTINGS.registry, "acme", "shop", "app", SHA1)
    build = (project.spec.templates.development.builds or [])[0]  # type: ignore[union-attr]
    job = build_job(ctx, build, image, manifests.PULL_SECRET)
    deploy_ctx = type(ctx)(**{**ctx.__dict__, "images": {"app": image}})
    return [
        namespace_manifest(ctx),
        *infra_objects(ctx, obs),
        job,
        manifests.git_token_secret(ctx.namespace, ctx.labels, job["metadata"]["name"], "t"),
        manifests.app_secret(ctx.namespace, ctx.labels, {"metadata": {"name": "db"}, "data": {}}),
        *DockerMode().desired_objects(deploy_ctx),
    ]


@pytest.mark.parametrize(
    "manifest", all_manifests(), ids=lambda m: f"{m['kind']}/{m['metadata']['name']}"
)
def test_manifest_is_valid_for_kubernetes_1_29(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, "1.29", strict=True)


def preview_namespace(cluster: ClusterScope) -> str:
    """A namespace as the reconciler makes one (its labels, Pod Security level included)."""
    namespace = copy.deepcopy(all_manifests()[0])
    assert namespace["kind"] == "Namespace"
    namespace["metadata"]["name"] = cluster.name("dry-run")
    cluster.track(namespace["metadata"]["name"])
    cluster.rest.apply(namespace)
    return str(namespace["metadata"]["name"])


def relocate(obj: dict[str, Any], namespace: str) -> None:
    """Move `obj` into `namespace` as the reconciler would have built it there.

    An Ingress serves `<namespace>.<preview domain>` (the chart's admission policy admits no other
    host), so its host moves with it.
    """
    original = obj["metadata"]["namespace"]
    obj["metadata"]["namespace"] = namespace
    if obj["kind"] != "Ingress":
        return
    old, new = (
        preview_host(original, SETTINGS.preview_domain),
        preview_host(namespace, SETTINGS.preview_domain),
    )
    for rule in obj["spec"].get("rules") or []:
        assert rule["host"] == old
        rule["host"] = new
    for tls in obj["spec"].get("tls") or []:
        tls["hosts"] = [new if host == old else host for host in tls.get("hosts") or []]


@pytest.mark.parametrize(
    "manifest", all_manifests(), ids=lambda m: f"{m['kind']}/{m['metadata']['name']}"
)
def test_the_real_api_server_accepts_the_manifest(
    manifest: dict[str, Any], cluster: ClusterScope
) -> None:
    obj = copy.deepcopy(manifest)
    if obj["kind"] == "Namespace":
        obj["metadata"]["name"] = cluster.name("dry-run-ns")
    else:
        relocate(obj, preview_namespace(cluster))
    path = cluster.rest.path(
        KIND_TO_PLURAL[obj["kind"]], obj["metadata"].get("namespace"), obj["metadata"]["name"]
    )
    # Applied (the default ServiceAccount already exists in every namespace), as a dry run.
    params = {"dryRun": "All", "fieldValidation": "Strict", "fieldManager": "catalyst-tests"}
    answer = cluster.rest.http.patch(
        path,
        json=obj,
        params=params,
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    assert answer.status_code in (200, 201), answer.text
    assert not answer.headers.get("Warning"), answer.headers.get("Warning")


def test_every_kind_is_covered() -> None:
    kinds = {m["kind"] for m in all_manifests()}
    assert kinds >= {
        "Namespace",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
        "Secret",
        "ServiceAccount",
        "Job",
        "Deployment",
        "Service",
        "Ingress",
        "PersistentVolumeClaim",
    }


def test_build_job_pins_the_commit_and_has_no_retries() -> None:
    job = next(m for m in all_manifests() if m["kind"] == "Job")
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, 1800)
    assert spec["ttlSecondsAfterFinished"] == 3600
    args = spec["template"]["spec"]["containers"][0]["args"]
    assert f"--context=git://github.com/acme/shop.git#refs/pull/1/head#{SHA1}" in args
    assert "--context-sub-path=services/app" in args and "--cache=true" in args
    assert f"--destination=registry.local:5000/acme/shop/app:{SHA1}" in args
    assert job["metadata"]["name"] == "build-app-aaaaaaa"


def test_network_policy_denies_by_default_and_limits_build_egress() -> None:
    policies = {m["metadata"]["name"]: m for m in all_manifests() if m["kind"] == "NetworkPolicy"}
    default = policies["default-policy"]["spec"]
    assert default["policyTypes"] == ["Ingress", "Egress"]
    peers = default["ingress"][0]["from"]
    assert peers[0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }
    build = policies["build-egress"]["spec"]["egress"][0]
    assert build["to"] == [{"ipBlock": {"cidr": "10.0.0.0/8"}}]
    assert [p["port"] for p in build["ports"]] == [443, 5000]


@pytest.mark.parametrize(
    ("cidrs", "excluded", "blocks"),
    [
        # the default egress holds the API server: its ClusterIP and endpoint are excepted
        (
            ("0.0.0.0/0",),
            ("10.96.0.1", "172.18.0.2"),
            [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.96.0.1/32", "172.18.0.2/32"]}}],
        ),
        # an address outside a block is not named in it; an IPv6 one never in an IPv4 block
        (
            ("140.82.112.0/20", "10.0.0.0/8"),
            ("10.96.0.1", "fd00::1"),
            [
                {"ipBlock": {"cidr": "140.82.112.0/20"}},
                {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.96.0.1/32"]}},
            ],
        ),
        # a block that is only the API server (named on purpose) is left out
        (("10.96.0.1/32", "10.1.0.0/16"), ("10.96.0.1",), [{"ipBlock": {"cidr": "10.1.0.0/16"}}]),
        (
            ("::/0",),
            ("fd00::1", "10.96.0.1"),
            [{"ipBlock": {"cidr": "::/0", "except": ["fd00::1/128"]}}],
        ),
    ],
)
def test_build_egress_never_reaches_the_api_server(
    cidrs: tuple[str, ...], excluded: tuple[str, ...], blocks: list[dict[str, Any]]
) -> None:
    assert manifests.egress_blocks(cidrs, excluded) == blocks


def test_a_build_policy_with_nothing_left_allows_no_egress_at_all() -> None:
    # an egress rule whose `to` is empty admits every destination: the rule must go, not stay empty
    policy = manifests.build_network_policy(
        "ns", {}, cidrs=("10.96.0.1/32",), ports=(443,), excluded=("10.96.0.1",)
    )
    assert policy["spec"]["egress"] == []
    assert policy["spec"]["policyTypes"] == ["Egress"]


def test_quota_uses_project_resources_over_defaults() -> None:
    quota = next(m for m in all_manifests() if m["kind"] == "ResourceQuota")
    assert quota["spec"]["hard"] == {
        "requests.cpu": "2",
        "requests.memory": "4Gi",
        "limits.cpu": "6",
        "limits.memory": "8Gi",
        "pods": "30",
        "persistentvolumeclaims": "10",
        "requests.storage": "20Gi",
    }


@pytest.mark.parametrize(
    ("template", "override", "expected"),
    [
        pytest.param(
            {"env": [{"name": "A", "value": "1"}]}, None, [("A", "1")], id="template-only"
        ),
        pytest.param(
            {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]},
            [("A", "1"), ("B", "3"), ("C", "4")],
            id="merge-by-name",
        ),
        pytest.param(
            None, {"env": [{"name": "C", "value": "4"}]}, [("C", "4")], id="override-only"
        ),
    ],
)
def test_resolve_config_merges_env_by_name(
    template: dict[str, Any] | None,
    override: dict[str, Any] | None,
    expected: list[tuple[str, str]],
) -> None:
    from core.model import EnvironmentConfig

    resolved = resolve_config(
        EnvironmentConfig.model_validate(template) if template else None,
        EnvironmentConfig.model_validate(override) if override else None,
    )
    assert [(v.name, v.value) for v in resolved.env or []] == expected


def test_resolve_config_override_fields_replace() -> None:
    from core.model import EnvironmentConfig

    template = EnvironmentConfig.model_validate({"image": "a:1", "command": ["x"]})
    override = EnvironmentConfig.model_validate({"image": "b:2"})
    resolved = resolve_config(template, override)
    assert (resolved.image, resolved.command) == ("b:2", ["x"])


def test_kaniko_reads_the_sample_dockerfile_under_its_path_and_a_plain_http_registry() -> None:
    sample = Path(__file__).parents[2] / "crds" / "examples" / "project-helm.yaml"
    doc = yaml.safe_load(sample.read_text())
    doc["spec"]["templates"]["development"]["type"] = "docker"  # the Job is the same for every mode
    project = Project.model_validate(doc)
    env_obj = environment_obj()
    env_obj["spec"]["projectRef"]["name"] = project.metadata.name
    env_obj["spec"]["sources"][0]["name"] = "app"
    env = Environment.model_validate(env_obj)
    settings = dataclasses.replace(SETTINGS, registry_insecure=True)
    ctx, _ = build_context(Observed(env, project, settings))
    builds = ctx.template.builds or []
    [worker] = [b for b in builds if b.name == "worker"]
    args = build_job(ctx, worker, "registry.local:5000/x:y", None)["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert "--context-sub-path=worker" in args and "--dockerfile=Dockerfile.prod" in args
    assert "--insecure" in args and "--insecure-pull" in args
    plain = build_job(dataclasses.replace(ctx, settings=SETTINGS), worker, "r/x:y", None)
    assert "--insecure" not in plain["spec"]["template"]["spec"]["containers"][0]["args"]
