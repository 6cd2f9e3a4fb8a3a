"""Pure: the deploy-mode seam: how one template type builds and deploys an Environment.

How to plug in a mode (`helm`, `prebuilt`, `docker-compose`, ...):

1. Write `reconciler/modes/<type>.py` with a class implementing `DeployMode` below.
2. Register it under its template type in `reconciler/modes/install.py` (`deploy_modes`).

The reconciler drives every mode the same way, once per pass:

* `builds(ctx)` -> the `BuildSpec`s to build for the target commit (Kaniko Jobs; `[]` = none).
  The reconciler runs them; `ctx.images` maps build name -> pushed image once all succeeded.
* `desired_objects(ctx)` -> full manifests (dicts) to keep applied in `ctx.namespace`: the
  reconciler creates them, patches them when their spec drifts, and never writes an unchanged
  object. Called only when every build succeeded. Declarative modes do all their work here.
* `apply(ctx, io)` -> imperative extras after `desired_objects` are applied (e.g. `helm upgrade
  --install`). Must be idempotent and write nothing when `ctx.deployed_hash` already matches
  `fingerprint(ctx)`; `io` carries the adapters a mode may use (add fields for new ones). It
  must not wait for the rollout: it returns what it deployed for the status to keep (a
  `ReleaseStatus` for helm, None otherwise), and later passes judge readiness.
* `readiness(ctx, workloads)` -> `Readiness`: rollout complete and available for the new image.
  `workloads` holds the live Deployments/StatefulSets of the namespace keyed `(kind, name)`
  (ours by label, plus those of `status.release`). `ctx.applying` is True in the pass that runs
  `apply`: what was observed predates it.
  `failed=True` says the rollout cannot succeed as deployed (e.g. the image does not exist): the
  Environment turns `Failed` with the readiness reason until a new commit or redeploy changes
  it. `warnings` (e.g. compose keys not translated) land in the `Deployed` condition message.
* `teardown(ctx, io)` -> imperative clean-up before the namespace is deleted (e.g. `helm
  uninstall`); declarative modes do nothing (the namespace deletion removes their objects).
* `fingerprint(ctx)` -> stable hash of what was deployed; recorded as `status.deployedHash`.

A template type without a registered mode makes the Environment `Failed` with reason
`UnsupportedTemplateType` (see `reconciler.modes.registry.mode_for`), never a crash. Raise
`core.errors.ConfigError` from any hook for unusable template config: the reconciler reports it
as `Failed` (`InvalidConfig`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.model import BuildSpec, Environment, EnvironmentConfig, Project, ReleaseStatus, Template

Manifest = dict[str, Any]
CERT_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
CERT_MANAGER_SECRET = "preview-tls"  # cert-manager writes each preview's certificate here
WorkloadKey = tuple[str, str]  # (kind, name), e.g. ("Deployment", "web")


@dataclass(frozen=True)
class ModeSettings:
    """The cluster-wide settings a mode needs (a pure subset of core.settings.Settings)."""

    registry: str
    builder_image: str
    preview_domain: str
    ingress_class: str
    ingress_namespace: str
    tls_secret: str | None = None
    cert_issuer: str | None = None  # cert-manager ClusterIssuer annotated on preview Ingresses
    registry_insecure: bool = False  # plain-HTTP registry: Kaniko --insecure/--insecure-pull
    build_egress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    build_egress_ports: tuple[int, ...] = (443, 5000)
    build_deadline_seconds: int = 1800
    build_ttl_seconds: int = 3600
    deployer_cluster_role: str = "catalyst-preview-deployer"
    # Bound in each preview namespace to the worker's ServiceAccount (namespace, name), so it
    # reads pods and logs there only; None: no binding.
    pod_reader_cluster_role: str = "catalyst-preview-pod-reader"
    worker_account: tuple[str, str] | None = None
    # Where fork builds push (never with the team's credential): a registry needing no
    # credential (e.g. in-cluster), and/or a team-namespace Secret holding a push credential
    # limited to fork preview paths. With neither, fork builds are refused.
    fork_registry: str | None = None
    fork_registry_secret: str | None = None
    # Keys managed-service passwords (the chart generates it once); None: derived from the uid.
    service_password_key: str | None = field(default=None, repr=False)

    @property
    def ingress_tls_secret(self) -> str | None:
        """The TLS Secret preview Ingresses name: cert-manager's per-preview one, else the copy."""
        return CERT_MANAGER_SECRET if self.cert_issuer else self.tls_secret

    @property
    def ingress_annotations(self) -> dict[str, str]:
        """Annotations of preview Ingresses (the cert-manager issuer when one is set)."""
        return {CERT_ISSUER_ANNOTATION: self.cert_issuer} if self.cert_issuer else {}


