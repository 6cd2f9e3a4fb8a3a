"""The pure planner as a table: observed state → planned actions, status phase and reason.

No server of any kind: each row builds an `Observed` from the sample CRs and asks `plan()`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, assert_never

import pytest

from core import conditions, naming
from core.model import Environment, Phase, Project
from reconciler.actions import (
    Action,
    AddFinalizer,
    Apply,
    CreateBuild,
    Delete,
    ModeApply,
    ModeTeardown,
    RevokeBuildToken,
)
from reconciler.confinement import DEPLOYER_SA, WORKER_POD_READER
from reconciler.context import Observed
from reconciler.modes import Manifest
from reconciler.plan import REQUEUE_NOW, REQUEUE_TERMINATING, plan
from tests.reconciler.support import ENV_NS, SETTINGS, SHA1, environment_obj, project_obj

BUILD_JOB = naming.build_job_name("app", SHA1)
INFRA = [
    ("Apply", "ServiceAccount"),  # the namespace's deployer (reconciler/confinement.py)
    ("Apply", "RoleBinding"),
    ("Apply", "ResourceQuota"),
    ("Apply", "LimitRange"),
    ("Apply", "NetworkPolicy"),
    ("Apply", "NetworkPolicy"),
    ("Apply", "ServiceAccount"),  # `default`, with no API token mounted
]


def summary(action: Action) -> tuple[str, ...]:
    """What an action does, in a form a table row can state."""
    match action:
        case AddFinalizer():
            return (type(action).__name__,)
        case Apply(desired=desired):
            return ("Apply", str(desired["kind"]))
        case Delete(kind=kind, name=name):
            return ("Delete", kind, name)
        case CreateBuild(job=job):
            return ("CreateBuild", str(job["metadata"]["name"]))
        case RevokeBuildToken(job_name=job_name):
            return ("RevokeBuildToken", job_name)
        case ModeApply() | ModeTeardown():
            return (type(action).__name__,)
        case _:
            assert_never(action)


def namespace(*, deleting: bool = False) -> Manifest:
    meta: dict[str, Any] = {"name": ENV_NS}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


@dataclass(frozen=True)
class Row:
    """One observed state and what the planner must make of it."""

    name: str
    env: Callable[[dict[str, Any]], None] = lambda env: None
    project: bool = True
    namespace: Manifest | None = None
    children_read: bool = False
    actions: list[tuple[str, ...]] = field(default_factory=list)
    phase: Phase | None = None
    reason: str | None = None  # of the Ready condition
    requeue: float | None = None
    release: bool = False


def with_finalizer(env: dict[str, Any]) -> None:
    env["metadata"]["finalizers"] = [naming.FINALIZER]


def deleting(env: dict[str, Any]) -> None:
    with_finalizer(env)
    env["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"


def suspended(env: dict[str, Any]) -> None:
    with_finalizer(env)
    env["spec"]["suspended"] = True


def unlabelled(env: dict[str, Any]) -> None:
    with_finalizer(env)
    del env["metadata"]["labels"][naming.LABEL_TEAM]


ROWS = [
    Row("new environment: finalizer first", actions=[("AddFinalizer",)], requeue=REQUEUE_NOW),
    Row(
        "no namespace yet: create it",
        env=with_finalizer,
        actions=[("Apply", "Namespace")],
        phase=Phase.PENDING,
        reason=conditions.ROLLING_OUT,
        requeue=REQUEUE_NOW,
    ),
    Row(
        "old namespace terminating: wait",
        env=with_finalizer,
        namespace=namespace(deleting=True),
        phase=Phase.PENDING,
        reason=conditions.ROLLING_OUT,
        requeue=REQUEUE_TERMINATING,
    ),
    Row(
        "namespace there, children unread: read them before trusting the plan",
        env=with_finalizer,
        namespace=namespace(),
        requeue=REQUEUE_NOW,
    ),
    Row(
        "namespace there, children read: isolation objects and the build",
        env=with_finalizer,
        namespace=namespace(),
        children_read=True,
        actions=[("Apply", "Namespace"), *INFRA, ("CreateBuild", BUILD_JOB)],
        phase=Phase.BUILDING,
        reason=conditions.ROLLING_OUT,
        requeue=REQUEUE_NOW,
    ),
    Row(
        "project missing: failed, nothing written",
        env=with_finalizer,
        project=False,
        phase=Phase.FAILED,
        reason=conditions.PROJECT_NOT_FOUND,
    ),
    Row(
        "team label missing: failed, nothing written",
        env=unlabelled,
        phase=Phase.FAILED,
        reason=conditions.MISSING_LABELS,
    ),
    Row(
        "deleted with its namespace live: tear down and delete the namespace",
        env=deleting,
        namespace=namespace(),
        actions=[("ModeTeardown",), ("Delete", "Namespace", ENV_NS)],
        phase=Phase.DELETING,
        reason=Phase.DELETING.value,
        requeue=REQUEUE_TERMINATING,
    ),
    Row(
        "deleted and its namespace gone: release (the flow drops the finalizer once it queued"
        " GitHub's last status)",
        env=deleting,
        phase=Phase.DELETING,
        reason=Phase.DELETING.value,
        release=True,
    ),
    Row(
        "suspended and its namespace gone: nothing to do",
        env=suspended,
        phase=Phase.SUSPENDED,
        reason=Phase.SUSPENDED.value,
    ),
]


def observed(row: Row) -> Observed:
    env = environment_obj()
    row.env(env)
    namespaces = {ENV_NS: row.namespace} if row.namespace is not None else {}
    return Observed(
        environment=Environment.model_validate(env),
        project=Project.model_validate(project_obj()) if row.project else None,
        settings=SETTINGS,
        namespaces=namespaces,
        children_read=row.children_read,
        now="2026-01-01T00:00:00Z",
    )


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_planner_table(row: Row) -> None:
    result = plan(observed(row))
    assert [summary(a) for a in result.actions] == row.actions
    assert result.requeue_after == row.requeue
    assert result.release is row.release
    if row.phase is not None:
        assert result.status.phase == row.phase
    ready = conditions.find(result.status.conditions, conditions.READY)
    assert (ready.reason if ready else None) == row.reason


# --- the worker's pod-reader RoleBinding (issue 16) ---------------------------------------------

WORKER = ("catalyst-system", "rel-catalyst-preview-worker")


def planned_bindings(obs: Observed) -> dict[str, Manifest]:
    """The RoleBindings a plan applies, by name."""
    applied = [a.desired for a in plan(obs).actions if isinstance(a, Apply)]
    return {o["metadata"]["name"]: o for o in applied if o["kind"] == "RoleBinding"}


def with_worker(obs: Observed, **children: Manifest) -> Observed:
    settings = dataclasses.replace(
        SETTINGS, pod_reader_cluster_role="rel-pod-reader", worker_account=WORKER
    )
    live = {("RoleBinding", name): obj for name, obj in children.items()}
    return dataclasses.replace(obs, settings=settings, children={**obs.children, **live})


def children_read() -> Observed:
    return observed(Row("read", env=with_finalizer, namespace=namespace(), children_read=True))


def test_the_worker_gets_a_pod_reader_binding_in_the_preview_namespace_only_when_named() -> None:
    assert set(planned_bindings(children_read())) == {DEPLOYER_SA}
    binding = planned_bindings(with_worker(children_read()))[WORKER_POD_READER]
    assert binding["metadata"]["namespace"] == ENV_NS
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "rel-pod-reader",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": WORKER[1], "namespace": WORKER[0]}
    ]


def test_the_pod_reader_binding_is_kept_like_the_deployers() -> None:
    wanted = planned_bindings(with_worker(children_read()))[WORKER_POD_READER]
    assert WORKER_POD_READER not in planned_bindings(
        with_worker(children_read(), **{WORKER_POD_READER: wanted})
    )
    tampered = {**wanted, "subjects": [{"kind": "User", "name": "mallory"}]}
    repaired = planned_bindings(with_worker(children_read(), **{WORKER_POD_READER: tampered}))
    assert repaired[WORKER_POD_READER]["subjects"] == wanted["subjects"]
