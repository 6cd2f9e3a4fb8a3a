"""Pure: the planner. Given what was observed, decide the next step and the status (no I/O).

`plan(observed)` returns a `Plan`: the writes to make now (independent of each other, so they
may be done in any order), the status the Environment should show, and when to look again.
A converged Environment plans no actions and the status it already has, so a converged
reconcile writes nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core import conditions, naming
from core.errors import ConfigError
from core.model import EnvironmentStatus, Phase
from reconciler.actions import (
    Action,
    AddFinalizer,
    Apply,
    Delete,
    ModeApply,
    ModeTeardown,
    Plan,
    RevokeBuildToken,
)
from reconciler.builds import plan_builds
from reconciler.context import Blocked, Observed, build_context, foreign_owner, namespaces_of
from reconciler.drift import differs, is_deleting, key_of
from reconciler.infra import infra_objects, missing_secret, namespace_manifest
from reconciler.modes import DeployMode, Manifest, ModeContext, Readiness, fingerprint_of
from reconciler.rollout import rollout_failure
from reconciler.status import (
    active_status,
    built_condition,
    current_status,
    deployed_condition,
    failed,
    pending_status,
    rolling_out,
    serving_message,
    with_conditions,
)

REQUEUE_BUILD = 5.0
REQUEUE_ROLLOUT = 3.0
REQUEUE_TERMINATING = 2.0
REQUEUE_NOW = 0.0
REQUEUE_FAILED_ROLLOUT = 30.0  # a stalled rollout may still recover (e.g. the image is pushed)


# --- teardown ------------------------------------------------------------------------------------


def plan_teardown(obs: Observed, *, deleting: bool) -> Plan:
    """Tear workloads down and delete the namespace; release (or suspend) once it is gone."""
    env = obs.environment
    live = {
        n: o
        for n, o in obs.namespaces.items()
        if o is not None and n in namespaces_of(env) and foreign_owner(o, env) is None
    }
    actions: list[Action] = []
    to_delete = [n for n, o in sorted(live.items()) if not is_deleting(o)]
    actions.extend(RevokeBuildToken(j, n) for n in to_delete for j in sorted(obs.jobs))
    found = _mode_of(obs) if to_delete else None
    if found is not None:
        actions.append(ModeTeardown(found[1], found[0]))
    actions.extend(Delete("Namespace", n) for n in to_delete)
    phase = Phase.DELETING if deleting else Phase.SUSPENDED
    status = _teardown_status(obs, phase, bool(live))
    if live:
        return Plan(tuple(actions), status, REQUEUE_TERMINATING)
    if deleting:
        return Plan((), status, None, release=True)  # the flow drops the finalizer
    return Plan((), status, None)


def _mode_of(obs: Observed) -> tuple[ModeContext, DeployMode] | None:
    try:
        return build_context(obs)
    except (Blocked, ConfigError):
        return None  # Project or labels gone: deleting the namespace still removes everything


def _teardown_status(obs: Observed, phase: Phase, namespace_left: bool) -> EnvironmentStatus:
    status = current_status(obs.environment)
    verb = "deleting" if phase == Phase.DELETING else "suspending"
    status.phase = phase
    status.message = f"{verb}: waiting for the namespace to go" if namespace_left else phase.value
    if phase == Phase.SUSPENDED and not namespace_left:
        status.namespace, status.url, status.commit_sha = None, None, None
        status.builds, status.images, status.deployed_hash = None, None, None
        status.release = None
    down = (conditions.FALSE, phase.value, status.message)
    return with_conditions(obs, status, down, down, down)


# --- active environment --------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivePlan:
    """An active Environment's plan plus whether children must be read before trusting it."""

    plan: Plan
    needs_children: bool


def plan(obs: Observed) -> Plan:
    """The next step for one Environment (see the module docstring)."""
    return plan_with_reads(obs).plan


def plan_with_reads(obs: Observed) -> ActivePlan:
    """`plan`, also saying whether the children must be read first (the converged fast path)."""
    env = obs.environment
    if env.metadata.deletion_timestamp:
        return ActivePlan(plan_teardown(obs, deleting=True), False)
    if naming.FINALIZER not in (env.metadata.finalizers or []):
        return ActivePlan(Plan((AddFinalizer(),), current_status(env), REQUEUE_NOW), False)
    if env.spec.suspended:
        return ActivePlan(plan_teardown(obs, deleting=False), False)
    try:
        ctx, mode = build_context(obs)
        return plan_active(obs, ctx, mode)
    except Blocked as exc:
        return ActivePlan(failed(obs, exc.reason, str(exc)), False)
    except ConfigError as exc:
        reason = str(getattr(exc, "reason", conditions.INVALID_CONFIG))
        return ActivePlan(failed(obs, reason, str(exc)), False)


