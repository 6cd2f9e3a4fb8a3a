"""Pure: typed models of the Project and Environment custom resources (no I/O).

These mirror `crds/projects.yaml` and `crds/environments.yaml` field by field (a test enforces it).
Wire names are camelCase; Python attributes are snake_case. Unknown fields are rejected so a typo
in a sample or a drifted schema fails loudly instead of being dropped.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

API_GROUP = "catalyst.catalyst.dev"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"
PROJECT_PLURAL = "projects"
ENVIRONMENT_PLURAL = "environments"

TemplateType = Literal["helm", "docker", "docker-compose", "prebuilt"]
EnvironmentType = Literal["development", "deployment"]
Permission = Literal["none", "read", "triage", "write", "maintain", "admin"]


class CamelModel(BaseModel):
    """Base for every CR fragment: camelCase on the wire, strict about unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=False
    )

    def to_wire(self) -> dict[str, Any]:
        """Serialise with wire names, dropping unset optionals."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Phase(StrEnum):
    """Lifecycle phase of an Environment, as shown in `status.phase`."""

    PENDING = "Pending"
    BUILDING = "Building"
    DEPLOYING = "Deploying"
    READY = "Ready"
    FAILED = "Failed"
    SUSPENDED = "Suspended"
    DELETING = "Deleting"


# --- container configuration (curated corev1 subset) -------------------------------------------


class EnvVar(CamelModel):
    """A container environment variable; `valueFrom` is passed through as Kubernetes defines it."""

    name: str
    value: str | None = None
    value_from: dict[str, Any] | None = None


class ContainerPort(CamelModel):
    """A port the application container listens on."""

    container_port: int = Field(ge=1, le=65535)
    name: str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


class Resources(CamelModel):
    """CPU/memory requests and limits, as Kubernetes quantities."""

    requests: dict[str, str] | None = None
    limits: dict[str, str] | None = None


class VolumeMount(CamelModel):
    """Where a config volume is mounted in the container."""

    name: str
    mount_path: str
    sub_path: str | None = None
    read_only: bool | None = None


class InitContainer(CamelModel):
    """An init container run before the application container."""

    name: str
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    env: list[EnvVar] | None = None
    resources: Resources | None = None
    volume_mounts: list[VolumeMount] | None = None


class Storage(CamelModel):
    """A persistent volume claim request."""

    size: str = "1Gi"
    storage_class_name: str | None = None


class ManagedService(CamelModel):
    """A backing service (database, cache) run beside the application in its namespace."""

    name: str
    engine: Literal["postgres", "redis", "mysql"]
    version: str | None = None
    image: str | None = None
    storage: Storage | None = None
    resources: Resources | None = None


class ConfigVolume(CamelModel):
    """A persistent volume the application mounts (a PVC is created for it)."""

    name: str
    storage: Storage = Field(default_factory=Storage)


class EnvironmentConfig(CamelModel):
    """Curated container config; an Environment's copy overrides the template's (env by name)."""

    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    ports: list[ContainerPort] | None = None
    env: list[EnvVar] | None = None
    # Fork PRs get no app Secrets: env entries referencing one are dropped, these set instead.
    fork_env: list[EnvVar] | None = None
    resources: Resources | None = None
    liveness_probe: dict[str, Any] | None = None
    readiness_probe: dict[str, Any] | None = None
    startup_probe: dict[str, Any] | None = None
    volume_mounts: list[VolumeMount] | None = None
    init_containers: list[InitContainer] | None = None
    services: list[ManagedService] | None = None
    volumes: list[ConfigVolume] | None = None


# --- Project --------------------------------------------------------------------------------------


NAME_MAX = 63  # source names and references are DNS labels
LIST_MAX = 32  # sources and builds per template; bounds the CRD's CEL rule cost


class ProjectSource(CamelModel):
    """A git repository that makes up the project."""

    name: str = Field(max_length=NAME_MAX)
    repository_url: str
    branch: str = "main"


class BuildSpec(CamelModel):
    """An image built in-cluster from a source (one Kaniko Job per commit)."""

    name: str
    source_ref: str = Field(max_length=NAME_MAX)
    path: str | None = None
    dockerfile: str = "Dockerfile"
    resources: Resources | None = None


class ChartRef(CamelModel):
    """A chart from a chart repository (https) or an OCI registry (`oci://...`)."""

    repository: str
    name: str | None = None
    version: str | None = None


class Template(CamelModel):
    """How to build and deploy one environment type of a Project."""

    type: TemplateType
    source_ref: str | None = Field(default=None, max_length=NAME_MAX)
    path: str | None = None
    chart: ChartRef | None = None
    builds: list[BuildSpec] | None = Field(default=None, max_length=LIST_MAX)
    values: dict[str, Any] | None = None
    values_passthrough: bool = False
    image: str | None = None
    expose: str | None = None
    config: EnvironmentConfig | None = None


class Templates(CamelModel):
    """Templates keyed by Environment type."""

    development: Template | None = None
    deployment: Template | None = None


class PreviewPolicy(CamelModel):
    """Who gets a preview, when, and who may steer it (read from the Project, never from the PR)."""

    enabled: bool = True
    trigger: Literal["auto", "label"] = "auto"
    opt_in_label: str = "catalyst:preview"
    opt_out_label: str = "catalyst:no-preview"
    deploy_drafts: bool = False
    fork_policy: Literal["approval", "never"] = "approval"
    max_environments: int | None = Field(default=None, ge=1)
    ttl: str | None = Field(default=None, pattern=r"^[0-9]+[smhd]$")
    command_permissions: dict[str, Permission] | None = None


class TrackedBranch(CamelModel):
    """A branch kept deployed as a long-lived `deployment` environment."""

    branch: str
    environment: str


class Quota(CamelModel):
    """Hard limits of an environment namespace's ResourceQuota."""

    requests_cpu: str | None = None
    requests_memory: str | None = None
    limits_cpu: str | None = None
    limits_memory: str | None = None
    pods: int | None = None
    persistent_volume_claims: int | None = None
    requests_storage: str | None = None


