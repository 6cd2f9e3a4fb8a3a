"""Flow: reconcile one Environment: read everything, plan one step, do it, write status.

A pass reads the Environment (always live), its Project, namespace, build Jobs and workloads,
asks the pure planner for the next writes, does them, and loops while the plan says "go on
now". The status is written once, at the end, and only when it changed; every status change
enqueues the GitHub `publish_status` task by name.
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, assert_never

from pydantic import ValidationError

from core import conditions, jobs, naming
from core.clients.kube import AlreadyExists, Forbidden
from core.clients.queue import Enqueuer
from core.errors import CatalystError, ConfigError, Conflict, Invalid, NotFound, TemporaryError
from core.model import Environment, EnvironmentStatus, Phase, Project, ReleaseStatus
from reconciler import manifests
from reconciler.actions import (
    Action,
    AddFinalizer,
    Apply,
    CreateBuild,
    Delete,
    ModeApply,
    ModeTeardown,
    Plan,
    RevokeBuildToken,
)
from reconciler.apiserver import ApiServerAddresses
from reconciler.buildlogs import TAIL_LINES, failed_build_log, tidy
from reconciler.builds import awaits_pods, job_state
from reconciler.cluster import Cluster, Manifest
from reconciler.config import resolve_config
from reconciler.confinement import (
    DEPLOYER_SA,
    WORKER_POD_READER,
    applied_as_deployer,
    deployer_user,
)
from reconciler.context import Blocked, Observed, build_context, namespaces_of
from reconciler.drift import key_of
from reconciler.infra import referenced_secrets
from reconciler.modes import ModeIO, ModeSettings, WorkloadKey, workload_key
from reconciler.modes.install import deploy_modes
from reconciler.modes.registry import ModeRegistry
from reconciler.plan import plan_with_reads
from reconciler.reads import Reads
from reconciler.rollout import rollout_failure
from reconciler.status import failed
from reconciler.tokens import TokenSource

log = logging.getLogger(__name__)
MAX_PASSES = 8
CRASH_REASON = "ReconcileError"
REQUEUE_RELEASE = 5.0  # the final publish could not be queued: keep the finalizer, try again


@dataclass(frozen=True)
class Outcome:
    """How a reconcile ended: look again after `requeue_after` seconds (None: on events)."""

    requeue_after: float | None
    status_written: bool = False


class Reconciler:
    """Reconciles Environments with injected adapters (cluster, reads, tokens, queue)."""

    def __init__(
        self,
        *,
        cluster: Cluster,
        reads: Reads,
        settings: ModeSettings,
        tokens: TokenSource,
        enqueue: Enqueuer,
        mode_io: ModeIO | None = None,
        api_addresses: Callable[[], tuple[str, ...]] | None = None,
        modes: ModeRegistry | None = None,
        clock: Callable[[], str] = conditions.now_rfc3339,
    ) -> None:
        self.cluster, self.reads, self.settings = cluster, reads, settings
        self.tokens, self.enqueue, self.clock = tokens, enqueue, clock
        self.mode_io = mode_io or ModeIO(cluster=cluster)
        self.api_addresses = api_addresses or ApiServerAddresses(cluster)
        # every template type's mode; without a source fetcher only remote helm charts deploy
        self.modes = modes if modes is not None else deploy_modes(None)

    # --- the loop --------------------------------------------------------------------------

    def reconcile(self, namespace: str, name: str) -> Outcome:
        """Converge one Environment as far as possible now; say when to look again.

        A pass that crashes (a bug, or an error the API keeps giving) is re-raised for the
        caller's backoff, after the error is put on the Environment as its Ready condition, so
        a reconcile that keeps failing on one Environment is visible there and on GitHub.
        """
        try:
            return self._converge(namespace, name)
        except (TemporaryError, NotFound):
            raise
        except Exception as exc:
            self._report_crash(namespace, name, exc)
            raise

    def _report_crash(self, namespace: str, name: str, exc: Exception) -> None:
        try:
            env = self._read_environment(namespace, name)
            if env is not None and not env.metadata.deletion_timestamp:
                self._write_status(env, crashed_status(env, exc, now=self.clock()))
        except Exception as report_exc:  # the original error is what the caller must see
            log.warning("could not report the crash of %s/%s: %s", namespace, name, report_exc)

    def _converge(self, namespace: str, name: str) -> Outcome:
        pending: tuple[Environment, EnvironmentStatus] | None = None
        for _ in range(MAX_PASSES):
            env = self._read_environment(namespace, name)
            if env is None:
                return Outcome(None)
            obs = self.observe(env)
            step = plan_with_reads(obs)
            if step.needs_children:
                step = plan_with_reads(self.observe_children(obs))
            plan = self._act_or_fail(obs, step.plan)
            if plan.release:
                return self._release(env, plan.status)
            pending = (env, plan.status)
            if not (plan.actions and plan.requeue_after == 0.0):
                return Outcome(plan.requeue_after, self._write_status(*pending))
        written = self._write_status(*pending) if pending else False
        return Outcome(0.5, written)

    def _release(self, env: Environment, status: EnvironmentStatus) -> Outcome:
        """Drop the finalizer, but only once GitHub's final teardown status is queued.

        The task carries everything GitHub needs without the CR (and waits, retrying, while our
        finalizer is still on it); if it cannot be queued the finalizer stays and we retry, so a
        broker outage never leaves GitHub showing a preview that no longer exists.
        """
        if self._write_status(env, status):  # the finalizer patch needs the new resourceVersion
            env = self._read_environment(env.metadata.namespace or "", env.metadata.name) or env
        if not self._publish(env, {**teardown_hint(env), "final": True}):
            return Outcome(REQUEUE_RELEASE, True)
        self._remove_finalizer(env)
        return Outcome(None, True)

    def _read_environment(self, namespace: str, name: str) -> Environment | None:
        raw = self.reads.environment(namespace, name)
        if raw is None:
            return None
        try:
            return Environment.model_validate(raw)
        except ValidationError as exc:
            log.error("environment %s/%s is malformed: %s", namespace, name, exc)
            return None

    # --- observe ---------------------------------------------------------------------------

    def observe(self, env: Environment) -> Observed:
        """Read the Project, namespaces, build Jobs (and pods, while unfinished) and workloads."""
        project = self._project(env)
        names = set(namespaces_of(env))
        if project is not None and (team := (env.metadata.labels or {}).get(naming.LABEL_TEAM)):
            names.add(naming.environment_namespace(team, project.metadata.name, env.metadata.name))
        namespaces = {n: self.reads.namespace(n) for n in sorted(names)}
        target = env.status.namespace if env.status and env.status.namespace else None
        target = next((n for n in sorted(names) if namespaces.get(n)), target)
        jobs_by_name: dict[str, Manifest] = {}
        children: dict[tuple[str, str], Manifest] = {}
        build_logs: dict[str, str] = {}
        build_pods: tuple[Manifest, ...] = ()
        rollout_objects: tuple[Manifest, ...] = ()
        rollout_log: str | None = None
        if target and namespaces.get(target) and not env.metadata.deletion_timestamp:
            jobs_by_name = {j["metadata"]["name"]: j for j in self.reads.build_jobs(target)}
            build_pods = self._build_pods(target, jobs_by_name)
            children = {key_of(w): w for w in self.reads.workloads(target)}
            children.update(self._release_workloads(env, target, children))
            build_logs = self._failed_build_logs(env, target, jobs_by_name)
            if children and rolling_out(env):
                rollout_objects = self._rollout_objects(target)
                rollout_log = self._failing_container_log(target, children, rollout_objects)
        return Observed(
            environment=env,
            project=project,
            settings=self.settings,
            namespaces=namespaces,
            jobs=jobs_by_name,
            build_pods=build_pods,
            children=children,
            now=self.clock(),
            build_logs=build_logs,
            rollout_objects=rollout_objects,
            rollout_log=rollout_log,
            api_server_addresses=self.api_addresses(),
            modes=self.modes,
        )

    def _release_workloads(
        self, env: Environment, namespace: str, listed: dict[WorkloadKey, Manifest]
    ) -> dict[WorkloadKey, Manifest]:
        """The workloads of the deployed helm release that the label-selected list missed.

        Helm relabels what it installs (`app.kubernetes.io/managed-by: Helm`) and a chart need
        not carry our labels, so the release's own workloads (from `status.release`, recorded
        from its manifest) are read by name. A missing one stays missing: readiness says so.
        """
        release = env.status.release if env.status else None
        keys = [workload_key(k) for k in release.workloads or []] if release else []
        found = {k: self.cluster.get_or_none(*k, namespace) for k in keys if k not in listed}
        return {k: w for k, w in found.items() if w is not None}

    def _build_pods(
        self, namespace: str, jobs_by_name: dict[str, Manifest]
    ) -> tuple[Manifest, ...]:
        """The build pods, read only while a build Job's own status has not finished it.

        None when unreadable: the Job's own status then finishes the build, a second later.
        """
        if not any(awaits_pods(job) for job in jobs_by_name.values()):
            return ()
        try:
            return tuple(self.reads.build_pods(namespace))
        except CatalystError as exc:
            log.info("build pods of %s not read: %s", namespace, exc)
            return ()

    def _rollout_objects(self, namespace: str) -> tuple[Manifest, ...]:
        """ReplicaSets and Pods; none when unreadable (the rollout is judged on the next pass)."""
        try:
            return tuple(self.reads.rollout_objects(namespace))
        except CatalystError as exc:
            log.info("pods of %s not read: %s", namespace, exc)
            return ()

    def _failing_container_log(
        self,
        namespace: str,
        children: dict[tuple[str, str], Manifest],
        objects: tuple[Manifest, ...],
    ) -> str | None:
        """The redacted log tail of the container that makes the rollout fail (None: no log)."""
        failure = rollout_failure(children, objects)
        if failure is None or not failure.has_logs:
            return None
        try:
            text = self.cluster.pod_log(
                failure.pod,
                namespace,
                tail_lines=TAIL_LINES,
                container=failure.container,
                previous=failure.restarts > 0,  # the run that crashed, not the one starting now
            )
        except CatalystError as exc:
            log.info("log of %s/%s not read: %s", failure.pod, failure.container, exc)
            return None
        return tidy(text)

    def _failed_build_logs(
        self, env: Environment, namespace: str, jobs_by_name: dict[str, Manifest]
    ) -> dict[str, str]:
        """Log tails of failed build Jobs whose tail the status does not hold yet."""
        builds = (env.status.builds if env.status else None) or []
        nonce = env.spec.rebuild_nonce
        recorded = {b.job for b in builds if b.log_tail and b.rebuild_nonce == nonce}
        tails = {
            name: failed_build_log(self.cluster, namespace, job)
            for name, job in jobs_by_name.items()
            if name not in recorded and job_state(job)[0] == "Failed"
        }
        return {name: tail for name, tail in tails.items() if tail}

    def _project(self, env: Environment) -> Project | None:
        team = (env.metadata.labels or {}).get(naming.LABEL_TEAM)
        if not team:
            return None
        raw = self.reads.project(naming.team_namespace(team), env.spec.project_ref.name)
        try:
            return Project.model_validate(raw) if raw else None
        except ValidationError as exc:
            log.error("project of %s is malformed: %s", env.metadata.name, exc)
            return None

    def observe_children(self, obs: Observed) -> Observed:
        """Also read every desired child object and the team's pull secret (slow path)."""
        env, project = obs.environment, obs.project
        assert project is not None
        team = (env.metadata.labels or {}).get(naming.LABEL_TEAM, "")
        ns = naming.environment_namespace(team, project.metadata.name, env.metadata.name)
        secret = self.cluster.get_or_none(
            "Secret", manifests.PULL_SECRET, project.metadata.namespace
        )
        fork_secret = self._fork_push_secret(obs, project.metadata.namespace)
        app_secrets = self._app_secrets(obs, str(env.metadata.namespace))
        tls = self._tls_source()
        children = dict(obs.children)
        copies = [*app_secrets, *([self.settings.tls_secret] if tls else [])]
        keys = self._child_keys(obs, secret is not None) + [("Secret", str(n)) for n in copies]
        for kind, name in keys:
            found = self.cluster.get_or_none(kind, name, ns)
            if found is not None:
                children[(kind, name)] = found
        return replace(
            obs,
            children=children,
            children_read=True,
            team_pull_secret=secret,
            fork_push_secret=fork_secret,
            app_secrets=app_secrets,
            tls_source=tls,
        )

    def _tls_source(self) -> Manifest | None:
        """The wildcard TLS Secret to copy (none when cert-manager issues per preview)."""
        name, settings = self.settings.tls_secret, self.settings
        if not name or settings.cert_issuer:
            return None
        return self.cluster.get_or_none("Secret", name, settings.ingress_namespace)

    def _fork_push_secret(self, obs: Observed, team_namespace: str | None) -> Manifest | None:
        """The platform's fork push credential from the team namespace (forks only)."""
        name = self.settings.fork_registry_secret
        if not name or not obs.environment.primary_source.fork:
            return None
        return self.cluster.get_or_none("Secret", name, team_namespace)

    def _app_secrets(self, obs: Observed, project_namespace: str) -> dict[str, Manifest]:
        """The project-namespace Secrets the resolved config references (none for forks)."""
        env, project = obs.environment, obs.project
        template = project.template_for(env.spec.type) if project else None
        if template is None or env.primary_source.fork:
            return {}
        config = resolve_config(template.config, env.spec.config)
        found = {
            n: self.cluster.get_or_none("Secret", n, project_namespace)
            for n in referenced_secrets(config)
        }
        return {n: s for n, s in sorted(found.items()) if s is not None}

    def _child_keys(self, obs: Observed, with_secret: bool) -> list[tuple[str, str]]:
        keys = [
            ("ResourceQuota", manifests.QUOTA_NAME),
            ("LimitRange", manifests.LIMITS_NAME),
            ("NetworkPolicy", manifests.POLICY_NAME),
            ("NetworkPolicy", manifests.BUILD_POLICY_NAME),
            ("ServiceAccount", DEPLOYER_SA),
            ("RoleBinding", DEPLOYER_SA),
            ("ServiceAccount", "default"),
            ("Service", "web"),
            ("Ingress", "web"),
        ]
        if self.settings.worker_account is not None:
            keys.append(("RoleBinding", WORKER_POD_READER))
        if with_secret:
            keys.append(("Secret", manifests.PULL_SECRET))
        if obs.environment.primary_source.fork and self.settings.fork_registry_secret:
            keys.append(("Secret", manifests.FORK_PUSH_SECRET))
        for volume in self._volumes(obs):
            keys.append(("PersistentVolumeClaim", volume))
        keys += [k for k in self._mode_keys(obs) if k not in keys]
        return [k for k in keys if k not in obs.children]

    @staticmethod
    def _mode_keys(obs: Observed) -> list[tuple[str, str]]:
        """(kind, name) of every object the deploy mode wants (helm/compose/services names)."""
        try:
            ctx, mode = build_context(obs)
            status = obs.environment.status
            ctx = replace(ctx, images=dict(status.images or {}) if status else {})
            return [key_of(o) for o in mode.desired_objects(ctx)]
        except (Blocked, CatalystError):
            return []  # builds not done yet or config unusable: the planner reports it

    @staticmethod
    def _volumes(obs: Observed) -> list[str]:
        env, project = obs.environment, obs.project
        template = project.template_for(env.spec.type) if project else None
        configs = [template.config if template else None, env.spec.config]
        return sorted({v.name for c in configs if c for v in c.volumes or []})

    # --- act -------------------------------------------------------------------------------

    def _act_or_fail(self, obs: Observed, plan: Plan) -> Plan:
        """Do the plan's writes; what a mode's apply deployed (a helm revision) joins its status."""
        try:
            for action in plan.actions:
                release = self.act(obs.environment, action)
                if release is not None:
                    plan.status.release = release
        except (Invalid, ConfigError) as exc:
            log.warning("environment %s: write rejected: %s", obs.environment.metadata.name, exc)
            return failed(obs, str(getattr(exc, "reason", conditions.REJECTED)), str(exc))
        return plan

    def act(self, env: Environment, action: Action) -> ReleaseStatus | None:
        """Do one planned write; a ModeApply returns what it deployed (if the mode says)."""
        match action:
            case AddFinalizer():
                self._set_finalizers(env, [*(env.metadata.finalizers or []), naming.FINALIZER])
            case Apply(desired=desired, live=live):
                self.apply(desired, live)
            case Delete(kind=kind, name=name, namespace=namespace):
                self.cluster.delete(kind, name, namespace)
            case CreateBuild():
                self.create_build(action)
            case RevokeBuildToken(job_name=job_name, namespace=namespace):
                self.revoke_build_token(job_name, namespace)
            case ModeApply(mode=mode, ctx=ctx):
                return mode.apply(ctx, self.mode_io)
            case ModeTeardown(mode=mode, ctx=ctx):
                mode.teardown(ctx, self.mode_io)
            case _:
                assert_never(action)
        return None

    def apply(self, desired: Manifest, live: Manifest | None) -> None:
        """Create `desired`, or merge-patch it over the live object.

        What the deploy mode wants (workloads, services, ingresses, ...) is written as the
        namespace's deployer ServiceAccount, never with the reconciler's own rights.
        """
        cluster = self._writer_of(desired)
        try:
            self._write(cluster, desired, live)
        except Forbidden as exc:
            if cluster is self.cluster:
                raise
            # the deployer's RoleBinding was created a moment ago and RBAC has not caught up
            # (or the chart's deployer ClusterRole lacks the kind): look again shortly
            raise TemporaryError(f"deployer may not write yet: {exc}", delay=2.0) from exc

    def _write(self, cluster: Cluster, desired: Manifest, live: Manifest | None) -> None:
        meta = desired["metadata"]
        if live is None:
            try:
                self.reads.remember(cluster.create(desired))
            except AlreadyExists:
                pass  # created by an earlier pass or a racing writer; compared next pass
            return
        patched = cluster.patch(desired["kind"], meta["name"], meta.get("namespace"), desired)
        self.reads.remember(patched)

    def _writer_of(self, desired: Manifest) -> Cluster:
        if not applied_as_deployer(desired) or desired["metadata"]["name"] == DEPLOYER_SA:
            return self.cluster
        return self.cluster.impersonating(deployer_user(desired["metadata"]["namespace"]))

    def create_build(self, action: CreateBuild) -> None:
        """Store a token minted for this build alone, create (or adopt) the Job, let it own it.

        The Secret exists before the Job so its pod never starts without it; a public
        repository gets no token at all.
        """
        job, token = action.job, None
        meta = job["metadata"]
        if action.installation_id is not None and action.repository:
            token = self.tokens.build_token(action.installation_id, action.repository)
        if token is not None:
            self.revoke_build_token(meta["name"], meta["namespace"])  # a crashed earlier attempt
            self.cluster.create(
                manifests.git_token_secret(meta["namespace"], meta["labels"], meta["name"], token)
            )
        try:
            created = self.cluster.create(job)
        except AlreadyExists:
            created = self.cluster.get("Job", meta["name"], meta["namespace"])
        self.reads.remember(created)
        if token is not None:
            self._owned_by_job(manifests.token_secret_name(meta["name"]), created)

    def _owned_by_job(self, secret: str, job: Manifest) -> None:
        meta = job["metadata"]
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"]}
        patch = {"metadata": {"ownerReferences": [owner]}}
        self.cluster.patch("Secret", secret, meta["namespace"], patch)

    def revoke_build_token(self, job_name: str, namespace: str) -> None:
        """Revoke a build's git token with GitHub, then delete its Secret (absent is fine)."""
        name = manifests.token_secret_name(job_name)
        secret = self.cluster.get_or_none("Secret", name, namespace)
        if secret is None:
            return
        encoded = (secret.get("data") or {}).get("GIT_PASSWORD")
        if encoded:
            self.tokens.revoke(base64.b64decode(encoded).decode())
        self.cluster.delete("Secret", name, namespace)

    # --- Environment writes ----------------------------------------------------------------

    def _set_finalizers(self, env: Environment, finalizers: list[str]) -> None:
        patch = {
            "metadata": {"finalizers": finalizers, "resourceVersion": env.metadata.resource_version}
        }
        self.cluster.patch("Environment", env.metadata.name, env.metadata.namespace, patch)

    def _remove_finalizer(self, env: Environment) -> None:
        kept = [f for f in env.metadata.finalizers or [] if f != naming.FINALIZER]
        if kept == (env.metadata.finalizers or []):
            return
        try:
            self._set_finalizers(env, kept)
        except NotFound:
            pass

    def _write_status(self, env: Environment, status: EnvironmentStatus) -> bool:
        """Write `status` when it differs from the stored one; then publish it to GitHub."""
        old = env.status.to_wire() if env.status else None
        new = status.to_wire()
        if old == new:
            return False
        body = {**{k: None for k in old or {} if k not in new}, **new}
        patch = {"metadata": {"resourceVersion": env.metadata.resource_version}, "status": body}
        try:
            self.cluster.patch(
                "Environment",
                env.metadata.name,
                env.metadata.namespace,
                patch,
                subresource="status",
            )
        except NotFound:
            return False
        log_phase_change(env, status)
        self._publish(env)
        return True

    def _publish(self, env: Environment, hint: dict[str, Any] | None = None) -> bool:
        """Queue `publish_status`; False when the broker refused it."""
        kwargs = {"namespace": env.metadata.namespace, "name": env.metadata.name, **(hint or {})}
        try:
            self.enqueue(jobs.TASK_PUBLISH_STATUS, kwargs)
        except TemporaryError as exc:
            # The status is on the CR (the source of truth); the GitHub resync will catch up.
            log.warning("publish_status for %s not enqueued: %s", env.metadata.name, exc)
            return False
        return True