def plan_active(obs: Observed, ctx: ModeContext, mode: DeployMode) -> ActivePlan:
    """Namespace, isolation objects, builds, deploy and readiness of a live Environment."""
    ns_manifest = namespace_manifest(ctx)
    ns_live = obs.namespaces.get(ctx.namespace)
    base = active_status(obs, ctx)
    other = foreign_owner(ns_live, obs.environment) if ns_live is not None else None
    if other is not None:
        return ActivePlan(failed(obs, "NamespaceCollision", collision_message(ctx, other)), False)
    if ns_live is None:
        status = pending_status(obs, base, "creating namespace")
        return ActivePlan(Plan((Apply(ns_manifest, None),), status, REQUEUE_NOW), False)
    if is_deleting(ns_live):
        status = pending_status(obs, base, "waiting for the old namespace to terminate")
        return ActivePlan(Plan((), status, REQUEUE_TERMINATING), False)
    infra = infra_objects(ctx, obs)
    builds = plan_builds(ctx, mode, obs)
    base.builds = list(builds.statuses) or None
    images = {s.name: s.image for s in builds.statuses if s.image}
    deploy_ctx = dataclasses.replace(ctx, images=images)
    done = all(s.state == "Succeeded" for s in builds.statuses)
    fingerprint = _fingerprint(ns_manifest, infra, mode, deploy_ctx) if done else None
    trusted = _trusted(obs, fingerprint)
    if not obs.children_read and not trusted:
        return ActivePlan(Plan((), base, REQUEUE_NOW), True)
    missing = missing_secret(ctx.config, obs.app_secrets) if obs.children_read else None
    if missing is not None:  # its pods could never start: say so now, not at a deadline
        where = obs.environment.metadata.namespace
        plan = failed(obs, "SecretMissing", f"{missing} in namespace {where}")
        return ActivePlan(dataclasses.replace(plan, requeue_after=REQUEUE_FAILED_ROLLOUT), False)
    writes = _drift([ns_manifest, *infra], obs) + list(builds.actions)
    return ActivePlan(_after_builds(obs, deploy_ctx, mode, base, writes, fingerprint), False)


def collision_message(ctx: ModeContext, other: str) -> str:
    """Why a preview cannot use its namespace, and what to change."""
    return (
        f"namespace {ctx.namespace} already belongs to {other} (team, project and environment "
        "names join with '-'); rename this project or environment so the names differ"
    )


def _fingerprint(ns: Manifest, infra: list[Manifest], mode: DeployMode, ctx: ModeContext) -> str:
    stable = [o for o in infra if o["kind"] not in ("Secret", "ServiceAccount")]
    return fingerprint_of(ns, stable, mode.fingerprint(ctx))


def _trusted(obs: Observed, fingerprint: str | None) -> bool:
    """Converged last time with the same desired state: children need not be read again."""
    status = obs.environment.status
    return (
        status is not None
        and fingerprint is not None
        and status.phase == Phase.READY
        and status.deployed_hash == fingerprint
        and status.observed_generation == obs.environment.metadata.generation
    )


def _drift(desired: list[Manifest], obs: Observed) -> list[Action]:
    """Apply actions for the desired objects whose live copy is missing or different.

    Objects not read this pass (the converged fast path) are skipped: they matched last time.
    """
    actions: list[Action] = []
    for obj in desired:
        key = key_of(obj)
        if key[0] == "Namespace":
            live = obs.namespaces.get(str(obj["metadata"]["name"]))
        elif key in obs.children or obs.children_read:
            live = obs.children.get(key)
        else:
            continue
        if differs(obj, live):
            actions.append(Apply(obj, live))
    return actions


