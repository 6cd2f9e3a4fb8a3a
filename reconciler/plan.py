"""Pure: the planner. Given what was observed, decide the next step and the status (no I/O).

`plan(observed)` returns a `Plan`: the writes to make now (independent of each other, so they
may be done in any order), the status the Environment should show, and when to look again.
A converged Environment plans no actions and the status it already has, so a converged
reconcile writes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from core import conditions, naming
from core.errors import ConfigError
from core.model import (
    BuildSpec,
    BuildStatus,
    Environment,
    EnvironmentConfig,
    EnvironmentStatus,
    Phase,
    Project,
)
from reconciler import confinement, manifests
from reconciler.config import resolve_config
from reconciler.modes import (
    DeployMode,
    Manifest,
    ModeContext,
    ModeSettings,
    Readiness,
    UnknownMode,
    fingerprint_of,
    mode_for,
)
from reconciler.sources import clean_path

ObjectKey = tuple[str, str]  # (kind, name) inside the environment namespace
BuildState = Literal["Running", "Succeeded", "Failed"]

REQUEUE_BUILD = 5.0
REQUEUE_ROLLOUT = 3.0
REQUEUE_TERMINATING = 2.0
REQUEUE_NOW = 0.0
REQUEUE_FAILED_ROLLOUT = 30.0  # a stalled rollout may still recover (e.g. the image is pushed)


# --- actions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddFinalizer:
    """Put `catalyst.dev/finalizer` on the Environment."""


@dataclass(frozen=True)
class RemoveFinalizer:
    """Release the Environment (teardown finished)."""


@dataclass(frozen=True)
class Apply:
    """Create `desired`, or merge-patch it over `live` when its fields drifted."""

    desired: Manifest
    live: Manifest | None


@dataclass(frozen=True)
class Delete:
    """Delete one object (NotFound is success)."""

    kind: str
    name: str
    namespace: str | None = None


@dataclass(frozen=True)
class RevokeBuildToken:
    """Revoke the git token of a build Job with GitHub, then delete its Secret."""

    job_name: str
    namespace: str


@dataclass(frozen=True)
class CreateBuild:
    """Mint a git token, store it in its Secret, then create the Kaniko Job."""

    job: Manifest
    installation_id: int | None
    repository: str | None


@dataclass(frozen=True)
class ModeApply:
    """Run the mode's imperative `apply` (e.g. helm upgrade)."""

    mode: DeployMode
    ctx: ModeContext


@dataclass(frozen=True)
class ModeTeardown:
    """Run the mode's imperative `teardown` (e.g. helm uninstall)."""

    mode: DeployMode
    ctx: ModeContext


Action = (
    AddFinalizer
    | RemoveFinalizer
    | Apply
    | Delete
    | CreateBuild
    | RevokeBuildToken
    | ModeApply
    | ModeTeardown
)


@dataclass(frozen=True)
class Plan:
    """What to do now, the status to show, and when to look again (None: on the next event)."""

    actions: tuple[Action, ...]
    status: EnvironmentStatus
    requeue_after: float | None = None
    release: bool = False


# --- observation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """Everything read for one Environment in one pass."""

    environment: Environment
    project: Project | None
    settings: ModeSettings
    namespaces: Mapping[str, Manifest | None] = field(default_factory=dict)
    jobs: Mapping[str, Manifest] = field(default_factory=dict)
    children: Mapping[ObjectKey, Manifest] = field(default_factory=dict)
    children_read: bool = False
    team_pull_secret: Manifest | None = None
    fork_push_secret: Manifest | None = None
    app_secrets: Mapping[str, Manifest] = field(default_factory=dict)
    now: str | None = None
    # Redacted log tails of failed build Jobs, by Job name (read once per failed Job).
    build_logs: Mapping[str, str] = field(default_factory=dict)


# --- helpers -------------------------------------------------------------------------------------


