"""Pure: what one pass observed for an Environment and the mode context derived from it (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core import conditions, naming
from core.model import Environment, Project
from reconciler.config import effective_config
from reconciler.drift import ObjectKey
from reconciler.manifests import OWNER_ANNOTATION
from reconciler.modes import DeployMode, Manifest, ModeContext, ModeSettings
from reconciler.modes.registry import ModeRegistry, UnknownMode, mode_for, pure_modes


@dataclass(frozen=True)
class Observed:
    """Everything read for one Environment in one pass."""

    environment: Environment
    project: Project | None
    settings: ModeSettings
    namespaces: Mapping[str, Manifest | None] = field(default_factory=dict)
    jobs: Mapping[str, Manifest] = field(default_factory=dict)
    # The namespace's build pods, read while a build Job's own status has not finished it: a
    # pod of that very Job that succeeded finishes the build before the Job says so.
    build_pods: tuple[Manifest, ...] = ()
    children: Mapping[ObjectKey, Manifest] = field(default_factory=dict)
    children_read: bool = False
    team_pull_secret: Manifest | None = None
    fork_push_secret: Manifest | None = None
    app_secrets: Mapping[str, Manifest] = field(default_factory=dict)
    # ReplicaSets and Pods of the namespace, read while a rollout is under way (see rollout.py),
    # and the redacted log tail of the failing container among them (read once it fails).
    rollout_objects: tuple[Manifest, ...] = ()
    rollout_log: str | None = None
    # CATALYST_TLS_SECRET as it is in the ingress namespace (copied into the preview namespace).
    tls_source: Manifest | None = None
    now: str | None = None
    # Redacted log tails of failed build Jobs, by Job name (read once per failed Job).
    build_logs: Mapping[str, str] = field(default_factory=dict)
    # The Kubernetes API server's addresses: excepted from build pods' egress.
    api_server_addresses: tuple[str, ...] = ()
    # Template type -> deploy mode: the process's registry (`reconciler.modes.install`).
    modes: ModeRegistry = field(default_factory=pure_modes)


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
    owner = (meta.get("annotations") or {}).get(OWNER_ANNOTATION)
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
        raise Blocked(conditions.MISSING_LABELS, f"label {naming.LABEL_TEAM} is missing")
    if project is None:
        raise Blocked(
            conditions.PROJECT_NOT_FOUND, f"project {env.spec.project_ref.name!r} not found"
        )
    template = project.template_for(env.spec.type)
    if template is None:
        raise Blocked(conditions.NO_TEMPLATE, f"project has no {env.spec.type!r} template")
    try:
        mode = mode_for(template.type, obs.modes)
    except UnknownMode as exc:
        raise Blocked(conditions.UNSUPPORTED_TEMPLATE_TYPE, str(exc)) from None
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
        config=effective_config(template.config, env.spec.config, fork=env.primary_source.fork),
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