class ProjectResources(CamelModel):
    """Quota per environment type."""

    development: Quota | None = None
    deployment: Quota | None = None


class SecurityPolicy(CamelModel):
    """How far a Project trusts its pull requests' code (read from the Project, never the PR)."""

    pod_security: Literal["baseline", "restricted"] = "baseline"
    fork_charts: Literal["allow", "refuse"] = "allow"
    fork_build_logs: Literal["public", "private"] = "public"


class ProjectSpec(CamelModel):
    """Desired state of a Project."""

    sources: list[ProjectSource] = Field(min_length=1, max_length=LIST_MAX)
    templates: Templates = Field(default_factory=Templates)
    previews: PreviewPolicy = Field(default_factory=PreviewPolicy)
    tracked_branches: list[TrackedBranch] | None = None
    resources: ProjectResources | None = None
    github_installation_id: int | None = None
    security: SecurityPolicy = Field(default_factory=SecurityPolicy)


class Condition(CamelModel):
    """A Kubernetes-style condition (metav1.Condition)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class ProjectStatus(CamelModel):
    """Observed state of a Project."""

    namespace: str | None = None
    environments: int | None = None
    observed_generation: int | None = None
    conditions: list[Condition] | None = None


# --- Environment ----------------------------------------------------------------------------------


class ProjectRef(CamelModel):
    """The Project (in the team namespace) an Environment belongs to."""

    name: str


class EnvironmentSource(CamelModel):
    """The exact commit of one project source to deploy."""

    name: str
    commit_sha: str = Field(pattern=r"^[0-9a-f]{40}$")
    branch: str
    pr_number: int | None = Field(default=None, ge=1)
    fork: bool = False


class GitHubRef(CamelModel):
    """Where GitHub tokens come from and which repository reports about this Environment."""

    installation_id: int
    repository: str = Field(pattern=r"^[^/\s]+/[^/\s]+$")


class EnvironmentSpec(CamelModel):
    """Desired state of an Environment."""

    project_ref: ProjectRef
    type: EnvironmentType
    sources: list[EnvironmentSource] = Field(min_length=1)
    config: EnvironmentConfig | None = None
    github: GitHubRef | None = None
    image_tag: str | None = None
    suspended: bool = False
    redeploy_nonce: str | None = None
    rebuild_nonce: str | None = None


class BuildStatus(CamelModel):
    """One build Job of the target commit."""

    name: str
    job: str
    commit_sha: str
    state: Literal["Running", "Succeeded", "Failed"]
    image: str | None = None
    rebuild_nonce: str | None = None
    message: str | None = None
    # Last lines of a failed build's log, secrets already redacted by the reconciler.
    log_tail: str | None = None


class ReleaseStatus(CamelModel):
    """The Helm release revision a helm-mode Environment deployed, and the workloads in it.

    The workloads (`Deployment/web`, `StatefulSet/db`) come from the manifest of that revision
    (helm's own output of the install), so later passes judge readiness from exactly the
    release's workloads without running helm again.
    """

    name: str
    revision: int
    workloads: list[str] | None = None


class EnvironmentStatus(CamelModel):
    """Observed state of an Environment, written only by the reconciler."""

    phase: Phase = Phase.PENDING
    url: str | None = None
    namespace: str | None = None
    commit_sha: str | None = None
    target_commit_sha: str | None = None
    images: dict[str, str] | None = None
    builds: list[BuildStatus] | None = None
    message: str | None = None
    deployed_hash: str | None = None
    release: ReleaseStatus | None = None
    redeploy_nonce: str | None = None
    observed_generation: int | None = None
    conditions: list[Condition] | None = None


class ObjectMeta(BaseModel):
    """The part of Kubernetes object metadata we read; everything else passes through."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    finalizers: list[str] | None = None
    deletion_timestamp: str | None = None
    creation_timestamp: str | None = None


class Project(CamelModel):
    """A Project custom resource."""

    api_version: Literal["catalyst.catalyst.dev/v1alpha1"] = GROUP_VERSION  # type: ignore[assignment]
    kind: Literal["Project"] = "Project"
    metadata: ObjectMeta
    spec: ProjectSpec
    status: ProjectStatus | None = None

    @property
    def primary_source(self) -> ProjectSource:
        """The first source: PRs of its repository preview as `pr-<n>`, tracked branches follow
        it, and every other source builds at the head of its own branch."""
        return self.spec.sources[0]

    def source_named(self, name: str | None) -> ProjectSource | None:
        """The source called `name` (a template's or build's `sourceRef`), None when none is."""
        return next((s for s in self.spec.sources if s.name == name), None)

    def template_for(self, env_type: EnvironmentType) -> Template | None:
        """The template deploying environments of `env_type`, if the Project defines one."""
        return getattr(self.spec.templates, env_type)  # type: ignore[no-any-return]

    def unknown_source_refs(self) -> list[str]:
        """Each template or build `sourceRef` naming no entry of spec.sources (the CRD's CEL
        rule refuses them; this catches what an older CRD let through)."""
        names = {s.name for s in self.spec.sources}
        problems = []
        env_types: tuple[EnvironmentType, ...] = ("development", "deployment")
        for env_type in env_types:
            template = self.template_for(env_type)
            if template is None:
                continue
            refs = [(f"templates.{env_type}.sourceRef", template.source_ref)]
            refs += [
                (f"templates.{env_type}.builds[{i}].sourceRef", b.source_ref)
                for i, b in enumerate(template.builds or [])
            ]
            problems += [
                f"{where} {ref!r} names no source (sources: {', '.join(sorted(names))})"
                for where, ref in refs
                if ref is not None and ref not in names
            ]
        return problems


class Environment(CamelModel):
    """An Environment custom resource."""

    api_version: Literal["catalyst.catalyst.dev/v1alpha1"] = GROUP_VERSION  # type: ignore[assignment]
    kind: Literal["Environment"] = "Environment"
    metadata: ObjectMeta
    spec: EnvironmentSpec
    status: EnvironmentStatus | None = None

    @property
    def primary_source(self) -> EnvironmentSource:
        """The first source: its commit is the one GitHub reports about."""
        return self.spec.sources[0]