def is_subset(desired: Any, live: Any) -> bool:
    """True when every field of `desired` has the same value in `live` (server defaults ignored)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(is_subset(v, live.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        return all(is_subset(d, x) for d, x in zip(desired, live, strict=True))
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return desired == live
    return bool(desired == live) or (isinstance(live, str) and str(desired) == live)


def differs(desired: Manifest, live: Manifest | None) -> bool:
    """Whether `desired` must be written over `live`."""
    if live is None:
        return True
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
    return not is_subset(body, live)


def is_deleting(obj: Manifest | None) -> bool:
    """Whether an object carries a deletionTimestamp (or a Terminating namespace phase)."""
    if obj is None:
        return False
    terminating = (obj.get("status") or {}).get("phase") == "Terminating"
    return terminating or bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def job_state(job: Manifest) -> tuple[BuildState, str]:
    """Running/Succeeded/Failed of a Job, with the failure reason."""
    status = job.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return "Succeeded", ""
        if cond.get("type") == "Failed":
            return "Failed", f"{cond.get('reason', 'Failed')}: {cond.get('message', '')}".strip()
    if int(status.get("succeeded") or 0) > 0:
        return "Succeeded", ""
    if int(status.get("failed") or 0) > 0:
        return "Failed", "pod failed"
    return "Running", ""


def team_of(env: Environment) -> str | None:
    """The team label of an Environment."""
    return (env.metadata.labels or {}).get(naming.LABEL_TEAM) or None


def computed_namespace(env: Environment) -> str | None:
    """The environment namespace named from the labels and project ref (None without a team)."""
    team = team_of(env)
    if team is None:
        return None
    return naming.environment_namespace(team, env.spec.project_ref.name, env.metadata.name)


def namespaces_of(env: Environment) -> list[str]:
    """Every namespace this Environment may own: computed from labels and recorded in status."""
    found = [computed_namespace(env), env.status.namespace if env.status else None]
    return sorted({n for n in found if n})


def owner_of(env: Environment) -> str:
    """`<namespace>/<name>` of an Environment (the owner annotation of its namespace)."""
    return f"{env.metadata.namespace}/{env.metadata.name}"


def foreign_owner(namespace: Manifest, env: Environment) -> str | None:
    """Who else owns a live namespace of this Environment's name (None when it is ours or free).

    Names are sanitized and joined, so `acme`/`web`/`production` and the project namespace of
    `acme`/`web-production` are both `acme-web-production`: never adopt or delete another's.
    """
    meta = namespace.get("metadata") or {}
    owner = (meta.get("annotations") or {}).get(manifests.OWNER_ANNOTATION)
    if owner and owner != owner_of(env):
        return f"Environment {owner}"
    kind = (meta.get("labels") or {}).get(naming.LABEL_NAMESPACE_TYPE)
    if kind and kind != "environment":
        return f"a {kind} namespace"
    return None


class Blocked(Exception):
    """The Environment cannot be deployed as specified: `reason` and message for the status."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def build_context(obs: Observed) -> tuple[ModeContext, DeployMode]:
    """The mode context of an Environment; raises Blocked when something needed is missing."""
    env, project = obs.environment, obs.project
    team = team_of(env)
    if team is None:
        raise Blocked("MissingLabels", f"label {naming.LABEL_TEAM} is missing")
    if project is None:
        raise Blocked("ProjectNotFound", f"project {env.spec.project_ref.name!r} not found")
    template = project.template_for(env.spec.type)
    if template is None:
        raise Blocked("NoTemplate", f"project has no {env.spec.type!r} template")
    try:
        mode = mode_for(template.type)
    except UnknownMode as exc:
        raise Blocked("UnsupportedTemplateType", str(exc)) from None
    namespace = naming.environment_namespace(team, project.metadata.name, env.metadata.name)
    ctx = ModeContext(
        environment=env,
        project=project,
        template=template,
        team=team,
        namespace=namespace,
        labels=environment_labels(env, team, project.metadata.name),
        host=naming.preview_host(namespace, obs.settings.preview_domain),
        settings=obs.settings,
        config=resolve_config(template.config, env.spec.config),
        commit_sha=env.primary_source.commit_sha,
        redeploy_nonce=env.spec.redeploy_nonce,
        deployed_hash=env.status.deployed_hash if env.status else None,
    )
    return ctx, mode


