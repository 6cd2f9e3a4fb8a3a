"""Lifecycle of an Environment against the fake API server with simulated controllers."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from core import naming
from tests.kubefake import KubeFake
from tests.reconciler.support import (
    ENV_NS,
    PROJECT_NS,
    SETTINGS,
    SHA1,
    SHA2,
    Rig,
    environment_obj,
    make_rig,
    seed,
)


def test_new_environment_goes_from_pending_to_ready(kubefake: KubeFake) -> None:
    seed(kubefake)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    kubefake.controllers.job_outcome("build-*", succeed=True, delay=0.3)
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
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
    assert status["url"] == f"https://{ENV_NS}.preview.example.com/"
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
        assert kubefake.get(kind, name, ENV_NS) is not None, (kind, name)
    deployment: Any = kubefake.get("deployments", "web", ENV_NS)
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"registry.local:5000/acme/shop/app:{SHA1}"
    assert rig.enqueued.sent
    assert kubefake.list("secrets", ENV_NS, "catalyst.dev/git-token=true") == []


def ready_rig(kubefake: KubeFake) -> Rig:
    """A Ready pr-1 at SHA1 (controllers on, builds succeed at once)."""
    seed(kubefake)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
    rig.run_until(rig.phase_is("Ready"))
    return rig


def set_spec(kubefake: KubeFake, **changes: Any) -> None:
    env: Any = kubefake.get("environments", "pr-1", PROJECT_NS)
    env["spec"].update(changes)
    env["metadata"]["generation"] = env["metadata"].get("generation", 1) + 1
    kubefake.put_object(env)


def test_build_failure_ends_failed_with_reason_and_job(kubefake: KubeFake) -> None:
    seed(kubefake)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    kubefake.controllers.job_outcome("build-*", succeed=False, message="exit code 1")
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
    rig.run_until(rig.phase_is("Failed"))
    status = rig.status()
    job = naming.build_job_name("app", SHA1)
    assert job in status["message"] and "exit code 1" in status["message"]
    built = next(c for c in status["conditions"] if c["type"] == "Built")
    assert (built["status"], built["reason"]) == ("False", "BuildFailed")
    assert kubefake.get("deployments", "web", ENV_NS) is None
    assert kubefake.list("secrets", ENV_NS, "catalyst.dev/git-token=true") == []
    # Never retried automatically: reconciling again creates no new Job and keeps Failed.
    kubefake.clear_requests()
    rig.run()
    assert kubefake.writes("jobs") == []
    assert rig.status()["phase"] == "Failed"


def test_rebuild_nonce_rebuilds_a_failed_commit(kubefake: KubeFake) -> None:
    seed(kubefake)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    kubefake.controllers.job_outcome("build-*", succeed=False)
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
    rig.run_until(rig.phase_is("Failed"))
    first: Any = kubefake.get("jobs", naming.build_job_name("app", SHA1), ENV_NS)
    assert "--cache=true" in kaniko_args(first)
    kubefake.controllers.job_outcome("build-*", succeed=True)
    set_spec(kubefake, rebuildNonce="r1")
    rig.run_until(rig.phase_is("Ready"))
    job: Any = kubefake.get("jobs", naming.build_job_name("app", SHA1), ENV_NS)
    assert job["metadata"]["annotations"]["catalyst.dev/rebuild-nonce"] == "r1"
    assert "--cache=false" in kaniko_args(job)  # "rebuild from scratch": no layer cache
    set_spec(kubefake, sources=[{"name": "main", "commitSha": SHA2, "branch": "feature/x"}])
    rig.run_until(rig.phase_is("Ready"))
    pushed: Any = kubefake.get("jobs", naming.build_job_name("app", SHA2), ENV_NS)
    assert "--cache=true" in kaniko_args(pushed)  # the next commit builds with the cache again


def kaniko_args(job: dict[str, Any]) -> list[str]:
    return list(job["spec"]["template"]["spec"]["containers"][0]["args"])


def test_new_sha_rebuilds_while_old_serves_and_supersedes_builds(kubefake: KubeFake) -> None:
    rig = ready_rig(kubefake)
    kubefake.controllers.job_outcome("build-*", succeed=True, delay=30)
    set_spec(kubefake, sources=[{"name": "main", "commitSha": SHA2, "branch": "feature/x"}])
    rig.run()
    status = rig.status()
    assert status["phase"] == "Building"
    assert (status["commitSha"], status["targetCommitSha"]) == (SHA1, SHA2)
    deployment: Any = kubefake.get("deployments", "web", ENV_NS)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(SHA1)
    old_job = naming.build_job_name("app", SHA1)
    assert kubefake.get("jobs", old_job, ENV_NS) is None
    # A third commit supersedes the running build of the second.
    sha3 = "c" * 40
    set_spec(kubefake, sources=[{"name": "main", "commitSha": sha3, "branch": "feature/x"}])
    rig.run()
    assert kubefake.get("jobs", naming.build_job_name("app", SHA2), ENV_NS) is None
    assert kubefake.get("jobs", naming.build_job_name("app", sha3), ENV_NS) is not None
    tokens = kubefake.list("secrets", ENV_NS, "catalyst.dev/git-token=true")
    assert [t["metadata"]["name"] for t in tokens] == [
        naming.hashed_name(naming.build_job_name("app", sha3), "git")
    ]
    kubefake.controllers.job_outcome("build-*", succeed=True)
    rig.run_until(rig.phase_is("Ready"))
    assert rig.status()["commitSha"] == sha3


def test_converged_reconcile_makes_zero_writes(kubefake: KubeFake) -> None:
    rig = ready_rig(kubefake)
    rig.run()
    kubefake.clear_requests()
    outcome = rig.run()
    assert kubefake.writes() == []
    assert outcome.requeue_after is None
    reads = [r for r in kubefake.requests() if not r.is_write]
    assert len(reads) <= 6


def test_changed_child_is_updated(kubefake: KubeFake) -> None:
    rig = ready_rig(kubefake)
    quota: Any = kubefake.get("resourcequotas", "default-quota", ENV_NS)
    quota["spec"]["hard"]["pods"] = "1"
    kubefake.put_object(quota)
    set_spec(kubefake, config={"env": [{"name": "LOG", "value": "trace"}]})
    rig.run_until(rig.phase_is("Ready"))
    quota = kubefake.get("resourcequotas", "default-quota", ENV_NS)
    assert quota["spec"]["hard"]["pods"] == "30"
    deployment: Any = kubefake.get("deployments", "web", ENV_NS)
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "MODE", "value": "preview"}, {"name": "LOG", "value": "trace"}]


def test_redeploy_nonce_restarts_the_rollout(kubefake: KubeFake) -> None:
    rig = ready_rig(kubefake)
    set_spec(kubefake, redeployNonce="n1")
    rig.run_until(lambda: rig.status().get("redeployNonce") == "n1")
    deployment: Any = kubefake.get("deployments", "web", ENV_NS)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["catalyst.dev/redeploy-nonce"] == "n1"
    assert rig.status()["phase"] == "Ready"


def test_deletion_removes_everything_and_releases(kubefake: KubeFake) -> None:
    rig = ready_rig(kubefake)
    kubefake.delete("environments", "pr-1", PROJECT_NS)
    rig.run_until(lambda: rig.env() is None)
    assert kubefake.get("namespaces", ENV_NS) is None
    assert kubefake.list("jobs", ENV_NS) == []
    assert kubefake.list("secrets", ENV_NS) == []


def test_deletion_completes_with_the_project_gone(kubefake: KubeFake) -> None:
    rig = ready_rig(kubefake)
    kubefake.delete("projects", "shop", "acme")
    assert kubefake.get("projects", "shop", "acme") is None
    kubefake.delete("environments", "pr-1", PROJECT_NS)
    rig.run_until(lambda: rig.env() is None)
    assert kubefake.get("namespaces", ENV_NS) is None


def test_suspend_tears_down_but_keeps_the_environment(kubefake: KubeFake) -> None:
    rig = ready_rig(kubefake)
    set_spec(kubefake, suspended=True)
    rig.run_until(rig.phase_is("Suspended"))
    assert kubefake.get("namespaces", ENV_NS) is None
    assert rig.env() is not None
    set_spec(kubefake, suspended=False)
    rig.run_until(rig.phase_is("Ready"))


def test_unknown_template_type_fails_clearly(kubefake: KubeFake) -> None:
    seed(kubefake, template_type="docker-compose")
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
    rig.run_until(rig.phase_is("Failed"))
    ready = next(c for c in rig.status()["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "UnsupportedTemplateType"


def put_app_secret(kubefake: KubeFake) -> None:
    kubefake.put_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": PROJECT_NS},
            "type": "Opaque",
            "data": {"url": "cG9zdGdyZXM6Ly8="},
        }
    )


DB_ENV = {"env": [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]}


@pytest.mark.parametrize("fork", [False, True], ids=["same-repo", "fork"])
def test_referenced_app_secrets_are_copied_except_for_forks(kubefake: KubeFake, fork: bool) -> None:
    seed(kubefake)
    put_app_secret(kubefake)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    source = {"name": "main", "commitSha": SHA1, "branch": "x", "prNumber": 1, "fork": fork}
    kubefake.put_object(environment_obj(sources=[source], config=DB_ENV))
    fork_ready = dataclasses.replace(SETTINGS, fork_registry="registry.local:5000")
    rig = make_rig(kubefake, settings=fork_ready)
    rig.run_until(rig.phase_is("Ready"))
    copied = kubefake.get("secrets", "db", ENV_NS)
    if fork:
        assert copied is None
    else:
        assert copied is not None and copied["data"] == {"url": "cG9zdGdyZXM6Ly8="}


def test_deletion_completes_with_labels_gone(kubefake: KubeFake) -> None:
    rig = ready_rig(kubefake)
    env: Any = rig.env()
    env["metadata"]["labels"] = {}
    kubefake.put_object(env)
    kubefake.delete("environments", "pr-1", PROJECT_NS)
    rig.run_until(lambda: rig.env() is None)
    assert kubefake.get("namespaces", ENV_NS) is None


def test_each_source_of_a_two_repository_project_builds_at_its_own_commit(
    kubefake: KubeFake,
) -> None:
    seed(kubefake)
    project: Any = kubefake.get("projects", "shop", "acme")
    project["spec"]["sources"].append(
        {"name": "api", "repositoryUrl": "https://github.com/acme/api", "branch": "main"}
    )
    project["spec"]["templates"]["development"]["builds"].append(
        {"name": "api", "sourceRef": "api", "path": "."}
    )
    kubefake.put_object(project)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    env = environment_obj()
    env["spec"]["sources"].append({"name": "api", "commitSha": SHA2, "branch": "main"})
    kubefake.put_object(env)
    rig = make_rig(kubefake)
    rig.run_until(rig.phase_is("Ready"))
    app: Any = kubefake.get("jobs", naming.build_job_name("app", SHA1), ENV_NS)
    api: Any = kubefake.get("jobs", naming.build_job_name("api", SHA2), ENV_NS)
    assert "--context=git://github.com/acme/shop.git#refs/pull/1/head#" + SHA1 in kaniko_args(app)
    assert "--context=git://github.com/acme/api.git#refs/heads/main#" + SHA2 in kaniko_args(api)
    images = rig.status()["images"]
    assert images["app"].endswith(f":{SHA1}") and images["api"].endswith(f":{SHA2}")
