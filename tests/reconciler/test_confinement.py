"""A PR's chart and manifests stay inside the preview (issue 13): rendered offline, every object
checked, installed as the namespace's deployer ServiceAccount; the namespace enforces a Pod
Security Standard. These run on kubefake and the fake helm runner; the RBAC 403, pod-security
and admission-policy refusals belong on the real control plane (tests/support/control_plane.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from core.safeyaml import UnsafeYaml
from reconciler.confinement import (
    DEPLOYER_SA,
    PSA_ENFORCE,
    Boundary,
    Refused,
    confine,
    deployer_user,
)
from reconciler.helm import Helm
from reconciler.modes import ModeIO
from reconciler.modes.helm import ForkChartRefused, HelmMode
from tests.kubefake import KubeFake
from tests.reconciler.mode_support import CHARTS, context
from tests.reconciler.support import ENV_NS, SHA1, environment_obj, make_rig, project_obj, seed
from tests.reconciler.test_untrusted_inputs import ALIAS_BOMB
from tests.support.fake_helm import FakeHelm
from tests.support.fake_sources import LocalSourceFetcher

HOST = f"{ENV_NS}.preview.example.com"
BOUNDARY = Boundary(ENV_NS, HOST)
TEMPLATE: dict[str, Any] = {"type": "helm", "sourceRef": "main", "path": "chart"}
# The ten-line chart of the issue: reads a Secret of kube-system through `lookup` into its
# release, and declares an object in another namespace.
LOOKUP_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: thief\nversion: 0.1.0\n",
    "templates/steal.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n"
        '  creds: {{ (lookup "v1" "Secret" "kube-system" "cloud-creds").data | toJson | quote }}\n'
    ),
    "templates/elsewhere.yaml": (
        "{{- if .Values.escape }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: planted\n  namespace: kube-system\n{{- end }}\n"
    ),
}


def obj(kind: str, name: str = "x", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, **extra}


def ingress(*hosts: str | None) -> dict[str, Any]:
    rules = [{"host": h} if h else {} for h in hosts]
    return {**obj("Ingress", "web"), "spec": {"rules": rules}}


def deployment(account: str | None) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    if account:
        pod["serviceAccountName"] = account
    return {**obj("Deployment", "web"), "spec": {"template": {"spec": pod}}}


def test_objects_inside_the_preview_are_placed_in_its_namespace() -> None:
    placed = confine([obj("ConfigMap"), ingress(HOST), obj("ServiceAccount", "app")], BOUNDARY)
    assert {o["metadata"]["namespace"] for o in placed} == {ENV_NS}


@pytest.mark.parametrize(
    ("objects", "finding"),
    [
        ([obj("ClusterRoleBinding")], "kind ClusterRoleBinding is not allowed"),
        ([obj("Namespace")], "kind Namespace is not allowed"),
        ([obj("NetworkPolicy")], "kind NetworkPolicy is not allowed"),
        ([obj("RoleBinding")], "kind RoleBinding is not allowed"),
        (
            [{**obj("Secret"), "metadata": {"name": "s", "namespace": "kube-system"}}],
            "namespace kube-system is not the preview's",
        ),
        ([ingress("shop.example.com")], "host 'shop.example.com' is not"),
        ([ingress(None)], "no host: every host"),
        ([deployment("admin")], "ServiceAccount admin is not one of the preview's own"),
        ([obj("ServiceAccount", DEPLOYER_SA)], "is reserved"),
    ],
)
def test_objects_reaching_beyond_the_preview_are_refused(
    objects: list[dict[str, Any]], finding: str
) -> None:
    with pytest.raises(Refused, match=finding):
        confine(objects, BOUNDARY)


def test_pods_may_use_the_previews_own_service_accounts() -> None:
    placed = confine([obj("ServiceAccount", "app"), deployment("app"), deployment(None)], BOUNDARY)
    assert len(placed) == 3


# --- the helm path -------------------------------------------------------------------------------


def chart_sources(root: Path, files: dict[str, str] | None = None) -> LocalSourceFetcher:
    chart = root / SHA1 / "chart"
    if files is None:
        shutil.copytree(CHARTS / "app", chart)
    for path, text in (files or {}).items():
        (chart / path).parent.mkdir(parents=True, exist_ok=True)
        (chart / path).write_text(text)
    return LocalSourceFetcher(root)


def test_lookup_chart_sees_nothing_and_is_installed_as_the_deployer(tmp_path: Path) -> None:
    fake = FakeHelm()
    HelmMode(chart_sources(tmp_path, LOOKUP_CHART)).apply(
        context(TEMPLATE), ModeIO(helm=Helm(fake, "helm"))
    )
    (revision,) = fake.releases[(ENV_NS, "pr-1")]
    assert revision.user == deployer_user(ENV_NS)
    (stolen,) = revision.objects
    assert stolen["metadata"] == {"name": "stolen", "namespace": ENV_NS}
    assert stolen["data"] == {"creds": "null"}  # `lookup` rendered offline finds nothing


def test_chart_declaring_an_object_in_another_namespace_installs_nothing(tmp_path: Path) -> None:
    fake = FakeHelm()
    template = {**TEMPLATE, "values": {"escape": True}}
    with pytest.raises(Refused, match="ConfigMap planted: namespace kube-system"):
        HelmMode(chart_sources(tmp_path, LOOKUP_CHART)).apply(
            context(template), ModeIO(helm=Helm(fake, "helm"))
        )
    assert fake.releases == {}


def test_in_repo_chart_of_a_fork_is_refused_when_the_project_says_so(tmp_path: Path) -> None:
    fake = FakeHelm()
    ctx = context(TEMPLATE, sources=[fork_source()])
    ctx.project.spec.security.fork_charts = "refuse"
    with pytest.raises(ForkChartRefused, match="forkCharts: refuse"):
        HelmMode(chart_sources(tmp_path)).apply(ctx, ModeIO(helm=Helm(fake, "helm")))
    assert fake.releases == {}


def fork_source() -> dict[str, Any]:
    return {"name": "main", "commitSha": SHA1, "branch": "x", "prNumber": 1, "fork": True}


# --- through the reconciler ----------------------------------------------------------------------


def test_preview_namespace_enforces_pod_security_and_workloads_are_written_as_deployer(
    kubefake: KubeFake,
) -> None:
    seed(kubefake, builds=False)
    project = project_obj("docker", builds=False)
    project["spec"]["security"] = {"podSecurity": "restricted"}
    kubefake.put_object(project)
    kubefake.controllers.enable("deployments", "namespaces")
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
    rig.run_until(rig.phase_is("Ready"))
    namespace = kubefake.get("namespaces", ENV_NS) or {}
    assert namespace["metadata"]["labels"][PSA_ENFORCE] == "restricted"
    binding = kubefake.get("rolebindings", DEPLOYER_SA, ENV_NS) or {}
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": DEPLOYER_SA, "namespace": ENV_NS}
    ]
    default_account = kubefake.get("serviceaccounts", "default", ENV_NS) or {}
    assert default_account["automountServiceAccountToken"] is False
    writes = [r for r in kubefake.log.all() if r.is_write and r.resource == "deployments"]
    assert writes and {r.user for r in writes} == {deployer_user(ENV_NS)}


def test_a_charts_service_accounts_mount_no_token_unless_they_say_so() -> None:
    placed = confine(
        [
            obj("ServiceAccount", "app"),
            {**obj("ServiceAccount", "api"), "automountServiceAccountToken": True},
        ],
        BOUNDARY,
    )
    assert [o["automountServiceAccountToken"] for o in placed] == [False, True]


def test_default_quota_caps_volume_claims_and_storage() -> None:
    from reconciler.manifests import quota_hard

    hard = quota_hard(None)
    assert (hard["persistentvolumeclaims"], hard["requests.storage"]) == ("10", "20Gi")


@pytest.mark.parametrize("path", ["values.yaml", "charts/sub/values.yaml", "Chart.yaml"])
def test_a_chart_whose_yaml_is_an_alias_bomb_is_refused_before_helm_reads_it(
    tmp_path: Path, path: str
) -> None:
    files = {**LOOKUP_CHART, "charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n"}
    files[path] = ALIAS_BOMB.replace("services: {web: {image: nginx}}", "apiVersion: v2")
    fake = FakeHelm()
    with pytest.raises(UnsafeYaml, match=f"chart {path}: YAML aliases are not allowed"):
        HelmMode(chart_sources(tmp_path, files)).apply(
            context(TEMPLATE), ModeIO(helm=Helm(fake, "helm"))
        )
    assert fake.releases == {}  # helm neither rendered nor installed anything
