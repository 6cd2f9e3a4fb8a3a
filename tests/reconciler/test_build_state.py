"""A build is finished as soon as its pod has succeeded, not only once its Job says Complete.

The Job controller marks a Job Complete up to a second after the kubelet reported its pod
Succeeded. The judgement is pure (a pod counts only when it is of this very Job, by uid); the
reconciler-level test runs on ``tests/kubefake``, whose Job controller can stay off so the Job
is held incomplete while its pod has succeeded (the real control plane cannot do that on demand).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from core import naming
from core.model import BuildSpec, Environment, Project
from reconciler.actions import CreateBuild, RevokeBuildToken
from reconciler.builds import (
    BuildOutcome,
    awaits_pods,
    build_destination,
    job_state,
    plan_build,
)
from reconciler.context import Observed, build_context
from reconciler.modes import ModeContext
from reconciler.modes.install import deploy_modes
from tests.kubefake import KubeFake
from tests.reconciler.support import (
    ENV_NS,
    SETTINGS,
    SHA1,
    environment_obj,
    make_rig,
    project_obj,
    seed,
)

JOB = naming.build_job_name("app", SHA1)
COMPLETE = {"type": "Complete", "status": "True"}
FAILED = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "too slow"}


def job(uid: str = "uid-new", *conditions: dict[str, Any]) -> dict[str, Any]:
    """A build Job of that uid, with those true conditions (none: still running)."""
    return {
        "kind": "Job",
        "metadata": {"name": JOB, "namespace": ENV_NS, "uid": uid},
        "status": {"active": 0 if conditions else 1, "conditions": list(conditions)},
    }


def pod(job_uid: str, phase: str, *, by: str = "owner") -> dict[str, Any]:
    """A pod of the Job of `job_uid` (by its controller ownerReference or its label only)."""
    meta: dict[str, Any] = {"name": f"{JOB}-x1", "labels": {"job-name": JOB}}
    if by == "owner":
        meta["ownerReferences"] = [{"kind": "Job", "name": JOB, "uid": job_uid, "controller": True}]
    else:
        meta["labels"]["batch.kubernetes.io/controller-uid"] = job_uid
    return {"kind": "Pod", "metadata": meta, "status": {"phase": phase}}


@pytest.mark.parametrize("by", ["owner", "label"])
def test_a_job_whose_own_pod_succeeded_is_succeeded_before_it_is_complete(by: str) -> None:
    assert job_state(job(), [pod("uid-new", "Succeeded", by=by)]) == ("Succeeded", "")


def test_a_succeeded_pod_of_an_older_job_of_the_same_name_does_not_count() -> None:
    # a rebuild recreated the Job under the same name; the old Job's pod is still there
    assert job_state(job("uid-new"), [pod("uid-old", "Succeeded")]) == ("Running", "")
    unowned = pod("uid-new", "Succeeded")
    unowned["metadata"]["ownerReferences"][0]["controller"] = False
    assert job_state(job("uid-new"), [unowned]) == ("Running", "")


def test_a_job_without_pods_or_with_a_pod_still_running_is_running() -> None:
    assert job_state(job()) == ("Running", "")
    assert job_state(job(), [pod("uid-new", "Running")]) == ("Running", "")


def test_a_failed_pod_leaves_the_verdict_to_the_job() -> None:
    assert job_state(job(), [pod("uid-new", "Failed")]) == ("Running", "")
    failed = job_state(job("uid-new", FAILED), [pod("uid-new", "Succeeded")])
    assert failed == ("Failed", "DeadlineExceeded: too slow")


def test_pods_are_read_only_for_a_job_its_own_status_has_not_finished() -> None:
    deleting = job()
    deleting["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert awaits_pods(job())
    assert not awaits_pods(job("uid-new", COMPLETE))
    assert not awaits_pods(job("uid-new", FAILED))
    assert not awaits_pods(deleting)


def context() -> ModeContext:
    """The sample pr-1 of the docker Project with build `app`."""
    env = environment_obj()
    env["metadata"]["finalizers"] = [naming.FINALIZER]
    obs = Observed(
        environment=Environment.model_validate(env),
        project=Project.model_validate(project_obj()),
        settings=SETTINGS,
        modes=deploy_modes(None),
    )
    return build_context(obs)[0]


def app_build(ctx: ModeContext) -> BuildSpec:
    (build,) = ctx.template.builds or []
    return build


def plan_with(ctx: ModeContext, live_job: dict[str, Any], pods: list[Any]) -> BuildOutcome:
    obs = Observed(
        ctx.environment, ctx.project, SETTINGS, jobs={JOB: live_job}, build_pods=tuple(pods)
    )
    return plan_build(ctx, obs, app_build(ctx))


def created_job(ctx: ModeContext, uid: str) -> dict[str, Any]:
    """The Job plan_build creates for `app`, as the server stores it (with `uid`)."""
    empty = Observed(ctx.environment, ctx.project, SETTINGS)
    (create,) = plan_build(ctx, empty, app_build(ctx)).actions
    assert isinstance(create, CreateBuild)
    stored: dict[str, Any] = copy.deepcopy(create.job)
    stored["metadata"]["uid"] = uid
    return stored


def test_a_build_whose_pod_succeeded_has_its_image_and_its_token_revoked() -> None:
    ctx = context()
    outcome = plan_with(ctx, created_job(ctx, "uid-new"), [pod("uid-new", "Succeeded")])
    (record,) = outcome.statuses
    image, _ = build_destination(ctx, app_build(ctx))
    assert (record.state, record.image) == ("Succeeded", image)
    assert outcome.actions == (RevokeBuildToken(JOB, ctx.namespace),)


def test_a_build_job_being_deleted_stays_running_whatever_its_pod_says() -> None:
    ctx = context()
    deleting = created_job(ctx, "uid-new")
    deleting["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    outcome = plan_with(ctx, deleting, [pod("uid-new", "Succeeded")])
    assert [(s.state, s.image) for s in outcome.statuses] == [("Running", None)]
    assert outcome.actions == ()


def job_complete(kubefake: KubeFake) -> bool:
    live: Any = kubefake.get("jobs", JOB, ENV_NS)
    conditions = (live.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Complete" for c in conditions)


def pod_lists(kubefake: KubeFake) -> int:
    return len([r for r in kubefake.requests() if r.resource == "pods" and r.verb == "list"])


def test_the_environment_deploys_once_the_build_pod_succeeded_before_its_job_is_complete(
    kubefake: KubeFake,
) -> None:
    seed(kubefake)
    kubefake.controllers.enable("deployments", "namespaces")  # no Job controller: never Complete
    kubefake.put_object(environment_obj())
    rig = make_rig(kubefake)
    rig.run_until(lambda: kubefake.get("jobs", JOB, ENV_NS) is not None)
    kubefake.controllers.job_pod_ended(kubefake.get("jobs", JOB, ENV_NS) or {}, "Succeeded")
    rig.run_until(rig.phase_is("Ready"))
    assert not job_complete(kubefake)
    (build,) = rig.status()["builds"]
    assert build["state"] == "Succeeded"
    deployment: Any = kubefake.get("deployments", "web", ENV_NS)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == build["image"]
    assert rig.tokens.live == set()  # the finished build's git token is revoked
    kubefake.clear_requests()
    rig.run()
    assert pod_lists(kubefake) == 1  # the Job is unfinished by its own word: its pods are read
    kubefake.controllers.enable("jobs")
    rig.run_until(lambda: job_complete(kubefake))
    kubefake.clear_requests()
    rig.run()
    assert pod_lists(kubefake) == 0  # finished by its own status: no pod LIST any more
    assert rig.status()["phase"] == "Ready"