def rolling_out(env: Environment) -> bool:
    """Whether the pods may be starting a new revision (not Ready on the target commit)."""
    status = env.status
    if status is None or status.phase != Phase.READY:
        return True
    return status.commit_sha != env.primary_source.commit_sha


def crashed_status(env: Environment, exc: Exception, *, now: str) -> EnvironmentStatus:
    """The status of an Environment whose reconcile crashed: Failed, the error in Ready."""
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" in {Path(where.filename).name}:{where.name}" if where else ""
    message = f"reconcile error ({type(exc).__name__}: {exc}{at}); retrying with backoff"
    status = env.status.model_copy(deep=True) if env.status else EnvironmentStatus()
    status.phase, status.message = Phase.FAILED, message
    status.conditions = conditions.set_condition(
        status.conditions,
        conditions.READY,
        conditions.FALSE,
        CRASH_REASON,
        message,
        generation=env.metadata.generation,
        now=now,
    )
    return status


def teardown_hint(env: Environment) -> dict[str, Any]:
    """What `publish_status` needs to finish GitHub teardown without the CR (or Redis)."""
    github = env.spec.github
    if github is None:
        return {}
    project = env.spec.project_ref.name
    default = (
        naming.github_environment(project, env.metadata.name)
        if env.spec.type == "development"
        else env.metadata.name
    )
    notes = env.metadata.annotations or {}
    return {
        "repository": github.repository,
        "installation_id": github.installation_id,
        "project": project,
        "pr_number": env.primary_source.pr_number,
        "github_environment": notes.get(naming.ANNOTATION_GITHUB_ENVIRONMENT) or default,
    }


__all__ = ["Conflict", "Outcome", "Reconciler"]


def phase_reason(status: EnvironmentStatus) -> str:
    """Why the Environment is in its phase: the first condition not yet True, else Ready's."""
    found = status.conditions or []
    pending = [c for c in found if c.status != "True"]
    chosen = pending[0] if pending else next((c for c in found if c.type == "Ready"), None)
    return chosen.reason if chosen else ""


def log_phase_change(env: Environment, status: EnvironmentStatus) -> None:
    """One line per phase change (what a person watching the log wants), none for no-ops."""
    old = env.status.phase if env.status else None
    if old == status.phase:
        return
    where = f"{env.metadata.namespace}/{env.metadata.name}"
    commit = naming.short_sha(status.target_commit_sha or status.commit_sha or "") or "-"
    reason = phase_reason(status)
    log.info(
        "environment %s: %s -> %s (%s), commit %s",
        where,
        old.value if old else "new",
        status.phase.value,
        reason or "no reason",
        commit,
        extra={
            "environment": where,
            "phase": status.phase.value,
            "reason": reason,
            "commit": commit,
        },
    )
