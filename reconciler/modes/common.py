"""Pure: pieces the prebuilt, helm and compose modes share (no I/O).

Managed services of the resolved config, the source a template reads at the target commit, and
readiness of every workload in the environment namespace.

Each Project source is read and built at the commit the Environment records for it
(`spec.sources`, written by the workers); a source without one is `SourceMissing` (a condition
naming it and why the workers could not resolve it), never another source's commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Mapping

from core import conditions
from core.errors import ConfigError
from core.model import Environment, EnvironmentSource, ProjectSource
from core.previews import unresolved_sources
from reconciler import services
from reconciler.modes import Manifest, ModeContext, Readiness, WorkloadKey, deployment_rolled_out
from reconciler.sourcerefs import SourceRef


def service_target(ctx: ModeContext) -> services.ServiceTarget:
    """Where managed services go; the Environment's uid, keyed by a secret, seeds passwords.

    The uid alone is visible to anyone who can read the Environment: keyed with
    `service_password_key` (random, generated once by the chart, else by the reconciler process
    itself: `reconciler.servicekey`) the passwords cannot be derived. Unkeyed only in unit tests.
    """
    seed = ctx.environment.metadata.uid or ctx.namespace
    key = ctx.settings.service_password_key
    if key:
        seed = hmac.new(key.encode(), seed.encode(), hashlib.sha256).hexdigest()
    return services.ServiceTarget(ctx.namespace, ctx.labels, seed)


def managed_objects(ctx: ModeContext) -> list[Manifest]:
    """Secret, Service and StatefulSet of every managed service in the config."""
    return services.service_objects(service_target(ctx), list(ctx.config.services or []))


def with_service_env(ctx: ModeContext) -> ModeContext:
    """`ctx` whose config env also carries the managed services' connection variables."""
    managed = list(ctx.config.services or [])
    if not managed:
        return ctx
    config = ctx.config.model_copy(deep=True)
    config.env = services.with_connection_env(config.env, managed)
    return dataclasses.replace(ctx, config=config)


def template_source(ctx: ModeContext) -> tuple[ProjectSource, EnvironmentSource]:
    """The project source the template reads (its `sourceRef`, else the first) and its commit."""
    name = ctx.template.source_ref or ctx.project.spec.sources[0].name
    source = ctx.project.source_named(name)
    if source is None:
        raise ConfigError(f"template sourceRef {name!r} is not a source of the project")
    return source, recorded_source(ctx.environment, name)


class SourceMissing(ConfigError):
    """A template or build needs a Project source the Environment records no commit for."""

    reason = conditions.SOURCE_MISSING


def recorded_source(env: Environment, name: str) -> EnvironmentSource:
    """The Environment's entry (its commit) for project source `name`; SourceMissing if none."""
    found = next((s for s in env.spec.sources if s.name == name), None)
    if found is None:
        raise SourceMissing(missing_source_message(env, name))
    return found


def missing_source_message(env: Environment, name: str) -> str:
    """Why source `name` has no commit: the workers' reason when they recorded one."""
    why = unresolved_sources(env).get(name)
    return (
        f"source {name!r} has no commit in this Environment's spec.sources, so it is not built "
        f"at any: {why or 'the workers have not resolved its branch head yet'}"
    )


def source_ref(ctx: ModeContext) -> SourceRef:
    """The template's source at its exact target commit, with the installation to read it."""
    source, env_source = template_source(ctx)
    github = ctx.environment.spec.github
    installation = github.installation_id if github else ctx.project.spec.github_installation_id
    return SourceRef(source.repository_url, env_source.commit_sha, installation)


def statefulset_ready(live: Manifest) -> bool:
    """Every wanted replica of a StatefulSet is ready and updated.

    The rule `helm --wait` applied (helm no longer waits, this is where it is judged): every
    replica ready, the ones the update strategy replaces updated, and, when it replaces them
    all, the rolling update finished (`currentRevision` caught up with `updateRevision`).
    """
    spec, status = live.get("spec") or {}, live.get("status") or {}
    wanted = 1 if spec.get("replicas") is None else int(spec["replicas"])
    generation = (live.get("metadata") or {}).get("generation")
    if generation is not None and int(status.get("observedGeneration") or 0) < generation:
        return False
    if int(status.get("readyReplicas") or 0) < wanted:
        return False
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return True
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    if int(status.get("updatedReplicas") or 0) < wanted - partition:
        return False
    return partition > 0 or status.get("currentRevision") == status.get("updateRevision")


def workloads_ready(workloads: Mapping[WorkloadKey, Manifest]) -> Readiness:
    """Every Deployment rolled out and every StatefulSet ready."""
    for (kind, name), live in sorted(workloads.items()):
        if kind == "Deployment":
            state = deployment_rolled_out(live)
            if not state.ready:
                return state
        elif kind == "StatefulSet" and not statefulset_ready(live):
            return Readiness(False, "RolloutInProgress", f"StatefulSet {name} is not ready yet")
    return Readiness(True, "RolloutComplete", f"{len(workloads)} workload(s) available")


def services_ready(ctx: ModeContext, workloads: Mapping[WorkloadKey, Manifest]) -> Readiness | None:
    """None when every managed service is ready, else the not-ready Readiness."""
    waiting = services.statefulsets_ready(list(ctx.config.services or []), workloads)
    return Readiness(False, "ServicesStarting", waiting) if waiting else None
