"""Pure: what a preview may deploy into its own namespace, and who deploys it (no I/O).

A pull request controls what its chart renders and what its compose file translates to, so
those objects are checked before anything is applied (the way Argo CD confines an AppProject):
namespaced kinds from an allow-list only, in the preview's namespace only, ServiceAccounts only
the preview's own, Ingress hosts only the preview host. The checked objects are then applied as
the namespace's deployer ServiceAccount (bound by a RoleBinding to the `deployer` ClusterRole in
that namespace only), never with the reconciler's own rights. This module names the deployer,
builds its ServiceAccount and RoleBinding, and checks a rendered object list.

The worker reads a preview's pods and logs (`/catalyst logs`, `/catalyst status`) through one
more RoleBinding per preview namespace, of the pod-reader ClusterRole to the worker's own
ServiceAccount: it can read pods there and nowhere else (the chart binds that role nowhere).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError

Manifest = dict[str, Any]

DEPLOYER_SA = "catalyst-deployer"
WORKER_POD_READER = "catalyst-worker-pod-reader"  # the worker's RoleBinding in a preview namespace
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
PSA_ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"

# apiVersion-less kinds a preview may create in its namespace (the deployer ClusterRole in
# deploy/chart/templates/rbac-deployer.yaml grants exactly these). Not here on purpose: RBAC
# kinds, NetworkPolicy (would open the default-deny policy), ResourceQuota/LimitRange (ours),
# DaemonSet (one pod per node), anything cluster-scoped.
ALLOWED_KINDS = frozenset(
    {
        "ConfigMap",
        "CronJob",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Job",
        "PersistentVolumeClaim",
        "Pod",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ServiceAccount",
        "StatefulSet",
    }
)
# Objects the reconciler itself writes into a preview namespace (never through the deployer).
RECONCILER_KINDS = frozenset({"Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy"})
RECONCILER_KINDS |= {"RoleBinding"}
_POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


class Refused(ConfigError):
    """A rendered object would reach beyond the preview; the message lists every finding."""

    reason = "ObjectsRefused"


@dataclass(frozen=True)
class Boundary:
    """The one namespace and host a preview's objects may use."""

    namespace: str
    host: str


def deployer_user(namespace: str) -> str:
    """The username the reconciler impersonates to deploy into `namespace`."""
    return f"system:serviceaccount:{namespace}:{DEPLOYER_SA}"


def deployer_objects(
    namespace: str, labels: Mapping[str, str], cluster_role: str
) -> list[Manifest]:
    """The deployer ServiceAccount (no token mounted) and its namespace-only RoleBinding."""
    meta = {"name": DEPLOYER_SA, "namespace": namespace, "labels": dict(labels)}
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta,
        "automountServiceAccountToken": False,
    }
    role = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": dict(meta),
        "roleRef": role,
        "subjects": [{"kind": "ServiceAccount", "name": DEPLOYER_SA, "namespace": namespace}],
    }
    return [account, binding]


def worker_pod_reader(
    namespace: str, labels: Mapping[str, str], cluster_role: str, account: tuple[str, str]
) -> Manifest:
    """The RoleBinding letting the worker's ServiceAccount (namespace, name) read pods here."""
    account_namespace, account_name = account
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": WORKER_POD_READER, "namespace": namespace, "labels": dict(labels)},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": cluster_role,
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": account_name, "namespace": account_namespace}
        ],
    }


def pod_security_labels(level: str) -> dict[str, str]:
    """Namespace labels enforcing a Pod Security Standard (`baseline` or `restricted`)."""
    return {PSA_ENFORCE: level, PSA_ENFORCE_VERSION: "latest"}


def applied_as_deployer(obj: Manifest) -> bool:
    """Whether the reconciler writes `obj` as the namespace's deployer (not as itself)."""
    return obj.get("kind") not in RECONCILER_KINDS and bool(
        (obj.get("metadata") or {}).get("namespace")
    )


# --- checking ------------------------------------------------------------------------------------


def confine(objects: Iterable[Manifest], boundary: Boundary) -> list[Manifest]:
    """`objects` placed in the boundary's namespace; Refused naming every object that escapes it."""
    placed = [_in_namespace(o, boundary.namespace) for o in objects if o]
    accounts = {_name(o) for o in placed if o.get("kind") == "ServiceAccount"}
    findings = [f for o in placed for f in findings_of(o, boundary, accounts)]
    if findings:
        shown = "; ".join(findings[:8])
        more = f" (and {len(findings) - 8} more)" if len(findings) > 8 else ""
        raise Refused(f"refused to deploy objects outside the preview: {shown}{more}")
    return placed


def findings_of(obj: Manifest, boundary: Boundary, accounts: set[str]) -> list[str]:
    """What is wrong with one object (empty when it stays inside the preview)."""
    label = f"{obj.get('kind', '?')} {_name(obj) or '?'}"
    kind = str(obj.get("kind") or "")
    if kind not in ALLOWED_KINDS:
        return [f"{label}: kind {kind or '(none)'} is not allowed in a preview"]
    namespace = (obj.get("metadata") or {}).get("namespace")
    if namespace != boundary.namespace:
        return [f"{label}: namespace {namespace} is not the preview's ({boundary.namespace})"]
    found: list[str] = []
    if kind == "ServiceAccount" and _name(obj) == DEPLOYER_SA:
        found.append(f"{label}: the name {DEPLOYER_SA} is reserved")
    if kind == "Ingress":
        found += [f"{label}: host {h!r} is not {boundary.host}" for h in _bad_hosts(obj, boundary)]
    account = _service_account_of(obj)
    if account is not None and account not in accounts | {"default"}:
        found.append(f"{label}: ServiceAccount {account} is not one of the preview's own")
    return found


def _bad_hosts(ingress: Manifest, boundary: Boundary) -> list[str]:
    spec = ingress.get("spec") or {}
    hosts = [rule.get("host") for rule in spec.get("rules") or []]
    hosts += [h for tls in spec.get("tls") or [] for h in tls.get("hosts") or []]
    if spec.get("defaultBackend") is not None:
        hosts.append("(defaultBackend: every host)")
    return [str(h or "(no host: every host)") for h in hosts if h != boundary.host]


def _service_account_of(obj: Manifest) -> str | None:
    spec: Any = obj
    for key in _POD_SPEC_PATHS.get(str(obj.get("kind")), ()):
        spec = (spec or {}).get(key) if isinstance(spec, Mapping) else None
    if not isinstance(spec, Mapping) or spec is obj:
        return None
    name = spec.get("serviceAccountName") or spec.get("serviceAccount")
    return str(name) if name else None


def _in_namespace(obj: Manifest, namespace: str) -> Manifest:
    meta = dict(obj.get("metadata") or {})
    meta.setdefault("namespace", namespace)
    placed = {**obj, "metadata": meta}
    if obj.get("kind") == "ServiceAccount":  # no API token in the preview's pods by default
        placed.setdefault("automountServiceAccountToken", False)
    return placed


def _name(obj: Manifest) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")
