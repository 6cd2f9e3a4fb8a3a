"""Pure: the Kaniko build Jobs of the target commit: adopt, create, restart or read them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from core import naming
from core.errors import ConfigError
from core.model import BuildSpec, BuildStatus, Environment, EnvironmentSource
from reconciler import manifests
from reconciler.actions import Action, CreateBuild, Delete, RevokeBuildToken
from reconciler.context import Blocked, Observed
from reconciler.drift import is_deleting
from reconciler.modes import DeployMode, Manifest, ModeContext
from reconciler.modes.common import recorded_source
from reconciler.sourcerefs import clean_path

BuildState = Literal["Running", "Succeeded", "Failed"]
# What the Job controller labels its pods with: the uid of their Job (legacy name second).
CONTROLLER_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")


def job_state(job: Manifest, pods: Sequence[Manifest] = ()) -> tuple[BuildState, str]:
    """Running/Succeeded/Failed of a Job, with the failure reason; `pods`: the build pods read.

    The Job controller marks a Job Complete up to a second after its pod succeeded (it syncs
    pod events in 1 s batches), so a Job not finished by its own status already counts as
    Succeeded once a pod of this very Job has succeeded (our Jobs want one completion). A failed
    pod says nothing yet: whether the Job retries it is the Job's call, so Failed stays its word.
    """
    state, reason = job_status_state(job)
    if state == "Running" and any(succeeded_pod_of(job, pod) for pod in pods):
        return "Succeeded", ""
    return state, reason


def job_status_state(job: Manifest) -> tuple[BuildState, str]:
    """Running/Succeeded/Failed of a Job by its own status, with the failure reason."""
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


def awaits_pods(job: Manifest) -> bool:
    """Whether a Job's pods could tell more than its status: not finished, not being deleted."""
    return not is_deleting(job) and job_status_state(job)[0] == "Running"


def succeeded_pod_of(job: Manifest, pod: Manifest) -> bool:
    """Whether `pod` is a pod of this very Job and has succeeded."""
    return pod_of(job, pod) and (pod.get("status") or {}).get("phase") == "Succeeded"


def pod_of(job: Manifest, pod: Manifest) -> bool:
    """Whether `pod` belongs to this very Job: by its uid, never by name.

    A rebuild deletes and recreates a Job of the same name; the old Job's pods may still be
    there, and carry its uid as their controller ownerReference and controller-uid label.
    """
    uid = (job.get("metadata") or {}).get("uid")
    if not uid:
        return False
    meta = pod.get("metadata") or {}
    owners = {r.get("uid") for r in meta.get("ownerReferences") or [] if r.get("controller")}
    labels = meta.get("labels") or {}
    return uid in owners or any(labels.get(key) == uid for key in CONTROLLER_UID_LABELS)


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
    """Adopt, create, restart or read the Job of one build at its source's commit."""
    env, sha = ctx.environment, build_sha(ctx, build)
    nonce = env.spec.rebuild_nonce
    job_name = naming.build_job_name(build.name, sha)
    image, push_secret = build_destination(ctx, build)
    job, before = obs.jobs.get(job_name), previous_build(env, job_name, sha)
    record = BuildStatus(name=build.name, job=job_name, commit_sha=sha, state="Running")
    record.rebuild_nonce = nonce
    if job is not None:
        return _existing_job(ctx, obs, job=job, record=record, image=image, before=before)
    if before is not None and before.rebuild_nonce == nonce and before.state != "Running":
        return BuildOutcome((before,), ())  # finished earlier (Job TTL-deleted): never redone
    rebuild = before is not None and before.rebuild_nonce != nonce  # `/catalyst rebuild`
    create = CreateBuild(
        build_job(ctx, build, image, push_secret, cache=not rebuild), *token_scope(ctx, build)
    )
    return BuildOutcome((record,), (create,))


FORK_SETTINGS = "CATALYST_FORK_REGISTRY_SECRET (or CATALYST_FORK_REGISTRY)"


def build_destination(ctx: ModeContext, build: BuildSpec) -> tuple[str, str | None]:
    """Image and push credential of a build; a fork's never carry the team's credential.

    A fork pushes to its own preview's path, with the platform's fork credential when one is
    configured, else without any (a registry that needs none); Blocked when neither is set.
    """
    settings, sha = ctx.settings, build_sha(ctx, build)  # each source at its own commit
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