def environment_labels(env: Environment, team: str, project: str) -> dict[str, str]:
    """Standard labels of every object in the environment namespace."""
    labels = naming.standard_labels(team, project, env.metadata.name)
    labels[naming.LABEL_BRANCH] = naming.sanitize_label_value(env.primary_source.branch) or "none"
    return labels


# --- desired state -------------------------------------------------------------------------------


def infra_objects(ctx: ModeContext, obs: Observed) -> list[Manifest]:
    """Quota, LimitRange, NetworkPolicies, pull secret and `default` ServiceAccount."""
    ns, labels, settings = ctx.namespace, ctx.labels, ctx.settings
    resources = ctx.project.spec.resources
    quota = getattr(resources, ctx.environment.spec.type) if resources else None
    objects = [
        *confinement.deployer_objects(ns, labels, settings.deployer_cluster_role),
        manifests.resource_quota(ns, labels, quota),
        manifests.limit_range(ns, labels),
        manifests.network_policy(ns, labels, settings.ingress_namespace),
        manifests.build_network_policy(
            ns, labels, settings.build_egress_cidrs, settings.build_egress_ports
        ),
    ]
    if obs.team_pull_secret is not None:
        objects.append(manifests.pull_secret(ns, labels, obs.team_pull_secret))
    if ctx.environment.primary_source.fork and obs.fork_push_secret is not None:
        objects.append(manifests.fork_push_secret(ns, labels, obs.fork_push_secret))
    live_account = obs.children.get(("ServiceAccount", "default"))
    objects.append(service_account(ctx, live_account, pull_secret=obs.team_pull_secret is not None))
    if not ctx.environment.primary_source.fork:  # a fork PR never gets the project's secrets
        for name in sorted(referenced_secrets(ctx.config)):
            if name in obs.app_secrets:
                objects.append(manifests.app_secret(ns, labels, obs.app_secrets[name]))
    return objects


def referenced_secrets(config: EnvironmentConfig) -> set[str]:
    """Names of the Secrets the container env references (`valueFrom.secretKeyRef`)."""
    variables = list(config.env or [])
    for init in config.init_containers or []:
        variables.extend(init.env or [])
    names = set()
    for var in variables:
        ref = (var.value_from or {}).get("secretKeyRef") or {}
        if isinstance(ref, dict) and isinstance(ref.get("name"), str):
            names.add(ref["name"])
    return names


def service_account(ctx: ModeContext, live: Manifest | None, *, pull_secret: bool) -> Manifest:
    """`default` ServiceAccount with no token mounted, keeping its pull secrets, plus ours."""
    desired = manifests.default_service_account(ctx.namespace, ctx.labels)
    current = list((live or {}).get("imagePullSecrets") or [])
    if pull_secret and {"name": manifests.PULL_SECRET} not in current:
        current.append({"name": manifests.PULL_SECRET})
    desired["imagePullSecrets"] = current
    if not current:
        del desired["imagePullSecrets"]
    if live is not None:  # keep the labels it has; only what we set matters on this object
        desired["metadata"] = {"name": "default", "namespace": ctx.namespace}
    return desired


def key_of(obj: Manifest) -> ObjectKey:
    """(kind, name) of a manifest."""
    return str(obj["kind"]), str(obj["metadata"]["name"])


# --- builds --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildOutcome:
    """The state of every build of the target commit, and the writes it needs."""

    statuses: tuple[BuildStatus, ...]
    actions: tuple[Action, ...]


def previous_build(env: Environment, job_name: str, sha: str) -> BuildStatus | None:
    """The recorded status of a build Job for `sha`, if any."""
    for build in (env.status.builds if env.status else None) or []:
        if build.job == job_name and build.commit_sha == sha:
            return build
    return None


def plan_build(ctx: ModeContext, obs: Observed, build: BuildSpec) -> BuildOutcome:
    """Adopt, create, restart or read the Job of one build at the target commit."""
    env, sha = ctx.environment, ctx.commit_sha
    nonce = env.spec.rebuild_nonce
    job_name = naming.build_job_name(build.name, sha)
    image, push_secret = build_destination(ctx, build)
    job, before = obs.jobs.get(job_name), previous_build(env, job_name, sha)
    record = BuildStatus(name=build.name, job=job_name, commit_sha=sha, state="Running")
    record.rebuild_nonce = nonce
    if job is not None:
        return _existing_job(ctx, job, record, image, before, obs.build_logs.get(job_name))
    if before is not None and before.rebuild_nonce == nonce and before.state != "Running":
        return BuildOutcome((before,), ())  # finished earlier (Job TTL-deleted): never redone
    create = CreateBuild(build_job(ctx, build, image, push_secret), *_github_of(env))
    return BuildOutcome((record,), (create,))


