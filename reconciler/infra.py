"""Pure: the environment namespace and its isolation objects (quota, limits, policies, secrets)."""

from __future__ import annotations

from collections.abc import Mapping

from core import naming
from core.model import EnvironmentConfig
from reconciler import confinement, manifests
from reconciler.context import Observed, owner_of
from reconciler.modes import Manifest, ModeContext


def namespace_manifest(ctx: ModeContext) -> Manifest:
    """The environment namespace with its labels and owner annotation."""
    labels = {**ctx.labels, naming.LABEL_NAMESPACE_TYPE: "environment"}
    labels |= confinement.pod_security_labels(ctx.project.spec.security.pod_security)
    return manifests.namespace(ctx.namespace, labels, owner_of(ctx.environment))


def infra_objects(ctx: ModeContext, obs: Observed) -> list[Manifest]:
    """Deployer and worker RBAC, quota, LimitRange, NetworkPolicies, secrets, ServiceAccounts."""
    ns, labels, settings = ctx.namespace, ctx.labels, ctx.settings
    resources = ctx.project.spec.resources
    quota = getattr(resources, ctx.environment.spec.type) if resources else None
    objects = [
        *confinement.deployer_objects(ns, labels, settings.deployer_cluster_role),
        manifests.resource_quota(ns, labels, quota),
        manifests.limit_range(ns, labels),
        manifests.network_policy(ns, labels, settings.ingress_namespace),
        manifests.build_network_policy(
            ns,
            labels,
            cidrs=settings.build_egress_cidrs,
            ports=settings.build_egress_ports,
            excluded=obs.api_server_addresses,
        ),
    ]
    if settings.worker_account is not None:
        objects.append(
            confinement.worker_pod_reader(
                ns, labels, settings.pod_reader_cluster_role, settings.worker_account
            )
        )
    if obs.team_pull_secret is not None:
        objects.append(manifests.pull_secret(ns, labels, obs.team_pull_secret))
    if ctx.environment.primary_source.fork and obs.fork_push_secret is not None:
        objects.append(manifests.fork_push_secret(ns, labels, obs.fork_push_secret))
    live_account = obs.children.get(("ServiceAccount", "default"))
    objects.append(service_account(ctx, live_account, pull_secret=obs.team_pull_secret is not None))
    if obs.tls_source is not None:
        objects.append(manifests.app_secret(ns, labels, obs.tls_source))
    if not ctx.environment.primary_source.fork:  # a fork PR never gets the project's secrets
        for name in sorted(referenced_secrets(ctx.config)):
            if name in obs.app_secrets:
                objects.append(manifests.app_secret(ns, labels, obs.app_secrets[name]))
    return objects


def missing_secret(config: EnvironmentConfig, found: Mapping[str, Manifest]) -> str | None:
    """What a same-repository preview lacks: the first required Secret (or key) not in `found`."""
    containers = [("", config.env)] + [(i.name, i.env) for i in config.init_containers or []]
    for container, variables in containers:
        for var in variables or []:
            ref = (var.value_from or {}).get("secretKeyRef") or {}
            if not isinstance(ref, dict) or not ref.get("name") or ref.get("optional"):
                continue
            where = f"env {var.name}" + (f" of init container {container}" if container else "")
            secret = found.get(str(ref["name"]))
            if secret is None:
                return f"Secret {ref['name']!r} ({where}) does not exist"
            if ref.get("key") and ref["key"] not in (secret.get("data") or {}):
                return f"Secret {ref['name']!r} has no key {ref['key']!r} ({where})"
    return None


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