def token_scope(ctx: ModeContext, build: BuildSpec) -> tuple[int | None, str | None]:
    """Installation and repository a build's git token is minted for: the repository of the
    build's own source (another source's repository for a multi-source Project), never more."""
    github = ctx.environment.spec.github
    if github is None:
        return None, None
    if build.source_ref == ctx.environment.primary_source.name:
        return github.installation_id, github.repository
    source = ctx.project.source_named(build.source_ref)
    repository = naming.repository_slug(source.repository_url) if source else None
    return github.installation_id, repository


def _existing_job(
    ctx: ModeContext,
    obs: Observed,
    *,
    job: Manifest,
    record: BuildStatus,
    image: str,
    before: BuildStatus | None,
) -> BuildOutcome:
    """Restart (rebuild asked), wait for or read the state of a build's existing Job."""
    annotations = (job.get("metadata") or {}).get("annotations") or {}
    if annotations.get(manifests.NONCE_ANNOTATION, "") != (record.rebuild_nonce or ""):
        # Rebuild asked: the record keeps the old Job's nonce until the new Job exists, so the
        # next pass still knows it is a rebuild (built without the layer cache).
        record.rebuild_nonce = annotations.get(manifests.NONCE_ANNOTATION) or None
        return BuildOutcome((record,), delete_build(ctx.namespace, record.job))
    if is_deleting(job):
        return BuildOutcome((record,), ())
    state, reason = job_state(job, obs.build_pods)
    record.state = state
    if state == "Succeeded":
        record.image = image
    if state == "Failed":
        record.message = f"build {record.name} failed ({reason}); logs: job/{record.job}"
        same_attempt = before is not None and before.rebuild_nonce == record.rebuild_nonce
        log_tail = obs.build_logs.get(record.job)
        record.log_tail = log_tail or (before.log_tail if before and same_attempt else None)
        if private_build_log(ctx):  # the PR comment would show a fork's log to everyone
            record.log_tail = None
    finished_now = state != "Running" and (before is None or before.state == "Running")
    cleanup = (RevokeBuildToken(record.job, ctx.namespace),)
    return BuildOutcome((record,), cleanup if finished_now else ())


def private_build_log(ctx: ModeContext) -> bool:
    """A fork build's log stays off GitHub when the Project says `forkBuildLogs: private`."""
    fork = ctx.environment.primary_source.fork
    return fork and ctx.project.spec.security.fork_build_logs == "private"


def delete_build(namespace: str, job_name: str) -> tuple[Action, ...]:
    """Delete a build Job and revoke and delete its git token."""
    return (Delete("Job", job_name, namespace), RevokeBuildToken(job_name, namespace))


def environment_source(ctx: ModeContext, build: BuildSpec) -> EnvironmentSource:
    """The Environment's entry for the build's source (its commit); SourceMissing when the
    workers recorded none (never the primary's commit instead)."""
    return recorded_source(ctx.environment, build.source_ref)


def build_sha(ctx: ModeContext, build: BuildSpec) -> str:
    """The commit a build is at: its own source's.

    Job names and image tags carry it, so each source of a Project builds at its own commit.
    """
    return environment_source(ctx, build).commit_sha


def build_job(
    ctx: ModeContext,
    build: BuildSpec,
    image: str,
    push_secret: str | None,
    *,
    cache: bool = True,
) -> Manifest:
    """The Kaniko Job for one build at its source's commit (`cache=False`: from scratch)."""
    source = ctx.project.source_named(build.source_ref)
    if source is None:
        raise ConfigError(f"build {build.name!r}: source {build.source_ref!r} not in project")
    env_source = environment_source(ctx, build)
    # the Dockerfile is a path in the repository, like the context (no absolute paths, no ..)
    dockerfile = clean_path(build.dockerfile) or "Dockerfile"
    cleaned = {"dockerfile": dockerfile, "path": clean_path(build.path)}
    return manifests.build_job(
        ns=ctx.namespace,
        labels=ctx.labels,
        build=build.model_copy(update=cleaned),
        context=manifests.git_context(source, env_source),
        destination=image,
        builder_image=ctx.settings.builder_image,
        commit_sha=build_sha(ctx, build),
        rebuild_nonce=ctx.environment.spec.rebuild_nonce,
        deadline_seconds=ctx.settings.build_deadline_seconds,
        ttl_seconds=ctx.settings.build_ttl_seconds,
        flags=manifests.KanikoFlags(cache=cache, insecure=ctx.settings.registry_insecure),
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