FORK_SETTINGS = "CATALYST_FORK_REGISTRY_SECRET (or CATALYST_FORK_REGISTRY)"


def build_destination(ctx: ModeContext, build: BuildSpec) -> tuple[str, str | None]:
    """Image and push credential of a build; a fork's never carry the team's credential.

    A fork pushes to its own preview's path, with the platform's fork credential when one is
    configured, else without any (a registry that needs none); Blocked when neither is set.
    """
    settings, sha = ctx.settings, ctx.commit_sha
    if not ctx.environment.primary_source.fork:
        project = ctx.project.metadata.name
        image = manifests.image_ref(settings.registry, ctx.team, project, build.name, sha)
        return image, manifests.PULL_SECRET
    if not (settings.fork_registry_secret or settings.fork_registry):
        raise Blocked(
            "ForkBuildNotConfigured",
            "a fork's code runs inside its build, so it never gets the team's registry "
            f"credential: the platform must set {FORK_SETTINGS} before fork PRs can build",
        )
    registry = settings.fork_registry or settings.registry
    image = manifests.fork_image_ref(registry, ctx.namespace, build.name, sha)
    return image, manifests.FORK_PUSH_SECRET if settings.fork_registry_secret else None


def _github_of(env: Environment) -> tuple[int | None, str | None]:
    github = env.spec.github
    return (github.installation_id, github.repository) if github else (None, None)


def _existing_job(
    ctx: ModeContext,
    job: Manifest,
    record: BuildStatus,
    image: str,
    before: BuildStatus | None,
    log_tail: str | None = None,
) -> BuildOutcome:
    annotations = (job.get("metadata") or {}).get("annotations") or {}
    if annotations.get(manifests.NONCE_ANNOTATION, "") != (record.rebuild_nonce or ""):
        return BuildOutcome((record,), delete_build(ctx.namespace, record.job))  # rebuild asked
    if is_deleting(job):
        return BuildOutcome((record,), ())
    state, reason = job_state(job)
    record.state = state
    if state == "Succeeded":
        record.image = image
    if state == "Failed":
        record.message = f"build {record.name} failed ({reason}); logs: job/{record.job}"
        same_attempt = before is not None and before.rebuild_nonce == record.rebuild_nonce
        record.log_tail = log_tail or (before.log_tail if before and same_attempt else None)
    finished_now = state != "Running" and (before is None or before.state == "Running")
    cleanup = (RevokeBuildToken(record.job, ctx.namespace),)
    return BuildOutcome((record,), cleanup if finished_now else ())


def delete_build(namespace: str, job_name: str) -> tuple[Action, ...]:
    """Delete a build Job and revoke and delete its git token."""
    return (Delete("Job", job_name, namespace), RevokeBuildToken(job_name, namespace))


def build_job(ctx: ModeContext, build: BuildSpec, image: str, push_secret: str | None) -> Manifest:
    """The Kaniko Job for one build at the target commit."""
    source = next((s for s in ctx.project.spec.sources if s.name == build.source_ref), None)
    if source is None:
        raise ConfigError(f"build {build.name!r}: source {build.source_ref!r} not in project")
    env_source = next(
        (s for s in ctx.environment.spec.sources if s.name == build.source_ref),
        ctx.environment.primary_source,
    )
    cleaned = {
        "dockerfile": clean_path(build.dockerfile) or "Dockerfile",
        "path": clean_path(build.path),
    }
    return manifests.build_job(
        ns=ctx.namespace,
        labels=ctx.labels,
        build=build.model_copy(update=cleaned),
        context=manifests.git_context(source, env_source),
        destination=image,
        builder_image=ctx.settings.builder_image,
        commit_sha=ctx.commit_sha,
        rebuild_nonce=ctx.environment.spec.rebuild_nonce,
        deadline_seconds=ctx.settings.build_deadline_seconds,
        ttl_seconds=ctx.settings.build_ttl_seconds,
        push_secret=push_secret,
    )


