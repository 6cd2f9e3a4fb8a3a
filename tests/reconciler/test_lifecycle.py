"""Lifecycle of an Environment on the real control plane: real Job, Deployment, namespace and
garbage-collection controllers, pods run by the simulated node, builds failed through kubelet
rules. The one request-counting test runs on ``tests/kubefake`` (a real server keeps no log).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from core import conditions, naming
from tests.kubefake import KubeFake
from tests.reconciler.support import (
    SETTINGS,
    SHA1,
    SHA2,
    Live,
    Rig,
    environment_obj,
    make_rig,
    seed,
)
from tests.support.control_plane import ControlPlane
from tests.support.waiting import wait_for

GIT_TOKENS = "catalyst.dev/git-token=true"


def test_new_environment_goes_from_pending_to_ready(live: Live) -> None:
    live.seed()
    rig = live.rig()
    live.kube.put_object(live.environment())
    ns = live.env_ns()
    phases: list[str] = []

    def seen_ready() -> bool:
        phase = rig.status().get("phase")
        if phase and (not phases or phases[-1] != phase):
            phases.append(phase)
        return phase == "Ready"

    rig.run_until(seen_ready)
    assert phases[-3:] == ["Building", "Deploying", "Ready"] or phases == ["Building", "Ready"]
    status = rig.status()
    assert status["commitSha"] == SHA1
    assert status["url"] == f"https://{ns}.preview.example.com/"
    env = rig.env()
    assert env is not None
    assert naming.FINALIZER in env["metadata"]["finalizers"]
    for kind, name in [
        ("resourcequotas", "default-quota"),
        ("limitranges", "default-limits"),
        ("networkpolicies", "default-policy"),
        ("secrets", "registry-credentials"),
        ("deployments", "web"),
        ("services", "web"),
        ("ingresses", "web"),
    ]:
        assert live.kube.get(kind, name, ns) is not None, (kind, name)
    deployment: Any = live.kube.get("deployments", "web", ns)
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"registry.local:5000/{live.names.team}/shop/app:{SHA1}"
    assert deployment["status"]["availableReplicas"] >= 1  # the real rollout finished
    assert rig.enqueued.sent
    assert live.kube.list("secrets", ns, GIT_TOKENS) == []
    # builds reach 10.0.0.0/8 (the settings) but never the API server's ClusterIP inside it
    build: Any = live.kube.get("networkpolicies", "build-egress", ns)
    assert build["spec"]["egress"][0]["to"] == [
        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.96.0.1/32"]}}
    ]


def ready_rig(live: Live) -> Rig:
    """A Ready pr-1 at SHA1 (real controllers; the build Job succeeds on the simulated node)."""
    live.seed()
    rig = live.rig()
    live.kube.put_object(live.environment())
    rig.run_until(rig.phase_is("Ready"))
    return rig


def test_build_failure_ends_failed_with_reason_and_job(
    live: Live, control_plane: ControlPlane
) -> None:
    live.seed()
    rig = live.rig()
    ns = live.env_ns()
    with control_plane.rules.command_failing(live.build_marker()):
        live.kube.put_object(live.environment())
        rig.run_until(rig.phase_is("Failed"))
    status = rig.status()
    job_name = naming.build_job_name("app", SHA1)
    assert job_name in status["message"]
    built = next(c for c in status["conditions"] if c["type"] == "Built")
    assert (built["status"], built["reason"]) == ("False", "BuildFailed")
    assert live.kube.get("deployments", "web", ns) is None
    assert live.kube.list("secrets", ns, GIT_TOKENS) == []
    # Never retried automatically: reconciling again keeps the same failed Job and Failed.
    job: Any = live.kube.get("jobs", job_name, ns)
    rig.run()
    again: Any = live.kube.get("jobs", job_name, ns)
    assert again["metadata"]["uid"] == job["metadata"]["uid"]
    assert [j["metadata"]["name"] for j in live.kube.list("jobs", ns)] == [job_name]
    assert rig.status()["phase"] == "Failed"


def test_rebuild_nonce_rebuilds_a_failed_commit(live: Live, control_plane: ControlPlane) -> None:
    live.seed()
    rig = live.rig()
    with control_plane.rules.command_failing(live.build_marker()):
        live.kube.put_object(live.environment())
        rig.run_until(rig.phase_is("Failed"))
    first: Any = live.kube.get("jobs", naming.build_job_name("app", SHA1), live.env_ns())
    assert "--cache=true" in kaniko_args(first)
    live.set_spec(rebuildNonce="r1")
    rig.run_until(rig.phase_is("Ready"))
    job: Any = live.kube.get("jobs", naming.build_job_name("app", SHA1), live.env_ns())
    assert job["metadata"]["annotations"]["catalyst.dev/rebuild-nonce"] == "r1"
    assert job["status"]["succeeded"] == 1
    assert "--cache=false" in kaniko_args(job)  # "rebuild from scratch": no layer cache
    live.set_spec(sources=[{"name": "main", "commitSha": SHA2, "branch": "feature/x"}])
    rig.run_until(rig.phase_is("Ready"))
    pushed: Any = live.kube.get("jobs", naming.build_job_name("app", SHA2), live.env_ns())
    assert "--cache=true" in kaniko_args(pushed)  # the next commit builds with the cache again


def kaniko_args(job: dict[str, Any]) -> list[str]:
    return list(job["spec"]["template"]["spec"]["containers"][0]["args"])


def job_gone(live: Live, sha: str) -> bool:
    return live.kube.get("jobs", naming.build_job_name("app", sha), live.env_ns()) is None


def test_new_sha_rebuilds_while_old_serves_and_supersedes_builds(
    live: Live, control_plane: ControlPlane
) -> None:
    rig = ready_rig(live)
    ns = live.env_ns()
    with control_plane.rules.image_missing(SETTINGS.builder_image):  # builds cannot start
        live.set_spec(sources=[{"name": "main", "commitSha": SHA2, "branch": "feature/x"}])
        rig.run()
        status = rig.status()
        assert status["phase"] == "Building"
        assert (status["commitSha"], status["targetCommitSha"]) == (SHA1, SHA2)
        deployment: Any = live.kube.get("deployments", "web", ns)
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(SHA1)
        wait_for("the old build Job to go", lambda: job_gone(live, SHA1))
        # A third commit supersedes the running build of the second.
        sha3 = "c" * 40
        live.set_spec(sources=[{"name": "main", "commitSha": sha3, "branch": "feature/x"}])
        rig.run()
        wait_for("the superseded build Job to go", lambda: job_gone(live, SHA2))
        assert not job_gone(live, sha3)
        tokens = live.kube.list("secrets", ns, GIT_TOKENS)
        assert [t["metadata"]["name"] for t in tokens] == [
            naming.hashed_name(naming.build_job_name("app", sha3), "git")
        ]
    rig.run_until(rig.phase_is("Ready"))
    assert rig.status()["commitSha"] == sha3


def test_converged_reconcile_makes_zero_writes(kubefake: KubeFake) -> None:
    # Counting requests needs the fake's request log; the real tier has no such view.
    seed(kubefake)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
    rig.run_until(rig.phase_is("Ready"))
    rig.run()
    kubefake.clear_requests()
    outcome = rig.run()
    assert kubefake.writes() == []
    assert outcome.requeue_after is None
    reads = [r for r in kubefake.requests() if not r.is_write]
    assert len(reads) <= 6


def test_a_converged_reconcile_changes_no_object_on_a_real_server(live: Live) -> None:
    rig = ready_rig(live)
    rig.run()
    ns = live.env_ns()
    kinds = ("deployments", "services", "ingresses", "resourcequotas", "networkpolicies")
    before = {k: [o["metadata"]["resourceVersion"] for o in live.kube.list(k, ns)] for k in kinds}
    env_version = (rig.env() or {})["metadata"]["resourceVersion"]
    outcome = rig.run()
    after = {k: [o["metadata"]["resourceVersion"] for o in live.kube.list(k, ns)] for k in kinds}
    assert after == before
    assert (rig.env() or {})["metadata"]["resourceVersion"] == env_version
    assert outcome.requeue_after is None


def test_changed_child_is_updated(live: Live) -> None:
    rig = ready_rig(live)
    ns = live.env_ns()
    quota: Any = live.kube.get("resourcequotas", "default-quota", ns)
    quota["spec"]["hard"]["pods"] = "1"
    live.kube.put_object(quota)
    live.set_spec(config={"env": [{"name": "LOG", "value": "trace"}]})
    rig.run_until(rig.phase_is("Ready"))
    quota = live.kube.get("resourcequotas", "default-quota", ns)
    assert quota["spec"]["hard"]["pods"] == "30"
    deployment: Any = live.kube.get("deployments", "web", ns)
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "MODE", "value": "preview"}, {"name": "LOG", "value": "trace"}]


def test_redeploy_nonce_restarts_the_rollout(live: Live) -> None:
    rig = ready_rig(live)
    live.set_spec(redeployNonce="n1")
    rig.run_until(lambda: rig.status().get("redeployNonce") == "n1")
    deployment: Any = live.kube.get("deployments", "web", live.env_ns())
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["catalyst.dev/redeploy-nonce"] == "n1"
    rig.run_until(rig.phase_is("Ready"))


def test_deletion_removes_everything_and_releases(live: Live) -> None:
    rig = ready_rig(live)
    live.kube.delete("environments", "pr-1", live.names.project_ns)
    rig.run_until(lambda: rig.env() is None)
    # The real namespace controller finished: the namespace and everything in it are gone.
    assert live.kube.get("namespaces", live.env_ns()) is None
    assert live.kube.list("jobs", live.env_ns()) == []
    assert live.kube.list("secrets", live.env_ns()) == []


def test_deletion_completes_with_the_project_gone(live: Live) -> None:
    rig = ready_rig(live)
    live.kube.delete("projects", "shop", live.names.team)
    assert live.kube.get("projects", "shop", live.names.team) is None
    live.kube.delete("environments", "pr-1", live.names.project_ns)
    rig.run_until(lambda: rig.env() is None)
    assert live.kube.get("namespaces", live.env_ns()) is None


def test_suspend_tears_down_but_keeps_the_environment(live: Live) -> None:
    rig = ready_rig(live)
    live.set_spec(suspended=True)
    rig.run_until(rig.phase_is("Suspended"))
    # The namespace controller finishes the deletion the reconciler asked for.
    wait_for("the namespace to go", lambda: live.kube.get("namespaces", live.env_ns()) is None)
    assert rig.env() is not None
    live.set_spec(suspended=False)
    rig.run_until(rig.phase_is("Ready"))


def test_unknown_template_type_fails_clearly(live: Live) -> None:
    live.seed(template_type="docker-compose")
    rig = live.rig()
    live.kube.put_object(live.environment())
    rig.run_until(rig.phase_is("Failed"))
    ready = next(c for c in rig.status()["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "UnsupportedTemplateType"


def put_app_secret(live: Live) -> None:
    live.kube.put_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": live.names.project_ns},
            "type": "Opaque",
            "data": {"url": "cG9zdGdyZXM6Ly8="},
        }
    )


DB_ENV = {"env": [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]}


def test_referenced_app_secrets_are_copied_for_same_repository_prs(live: Live) -> None:
    live.seed()
    put_app_secret(live)
    source = {"name": "main", "commitSha": SHA1, "branch": "x", "prNumber": 1, "fork": False}
    live.kube.put_object(live.environment(sources=[source], config=DB_ENV))
    rig = live.rig()
    rig.run_until(rig.phase_is("Ready"))
    copied = live.kube.get("secrets", "db", live.env_ns())
    assert copied is not None and copied["data"] == {"url": "cG9zdGdyZXM6Ly8="}


def test_a_fork_gets_no_app_secret_and_its_pods_start_without_it(live: Live) -> None:
    live.seed()
    put_app_secret(live)
    source = {"name": "main", "commitSha": SHA1, "branch": "x", "prNumber": 1, "fork": True}
    live.kube.put_object(live.environment(sources=[source], config=DB_ENV))
    rig = live.rig(settings=dataclasses.replace(SETTINGS, fork_registry="registry.local:5000"))
    # The Secret-referencing variable is left out of a fork's workload: a real kubelet starts
    # the pod (it would wait in CreateContainerConfigError on the uncopied Secret otherwise).
    rig.run_until(rig.phase_is("Ready"))
    assert live.kube.get("secrets", "db", live.env_ns()) is None
    web: Any = live.kube.get("deployments", "web", live.env_ns())
    env = web["spec"]["template"]["spec"]["containers"][0].get("env") or []
    assert "DB" not in {var["name"] for var in env}


def test_deletion_completes_with_labels_gone(live: Live) -> None:
    rig = ready_rig(live)
    env: Any = rig.env()
    env["metadata"]["labels"] = {}
    live.kube.put_object(env)
    live.kube.delete("environments", "pr-1", live.names.project_ns)
    rig.run_until(lambda: rig.env() is None)
    assert live.kube.get("namespaces", live.env_ns()) is None


def seed_two_repositories(live: Live) -> None:
    """The sample Project with a second source, acme/api on `main`, and a build of it."""
    live.seed()
    project: Any = live.kube.get("projects", live.names.project, live.names.team)
    project["spec"]["sources"].append(
        {"name": "api", "repositoryUrl": "https://github.com/acme/api", "branch": "main"}
    )
    project["spec"]["templates"]["development"]["builds"].append(
        {"name": "api", "sourceRef": "api", "path": "."}
    )
    live.kube.put_object(project)


def test_each_source_of_a_two_repository_project_builds_at_its_own_commit(live: Live) -> None:
    seed_two_repositories(live)
    env = live.environment()
    env["spec"]["sources"].append({"name": "api", "commitSha": SHA2, "branch": "main"})
    live.kube.put_object(env)
    rig = live.rig()
    rig.run_until(rig.phase_is("Ready"))
    app: Any = live.kube.get("jobs", naming.build_job_name("app", SHA1), live.env_ns())
    api: Any = live.kube.get("jobs", naming.build_job_name("api", SHA2), live.env_ns())
    assert "--context=git://github.com/acme/shop.git#refs/pull/1/head#" + SHA1 in kaniko_args(app)
    assert "--context=git://github.com/acme/api.git#refs/heads/main#" + SHA2 in kaniko_args(api)
    images = rig.status()["images"]
    assert images["app"].endswith(f":{SHA1}") and images["api"].endswith(f":{SHA2}")
    # Each build's git token reads its own repository only.
    assert {(42, "acme/shop"), (42, "acme/api")} <= set(rig.tokens.calls)


def test_a_source_without_a_commit_fails_with_a_condition_and_builds_nothing(live: Live) -> None:
    seed_two_repositories(live)
    why = "source 'api': branch 'main' of acme/api was not found (deleted or renamed)"
    env = live.environment()
    env["metadata"]["annotations"] = {
        naming.ANNOTATION_UNRESOLVED_SOURCES: json.dumps({"api": why})
    }
    live.kube.put_object(env)
    rig = live.rig()
    rig.run_until(rig.phase_is("Failed"))
    ready = next(c for c in rig.status()["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == conditions.SOURCE_MISSING
    assert "'api' has no commit" in ready["message"] and why in ready["message"]
    assert live.kube.list("jobs", live.env_ns()) == []  # not even the api build at SHA1
    # The workers resolve the branch later: the same Environment builds and goes Ready.
    live.set_spec(
        sources=[*env["spec"]["sources"], {"name": "api", "commitSha": SHA2, "branch": "main"}]
    )
    rig.run_until(rig.phase_is("Ready"))
    assert live.kube.get("jobs", naming.build_job_name("api", SHA2), live.env_ns()) is not None