@dataclass(frozen=True)
class ModeContext:
    """Everything a mode may read about one Environment in one pass (no I/O handles)."""

    environment: Environment
    project: Project
    template: Template
    team: str
    namespace: str
    labels: Mapping[str, str]
    host: str
    settings: ModeSettings
    config: EnvironmentConfig
    commit_sha: str
    images: Mapping[str, str] = field(default_factory=dict)
    redeploy_nonce: str | None = None
    deployed_hash: str | None = None
    # True in the pass whose plan runs `apply`: the workloads it observed predate that apply.
    applying: bool = False


@dataclass(frozen=True)
class Readiness:
    """Whether the deployed workload serves the new image, and why not."""

    ready: bool
    reason: str
    message: str = ""
    failed: bool = False
    warnings: tuple[str, ...] = ()
    # What was observed predates this pass's apply: its pods say nothing about the new revision.
    stale: bool = False


@dataclass
class ModeIO:
    """Adapters an imperative mode may use; extend with new optional fields (e.g. a Helm runner)."""

    cluster: Any = None
    helm: Any = None


class DeployMode(Protocol):
    """One template type's build-and-deploy behaviour (see the module docstring)."""

    def builds(self, ctx: ModeContext) -> list[BuildSpec]: ...

    def desired_objects(self, ctx: ModeContext) -> list[Manifest]: ...

    def apply(self, ctx: ModeContext, io: ModeIO) -> ReleaseStatus | None: ...

    def readiness(
        self, ctx: ModeContext, workloads: Mapping[WorkloadKey, Manifest]
    ) -> Readiness: ...

    def teardown(self, ctx: ModeContext, io: ModeIO) -> None: ...

    def fingerprint(self, ctx: ModeContext) -> str: ...


def fingerprint_of(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts."""
    raw = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def deployment_rolled_out(deployment: Manifest | None, image: str | None = None) -> Readiness:
    """Readiness of a Deployment: generation observed, every replica updated and available."""
    if deployment is None:
        return Readiness(False, "WorkloadMissing", "Deployment not created yet")
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    generation = (deployment.get("metadata") or {}).get("generation")
    wanted = 1 if spec.get("replicas") is None else int(spec["replicas"])
    name = (deployment.get("metadata") or {}).get("name", "?")
    if image is not None and image not in _images_of(spec):
        return Readiness(False, "RolloutPending", f"Deployment {name} does not run {image} yet")
    if generation is not None and status.get("observedGeneration", 0) < generation:
        return Readiness(False, "RolloutPending", f"Deployment {name} rollout not observed yet")
    for field_name in ("updatedReplicas", "availableReplicas", "readyReplicas"):
        if int(status.get(field_name) or 0) < wanted:
            return Readiness(
                False, "RolloutInProgress", f"Deployment {name}: {field_name} < {wanted}"
            )
    if int(status.get("replicas") or 0) > wanted:
        return Readiness(False, "RolloutInProgress", f"Deployment {name}: old pods still running")
    return Readiness(True, "RolloutComplete", f"Deployment {name} is available")


def workload_key(text: str) -> WorkloadKey:
    """`(kind, name)` of a `Kind/name` string (as `status.release.workloads` holds them)."""
    kind, _, name = text.partition("/")
    return (kind, name)


def _images_of(deployment_spec: Manifest) -> list[str]:
    containers = ((deployment_spec.get("template") or {}).get("spec") or {}).get("containers")
    return [str(c.get("image")) for c in containers or []]