def plan_builds(ctx: ModeContext, mode: DeployMode, obs: Observed) -> BuildOutcome:
    """Every build of the target commit; Jobs of superseded commits are deleted."""
    outcomes = [plan_build(ctx, obs, b) for b in mode.builds(ctx)]
    wanted = {s.job for o in outcomes for s in o.statuses}
    stale = [name for name in obs.jobs if name not in wanted]
    actions = [a for o in outcomes for a in o.actions]
    for name in sorted(stale):
        if not is_deleting(obs.jobs[name]):
            actions.extend(delete_build(ctx.namespace, name))
    return BuildOutcome(tuple(s for o in outcomes for s in o.statuses), tuple(actions))


# --- status --------------------------------------------------------------------------------------

Cond = tuple[str, str, str]  # (status, reason, message)


def current_status(env: Environment) -> EnvironmentStatus:
    """A copy of the Environment's status (a fresh Pending one when it has none)."""
    return env.status.model_copy(deep=True) if env.status else EnvironmentStatus()


def with_conditions(
    obs: Observed, status: EnvironmentStatus, built: Cond, deployed: Cond, ready: Cond
) -> EnvironmentStatus:
    """`status` with the Built/Deployed/Ready conditions set (transition times kept)."""
    gen = obs.environment.metadata.generation
    conds = status.conditions
    for type_, (state, reason, message) in (
        (conditions.BUILT, built),
        (conditions.DEPLOYED, deployed),
        (conditions.READY, ready),
    ):
        conds = conditions.set_condition(
            conds, type_, state, reason, message, generation=gen, now=obs.now
        )
    status.conditions = conds
    status.observed_generation = gen
    return status


def failed(obs: Observed, reason: str, message: str) -> Plan:
    """Failed with `reason`: nothing is written to the cluster, the old pods keep serving."""
    status = current_status(obs.environment)
    status.phase, status.message = Phase.FAILED, message
    status.target_commit_sha = obs.environment.primary_source.commit_sha
    down = (conditions.FALSE, reason, message)
    status = with_conditions(obs, status, down, down, down)
    return Plan((), status, None)


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
        return Plan((RemoveFinalizer(),), status, None, release=True)
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
        reason = str(getattr(exc, "reason", "InvalidConfig"))
        return ActivePlan(failed(obs, reason, str(exc)), False)


def namespace_manifest(ctx: ModeContext) -> Manifest:
    """The environment namespace with its labels and owner annotation."""
    labels = {**ctx.labels, naming.LABEL_NAMESPACE_TYPE: "environment"}
    labels |= confinement.pod_security_labels(ctx.project.spec.security.pod_security)
    return manifests.namespace(ctx.namespace, labels, owner_of(ctx.environment))


def plan_active(obs: Observed, ctx: ModeContext, mode: DeployMode) -> ActivePlan:
    """Namespace, isolation objects, builds, deploy and readiness of a live Environment."""
    ns_manifest = namespace_manifest(ctx)
    ns_live = obs.namespaces.get(ctx.namespace)
    base = _active_status(obs, ctx)
    other = foreign_owner(ns_live, obs.environment) if ns_live is not None else None
    if other is not None:
        return ActivePlan(failed(obs, "NamespaceCollision", collision_message(ctx, other)), False)
    if ns_live is None:
        status = _pending(obs, base, "creating namespace")
        return ActivePlan(Plan((Apply(ns_manifest, None),), status, REQUEUE_NOW), False)
    if is_deleting(ns_live):
        status = _pending(obs, base, "waiting for the old namespace to terminate")
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


def _active_status(obs: Observed, ctx: ModeContext) -> EnvironmentStatus:
    status = current_status(obs.environment)
    status.namespace = ctx.namespace
    status.url = naming.preview_url(ctx.namespace, ctx.settings.preview_domain)
    status.target_commit_sha = ctx.commit_sha
    return status