def _after_builds(
    obs: Observed,
    ctx: ModeContext,
    mode: DeployMode,
    status: EnvironmentStatus,
    writes: list[Action],
    fingerprint: str | None,
) -> Plan:
    """Status and writes once the builds are known: Failed, Building, or on to the deploy."""
    builds = status.builds or []
    failures = [b for b in builds if b.state == "Failed"]
    serving = rolling_out(status, ctx.commit_sha)
    if failures:
        message = "; ".join(b.message or b.name for b in failures)
        status.phase, status.message = Phase.FAILED, message
        down = (conditions.FALSE, conditions.BUILD_FAILED, message)
        held = (conditions.FALSE, conditions.BUILD_FAILED, "not deployed: the build failed")
        status = with_conditions(
            obs, status, down, held, (conditions.FALSE, conditions.BUILD_FAILED, message)
        )
        return Plan(tuple(writes), status, None)
    if fingerprint is None:
        status.phase, status.message = (
            Phase.BUILDING,
            f"building {naming.short_sha(ctx.commit_sha)}",
        )
        building = (conditions.FALSE, conditions.BUILDING, status.message)
        waiting = (conditions.FALSE, conditions.WAITING_FOR_BUILD, status.message)
        status = with_conditions(obs, status, building, waiting, serving)
        return Plan(tuple(writes), status, REQUEUE_BUILD if not writes else REQUEUE_NOW)
    status.images = dict(sorted((b.name, b.image) for b in builds if b.image)) or None
    return _deploy(obs, ctx, mode, status, writes, fingerprint)


def _deploy(
    obs: Observed,
    ctx: ModeContext,
    mode: DeployMode,
    status: EnvironmentStatus,
    writes: list[Action],
    fingerprint: str,
) -> Plan:
    """Apply the mode's objects; Ready once the rollout of the new image is complete."""
    built = built_condition(status)
    if not writes:
        writes = _drift(mode.desired_objects(ctx), obs)
    if writes:
        status.phase, status.message = Phase.DEPLOYING, "applying manifests"
        applying = (conditions.FALSE, conditions.APPLYING, status.message)
        serving = (
            conditions.FALSE,
            conditions.ROLLING_OUT,
            serving_message(status, ctx.commit_sha),
        )
        status = with_conditions(obs, status, built, applying, serving)
        return Plan(tuple(writes), status, REQUEUE_NOW)
    extras: tuple[Action, ...] = ()
    if status.deployed_hash != fingerprint:
        extras = (ModeApply(mode, ctx),)  # imperative part (helm); a no-op for docker
    # The apply does not wait for the rollout: this pass's readiness is only a first look,
    # the passes after it (REQUEUE_ROLLOUT) judge the workloads it created.
    judged = dataclasses.replace(ctx, applying=bool(extras))
    readiness = pod_verdict(obs, mode.readiness(judged, obs.children))
    deployed = deployed_condition(ctx, readiness)
    status.deployed_hash = fingerprint
    if readiness.failed:
        return _rollout_failed(obs, ctx, status, extras, readiness)
    if not readiness.ready:
        status.phase, status.message = Phase.DEPLOYING, readiness.message
        waiting = (conditions.FALSE, readiness.reason, serving_message(status, ctx.commit_sha))
        status = with_conditions(obs, status, built, deployed, waiting)
        return Plan(extras, status, REQUEUE_ROLLOUT)
    status.phase, status.message = Phase.READY, readiness.message
    status.commit_sha, status.redeploy_nonce = ctx.commit_sha, ctx.redeploy_nonce
    ready = (conditions.TRUE, readiness.reason, f"{status.url} serves {ctx.commit_sha[:7]}")
    status = with_conditions(obs, status, built, deployed, ready)
    return Plan(extras, status, None)


def pod_verdict(obs: Observed, readiness: Readiness) -> Readiness:
    """A rollout still in progress fails as soon as a new pod cannot run (see rollout.py)."""
    if readiness.ready or readiness.failed or readiness.stale:
        return readiness
    failure = rollout_failure(obs.children, obs.rollout_objects)
    if failure is None:
        return readiness
    message = failure.describe()
    if obs.rollout_log:
        message += f"\nLast log lines of {failure.container}:\n{obs.rollout_log}"
    return Readiness(False, failure.reason, message, failed=True, warnings=readiness.warnings)


def _rollout_failed(
    obs: Observed,
    ctx: ModeContext,
    status: EnvironmentStatus,
    extras: tuple[Action, ...],
    readiness: Readiness,
) -> Plan:
    """Failed from the rollout: the old pods (if any) keep serving; look again now and then."""
    status.phase, status.message = Phase.FAILED, readiness.message
    built = built_condition(status)
    down = (conditions.FALSE, readiness.reason, readiness.message)
    status = with_conditions(obs, status, built, deployed_condition(ctx, readiness), down)
    return Plan(extras, status, REQUEUE_FAILED_ROLLOUT)
