"""Helm mode: values we pass (checked with the real helm binary), and the release lifecycle
through a recording fake runner (install, no-op, upgrade, timeout, pending repair, chart error)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from core.errors import ConfigError, TemporaryError
from core.model import EnvironmentStatus, ReleaseStatus
from reconciler.helm import (
    ChartSource,
    CliHelmRunner,
    Helm,
    HelmFailed,
    HelmResult,
    HelmTimeout,
    ReleaseSpec,
    raise_for,
    trim_error,
    upgrade_argv,
)
from reconciler.modes import ModeContext, ModeIO
from reconciler.modes.helm import (
    HelmMode,
    helm_values,
    split_image,
    values_document,
    workload_keys,
)
from tests.reconciler.mode_support import CHARTS, HELM_BIN, context
from tests.reconciler.support import ENV_NS, SHA1, SHA2
from tests.support.fake_helm import FakeHelm
from tests.support.fake_sources import LocalSourceFetcher

IMAGE = "registry.local:5000/acme/shop/web:" + SHA1
TEMPLATE: dict[str, Any] = {
    "type": "helm",
    "sourceRef": "main",
    "path": "deploy/chart",
    "builds": [{"name": "web", "sourceRef": "main", "path": "web"}],
    "values": {"replicas": 2, "env": {"FROM_TEMPLATE": "yes"}, "global": {"images": {}}},
    "config": {"env": [{"name": "MODE", "value": "preview"}]},
}
PASSTHROUGH: dict[str, Any] = {
    "type": "helm",
    "sourceRef": "main",
    "path": "deploy/chart",
    "valuesPassthrough": True,
    "values": {
        "replicas": 1,
        "global": {"images": {"web": {"repository": "mine", "tag": "v9"}}},
        "ünïcode": "ok",
        "nested": {"list": [3, 1, 2]},
    },
}

needs_helm = pytest.mark.skipif(not Path(HELM_BIN).exists(), reason="run scripts/get-helm.sh")


@pytest.fixture
def sources(tmp_path: Path) -> LocalSourceFetcher:
    for sha in (SHA1, SHA2):
        chart = tmp_path / "src" / sha / "deploy" / "chart"
        chart.parent.mkdir(parents=True)
        shutil.copytree(CHARTS / "app", chart)
    return LocalSourceFetcher(tmp_path / "src")


def real_helm() -> Helm:
    return Helm(CliHelmRunner(), HELM_BIN)


def write_values(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "values.json"
    path.write_text(text, encoding="utf-8")
    return path


# --- values --------------------------------------------------------------------------------------


def test_values_inject_images_env_labels_and_preview_facts() -> None:
    ctx = context(TEMPLATE, images={"web": IMAGE})
    values = helm_values(ctx)
    assert values["replicas"] == 2
    assert values["global"]["images"] == {
        "web": {"repository": "registry.local:5000/acme/shop/web", "tag": SHA1}
    }
    assert values["env"] == {"FROM_TEMPLATE": "yes", "MODE": "preview", "LOG": "debug"}
    assert values["global"]["labels"] == dict(ctx.labels)
    catalyst = values["global"]["catalyst"]
    assert catalyst["host"] == ctx.host and catalyst["commitSha"] == SHA1
    assert catalyst["namespace"] == ENV_NS


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("registry:5000/a/b:abc", {"repository": "registry:5000/a/b", "tag": "abc"}),
        ("registry:5000/a/b", {"repository": "registry:5000/a/b", "tag": "latest"}),
        ("nginx", {"repository": "nginx", "tag": "latest"}),
        ("r/a@sha256:00", {"repository": "r/a", "tag": "", "digest": "sha256:00"}),
    ],
)
def test_split_image_at_last_colon(ref: str, expected: dict[str, str]) -> None:
    assert split_image(ref) == expected


def test_passthrough_values_are_the_template_values_byte_for_byte() -> None:
    ctx = context(PASSTHROUGH, images={"web": IMAGE})
    assert values_document(ctx) == json.dumps(
        PASSTHROUGH["values"], ensure_ascii=False, separators=(",", ":")
    )
    assert json.loads(values_document(ctx)) == PASSTHROUGH["values"]


@needs_helm
def test_real_helm_template_renders_injected_images_and_labels(tmp_path: Path) -> None:
    ctx = context(TEMPLATE, images={"web": IMAGE})
    values = write_values(tmp_path, values_document(ctx))
    rendered = real_helm().template("pr-1", ENV_NS, ChartSource(str(CHARTS / "app")), values)
    docs = {d["kind"]: d for d in yaml.safe_load_all(rendered) if d}
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert {e["name"]: e["value"] for e in container["env"]} == {
        "FROM_TEMPLATE": "yes",
        "LOG": "debug",
        "MODE": "preview",
    }
    assert docs["Deployment"]["spec"]["replicas"] == 2
    for key, value in ctx.labels.items():
        assert docs["Deployment"]["metadata"]["labels"][key] == value
    assert docs["Ingress"]["spec"]["rules"][0]["host"] == ctx.host
    for doc in docs.values():
        kubernetes_validate.validate(doc, "1.29", strict=True)
    real_helm().lint(CHARTS / "app", values)


@needs_helm
def test_real_helm_passthrough_renders_exactly_the_users_values(tmp_path: Path) -> None:
    ours = write_values(tmp_path, values_document(context(PASSTHROUGH, images={"web": IMAGE})))
    theirs = tmp_path / "theirs.yaml"
    theirs.write_text(yaml.safe_dump(PASSTHROUGH["values"], allow_unicode=True), encoding="utf-8")
    chart = ChartSource(str(CHARTS / "app"))
    assert real_helm().template("pr-1", ENV_NS, chart, ours) == real_helm().template(
        "pr-1", ENV_NS, chart, theirs
    )
    assert 'image: "mine:v9"' in real_helm().template("pr-1", ENV_NS, chart, ours)


@needs_helm
def test_real_helm_chart_error_is_trimmed_and_actionable(tmp_path: Path) -> None:
    values = write_values(tmp_path, "{}")
    with pytest.raises(HelmFailed) as info:
        real_helm().template("pr-1", ENV_NS, ChartSource(str(CHARTS / "app")), values)
    message = str(info.value)
    assert "global.images.web is required" in message
    assert "--debug" not in message and "Error:" not in message
    with pytest.raises(HelmFailed, match=r"function \"shout\" not defined"):
        real_helm().lint(CHARTS / "broken", values)


# --- argv and errors -----------------------------------------------------------------------------


def test_upgrade_argv_does_not_wait_keeps_timeout_and_our_values_only(tmp_path: Path) -> None:
    spec = ReleaseSpec(
        "pr-1",
        ENV_NS,
        ChartSource("app", "https://charts.example.com", "1.2.3"),
        tmp_path / "v.json",
        120,
        "catalyst-preview abc",
        {"a": "b"},
    )
    argv = upgrade_argv("/bin/helm", spec)
    assert argv[:6] == ["/bin/helm", "upgrade", "--install", "pr-1", "app", "--repo"]
    for flag, value in [
        ("--namespace", ENV_NS),
        ("--timeout", "120s"),
        ("--version", "1.2.3"),
        ("--values", str(tmp_path / "v.json")),
        ("--labels", "a=b"),
    ]:
        assert argv[argv.index(flag) + 1] == value
    # Intentionally changed (issue 17): no `--wait`, and no `--atomic` (it implies `--wait`).
    assert "--wait" not in argv and "--atomic" not in argv
    assert "--reset-values" in argv and "--reuse-values" not in argv


@pytest.mark.parametrize(
    ("stderr", "error"),
    [
        ("Error: Kubernetes cluster unreachable: connection refused\n", TemporaryError),
        ("Error: UPGRADE FAILED: context deadline exceeded\n", HelmTimeout),
        ("walk.go:74: found symbolic link\nError: template: bad\n", HelmFailed),
    ],
)
def test_failures_map_to_core_errors(stderr: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        raise_for(HelmResult(1, "", stderr), "helm upgrade pr-1")


def test_trim_error_is_bounded_and_drops_noise() -> None:
    noisy = "WARNING: kube config is group-readable\n" + "Error: " + "x" * 2000
    trimmed = trim_error(noisy)
    assert len(trimmed) <= 600 and "WARNING" not in trimmed and trimmed.endswith("…")


def test_missing_helm_binary_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="cannot run helm"):
        CliHelmRunner().run(["/nonexistent/helm", "version"], timeout=5)


# --- lifecycle through the fake runner ----------------------------------------------------------


def lifecycle(sources: LocalSourceFetcher) -> tuple[HelmMode, FakeHelm, ModeIO]:
    fake = FakeHelm()
    return HelmMode(sources), fake, ModeIO(helm=Helm(fake, "helm"))


def test_install_then_no_new_revision_when_nothing_changed(sources: LocalSourceFetcher) -> None:
    mode, fake, io = lifecycle(sources)
    ctx = context(TEMPLATE, images={"web": IMAGE})
    mode.apply(ctx, io)
    mode.apply(ctx, io)
    mode.apply(ctx, io)
    revisions = fake.releases[(ENV_NS, "pr-1")]
    assert [r.status for r in revisions] == ["deployed"]
    assert json.loads(revisions[0].values) == helm_values(ctx)
    assert len(fake.upgrades()) == 1


def test_new_commit_upgrades_once(sources: LocalSourceFetcher) -> None:
    mode, fake, io = lifecycle(sources)
    mode.apply(context(TEMPLATE, images={"web": IMAGE}), io)
    new = context(TEMPLATE, sha=SHA2, images={"web": IMAGE.replace(SHA1, SHA2)})
    mode.apply(new, io)
    mode.apply(new, io)
    statuses = [r.status for r in fake.releases[(ENV_NS, "pr-1")]]
    assert statuses == ["superseded", "deployed"]
    assert sources.requests[-1][0].commit_sha == SHA2


def test_timeout_fails_with_message_and_next_pass_retries(sources: LocalSourceFetcher) -> None:
    mode, fake, io = lifecycle(sources)
    fake.outcomes = ["timeout"]
    ctx = context(TEMPLATE, images={"web": IMAGE})
    with pytest.raises(HelmTimeout, match="context deadline exceeded"):
        mode.apply(ctx, io)
    mode.apply(ctx, io)
    assert [r.status for r in fake.releases[(ENV_NS, "pr-1")]] == ["failed", "deployed"]


def test_pending_upgrade_left_by_a_crash_is_rolled_back_then_upgraded(
    sources: LocalSourceFetcher,
) -> None:
    mode, fake, io = lifecycle(sources)
    mode.apply(context(TEMPLATE, images={"web": IMAGE}), io)
    fake.outcomes = ["crash"]
    new = context(TEMPLATE, sha=SHA2, images={"web": IMAGE.replace(SHA1, SHA2)})
    with pytest.raises(HelmFailed):
        mode.apply(new, io)
    assert fake.releases[(ENV_NS, "pr-1")][-1].status == "pending-upgrade"
    mode.apply(new, io)
    statuses = [r.status for r in fake.releases[(ENV_NS, "pr-1")]]
    assert statuses == ["superseded", "superseded", "superseded", "deployed"]
    assert "rollback" in fake.verbs()


def test_pending_install_is_uninstalled_then_installed(sources: LocalSourceFetcher) -> None:
    mode, fake, io = lifecycle(sources)
    fake.outcomes = ["crash"]
    ctx = context(TEMPLATE, images={"web": IMAGE})
    with pytest.raises(HelmFailed):
        mode.apply(ctx, io)
    mode.apply(ctx, io)
    assert [r.status for r in fake.releases[(ENV_NS, "pr-1")]] == ["deployed"]
    assert fake.verbs().count("uninstall") == 1


def test_chart_error_becomes_a_config_error_with_the_charts_message(
    sources: LocalSourceFetcher,
) -> None:
    mode, fake, io = lifecycle(sources)
    fake.outcomes = ["chart-error"]
    with pytest.raises(ConfigError, match=r"global\.images\.web is required"):
        mode.apply(context(TEMPLATE, images={"web": IMAGE}), io)
    assert (ENV_NS, "pr-1") not in fake.releases


def test_teardown_uninstalls_and_tolerates_a_missing_release(sources: LocalSourceFetcher) -> None:
    mode, fake, io = lifecycle(sources)
    ctx = context(TEMPLATE, images={"web": IMAGE})
    mode.apply(ctx, io)
    mode.teardown(ctx, io)
    mode.teardown(ctx, io)
    assert fake.releases == {}


def test_chart_missing_at_the_commit_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / SHA1).mkdir()
    mode, _, io = lifecycle(LocalSourceFetcher(tmp_path))
    with pytest.raises(ConfigError, match="chart not found at deploy/chart"):
        mode.apply(context(TEMPLATE, images={"web": IMAGE}), io)


def test_remote_charts_oci_and_https(sources: LocalSourceFetcher) -> None:
    mode, fake, io = lifecycle(sources)
    fake.remote_chart_dir = CHARTS / "app"
    oci = {
        **TEMPLATE,
        "chart": {"repository": "oci://ghcr.io/acme/charts", "name": "app", "version": "1.0.0"},
    }
    mode.apply(context(oci, images={"web": IMAGE}), io)
    assert fake.templates()[-1][3] == "oci://ghcr.io/acme/charts/app"
    https = {**TEMPLATE, "chart": {"repository": "https://charts.example.com", "name": "app"}}
    mode.apply(context(https, images={"web": IMAGE}), io)
    argv = fake.templates()[-1]
    assert argv[3] == "app" and argv[argv.index("--repo") + 1] == "https://charts.example.com"
    assert len(fake.releases[(ENV_NS, "pr-1")]) == 2
    with pytest.raises(ConfigError, match=r"chart\.name is required"):
        mode.fingerprint(context({**TEMPLATE, "chart": {"repository": "https://x"}}))


# --- the release's workloads and readiness without --wait ----------------------------------------


def with_release(ctx: ModeContext, release: ReleaseStatus | None) -> ModeContext:
    """`ctx` whose Environment status recorded `release` (as an earlier pass wrote it)."""
    env = ctx.environment.model_copy(update={"status": EnvironmentStatus(release=release)})
    return dataclasses.replace(ctx, environment=env)


def rolled_out(name: str, *, available: int = 1, kind: str = "Deployment") -> dict[str, Any]:
    """A live workload whose controller observed generation 2 with `available` ready replicas."""
    status: dict[str, Any] = {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1}
    status |= {"availableReplicas": available, "readyReplicas": available}
    meta = {"name": name, "namespace": ENV_NS, "generation": 2}
    return {"kind": kind, "metadata": meta, "spec": {"replicas": 1}, "status": status}


def test_apply_returns_the_revision_and_workloads_of_the_manifest_helm_printed(
    sources: LocalSourceFetcher,
) -> None:
    mode, fake, io = lifecycle(sources)
    ctx = context(TEMPLATE, images={"web": IMAGE})
    first = mode.apply(ctx, io)
    assert first == ReleaseStatus(name="pr-1", revision=1, workloads=["Deployment/web"])
    upgrade = fake.upgrades()[-1]
    assert "--wait" not in upgrade and "--atomic" not in upgrade
    # Nothing changed and the status knows this revision: no helm call beyond `history`.
    calls = len(fake.calls)
    assert mode.apply(with_release(ctx, first), io) == first
    assert fake.verbs()[calls:] == ["history"]


def test_a_lost_status_write_reads_the_manifest_once_for_that_revision(
    sources: LocalSourceFetcher,
) -> None:
    mode, fake, io = lifecycle(sources)
    ctx = context(TEMPLATE, images={"web": IMAGE})
    mode.apply(ctx, io)
    again = mode.apply(ctx, io)  # the status never recorded the release
    assert again == ReleaseStatus(name="pr-1", revision=1, workloads=["Deployment/web"])
    assert fake.verbs().count("get") == 1 and len(fake.upgrades()) == 1


def test_workload_keys_are_the_deployments_and_statefulsets_of_the_manifest() -> None:
    manifest = "\n---\n".join(
        [
            "kind: ConfigMap\nmetadata: {name: settings}",
            "kind: StatefulSet\nmetadata: {name: db}",
            "# Source: app/templates/empty.yaml",
            "kind: Deployment\nmetadata: {name: web}",
            "kind: Job\nmetadata: {name: migrate}",
        ]
    )
    assert workload_keys(manifest) == ["Deployment/web", "StatefulSet/db"]
    assert workload_keys("") == []


def test_readiness_is_never_judged_in_the_pass_that_applies() -> None:
    ctx = with_release(
        context(TEMPLATE, images={"web": IMAGE}),
        ReleaseStatus(name="pr-1", revision=1, workloads=["Deployment/web"]),
    )
    applying = HelmMode(None).readiness(
        dataclasses.replace(ctx, applying=True), {("Deployment", "web"): rolled_out("web")}
    )
    assert not applying.ready and applying.stale and applying.reason == "ReleaseApplied"


def test_readiness_follows_the_release_workloads_only() -> None:
    mode = HelmMode(None)
    release = ReleaseStatus(name="pr-1", revision=2, workloads=["Deployment/web"])
    ctx = with_release(context(TEMPLATE, images={"web": IMAGE}), release)
    other = {("Deployment", "leftover"): rolled_out("leftover", available=0)}
    missing = mode.readiness(ctx, other)
    assert (missing.ready, missing.reason) == (False, "WorkloadMissing")
    starting = mode.readiness(ctx, {**other, ("Deployment", "web"): rolled_out("web", available=0)})
    assert (starting.ready, starting.reason) == (False, "RolloutInProgress")
    ready = mode.readiness(ctx, {**other, ("Deployment", "web"): rolled_out("web")})
    assert ready.ready and "revision 2" in ready.message


def test_a_release_without_workloads_is_ready_once_applied() -> None:
    ctx = with_release(
        context(TEMPLATE, images={"web": IMAGE}),
        ReleaseStatus(name="pr-1", revision=1, workloads=[]),
    )
    readiness = HelmMode(None).readiness(ctx, {})
    assert readiness.ready and "0 workload(s)" in readiness.message


def test_every_object_the_api_server_refused_is_in_the_message() -> None:
    stderr = (
        "Error: INSTALLATION FAILED: 2 errors occurred:\n"
        '\t* Service "web" is invalid: spec.ports[0].targetPort: Invalid value: 70000\n'
        '\t* Deployment.apps "web" is invalid: containerPort: Invalid value: 70000\n\n'
    )
    with pytest.raises(HelmFailed) as info:
        raise_for(HelmResult(1, "", stderr), "helm upgrade pr-1")
    assert str(info.value) == (
        "helm upgrade pr-1: INSTALLATION FAILED: 2 errors occurred: "
        'Service "web" is invalid: spec.ports[0].targetPort: Invalid value: 70000; '
        'Deployment.apps "web" is invalid: containerPort: Invalid value: 70000'
    )
    assert info.value.reason == "HelmFailed"


def test_a_statefulset_is_ready_only_once_its_rolling_update_finished() -> None:
    """helm --wait's StatefulSet rule, now the reconciler's: ready old pods are not enough."""
    mode = HelmMode(None)
    release = ReleaseStatus(name="pr-1", revision=2, workloads=["StatefulSet/db"])
    ctx = with_release(context(TEMPLATE, images={"web": IMAGE}), release)
    db = rolled_out("db", kind="StatefulSet")
    db["status"] |= {"currentRevision": "db-1", "updateRevision": "db-2", "updatedReplicas": 0}
    assert not mode.readiness(ctx, {("StatefulSet", "db"): db}).ready
    db["status"] |= {"updatedReplicas": 1}
    assert not mode.readiness(ctx, {("StatefulSet", "db"): db}).ready
    db["status"] |= {"currentRevision": "db-2"}
    assert mode.readiness(ctx, {("StatefulSet", "db"): db}).ready
    db["spec"]["updateStrategy"] = {"type": "OnDelete"}
    db["status"] |= {"currentRevision": "db-1", "updatedReplicas": 0}
    assert mode.readiness(ctx, {("StatefulSet", "db"): db}).ready