def _serving(status: EnvironmentStatus, target: str) -> str:
    live = status.commit_sha
    if live and live != target:
        return f"serving {naming.short_sha(live)} while {naming.short_sha(target)} rolls out"
    return f"{naming.short_sha(target)} is not serving yet"


def _pending(obs: Observed, status: EnvironmentStatus, message: str) -> EnvironmentStatus:
    status.phase = Phase.PENDING if not status.commit_sha else Phase.DEPLOYING
    status.message = message
    target = obs.environment.primary_source.commit_sha
    wait = (conditions.FALSE, "Pending", message)
    ready = (conditions.FALSE, "RollingOut", _serving(status, target))
    return with_conditions(obs, status, wait, wait, ready)


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
    serving = (conditions.FALSE, "RollingOut", _serving(status, ctx.commit_sha))
    if failures:
        message = "; ".join(b.message or b.name for b in failures)
        status.phase, status.message = Phase.FAILED, message
        down = (conditions.FALSE, "BuildFailed", message)
        held = (conditions.FALSE, "BuildFailed", "not deployed: the build failed")
        status = with_conditions(
            obs, status, down, held, (conditions.FALSE, "BuildFailed", message)
        )
        return Plan(tuple(writes), status, None)
    if fingerprint is None:
        status.phase, status.message = (
            Phase.BUILDING,
            f"building {naming.short_sha(ctx.commit_sha)}",
        )
        building = (conditions.FALSE, "Building", status.message)
        waiting = (conditions.FALSE, "WaitingForBuild", status.message)
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
    built = (conditions.TRUE, "Built", "images built" if status.builds else "nothing to build")
    if not writes:
        writes = _drift(mode.desired_objects(ctx), obs)
    if writes:
        status.phase, status.message = Phase.DEPLOYING, "applying manifests"
        applying = (conditions.FALSE, "Applying", status.message)
        serving = (conditions.FALSE, "RollingOut", _serving(status, ctx.commit_sha))
        status = with_conditions(obs, status, built, applying, serving)
        return Plan(tuple(writes), status, REQUEUE_NOW)
    extras: tuple[Action, ...] = ()
    if status.deployed_hash != fingerprint:
        extras = (ModeApply(mode, ctx),)  # imperative part (helm); a no-op for docker
    readiness = mode.readiness(ctx, obs.children)
    deployed = deployed_condition(ctx, readiness)
    status.deployed_hash = fingerprint
    if readiness.failed:
        return _rollout_failed(obs, ctx, status, extras, readiness)
    if not readiness.ready:
        status.phase, status.message = Phase.DEPLOYING, readiness.message
        waiting = (conditions.FALSE, readiness.reason, _serving(status, ctx.commit_sha))
        status = with_conditions(obs, status, built, deployed, waiting)
        return Plan(extras, status, REQUEUE_ROLLOUT)
    status.phase, status.message = Phase.READY, readiness.message
    status.commit_sha, status.redeploy_nonce = ctx.commit_sha, ctx.redeploy_nonce
    ready = (conditions.TRUE, readiness.reason, f"{status.url} serves {ctx.commit_sha[:7]}")
    status = with_conditions(obs, status, built, deployed, ready)
    return Plan(extras, status, None)


def deployed_condition(ctx: ModeContext, readiness: Readiness) -> Cond:
    """The Deployed condition: applied, with the mode's warnings named in its message."""
    message = f"deployed {naming.short_sha(ctx.commit_sha)}"
    if not readiness.warnings:
        return (conditions.TRUE, "Applied", message)
    return (conditions.TRUE, "AppliedWithWarnings", "; ".join([message, *readiness.warnings]))


def _rollout_failed(
    obs: Observed,
    ctx: ModeContext,
    status: EnvironmentStatus,
    extras: tuple[Action, ...],
    readiness: Readiness,
) -> Plan:
    """Failed from the rollout: the old pods (if any) keep serving; look again now and then."""
    status.phase, status.message = Phase.FAILED, readiness.message
    built = (conditions.TRUE, "Built", "images built" if status.builds else "nothing to build")
    down = (conditions.FALSE, readiness.reason, readiness.message)
    status = with_conditions(obs, status, built, deployed_condition(ctx, readiness), down)
    return Plan(extras, status, REQUEUE_FAILED_ROLLOUT)
