"""Pure: the Kubernetes manifests the reconciler builds for an Environment namespace (no I/O).

Every builder returns a plain dict that validates strictly against the Kubernetes 1.29 schemas
and carries the standard labels. Names are fixed (`default-quota`, `default-limits`,
`default-policy`, `build-egress`, `registry-credentials`, build Jobs `build-<build>-<sha7>`).
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import naming
from core.model import BuildSpec, EnvironmentSource, ProjectSource, Quota, Resources

Manifest = dict[str, Any]

QUOTA_NAME = "default-quota"
LIMITS_NAME = "default-limits"
POLICY_NAME = "default-policy"
BUILD_POLICY_NAME = "build-egress"
PULL_SECRET = "registry-credentials"
FORK_PUSH_SECRET = "fork-registry-credentials"
DEFAULT_SA = "default"
OWNER_ANNOTATION = "catalyst.dev/owner"
NONCE_ANNOTATION = "catalyst.dev/rebuild-nonce"
COMMIT_ANNOTATION = "catalyst.dev/commit"
LABEL_JOB_TYPE = "catalyst.dev/job-type"
LABEL_BUILD = "catalyst.dev/build"
LABEL_GIT_TOKEN = "catalyst.dev/git-token"

# PVCs and storage are capped too: a compose file with 300 volumes must not claim 300 disks.
DEFAULT_QUOTA = Quota(
    requests_cpu="2",
    requests_memory="4Gi",
    limits_cpu="4",
    limits_memory="8Gi",
    pods=20,
    persistent_volume_claims=10,
    requests_storage="20Gi",
)
BUILD_RESOURCES = Resources(
    requests={"cpu": "500m", "memory": "1Gi"}, limits={"cpu": "2", "memory": "4Gi"}
)


def meta(
    name: str,
    labels: Mapping[str, str],
    namespace: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    """Object metadata with our labels (and annotations when given)."""
    out: Manifest = {"name": name, "labels": dict(labels)}
    if namespace is not None:
        out["namespace"] = namespace
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def namespace(name: str, labels: Mapping[str, str], owner: str) -> Manifest:
    """The Environment namespace, annotated with the owning Environment `<ns>/<name>`."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta(name, labels, annotations={OWNER_ANNOTATION: owner}),
    }


def quota_hard(quota: Quota | None) -> dict[str, str]:
    """ResourceQuota `hard` limits: the Project's values over the defaults."""
    chosen = DEFAULT_QUOTA.model_dump(exclude_none=True)
    chosen.update((quota or Quota()).model_dump(exclude_none=True))
    keys = {
        "requests_cpu": "requests.cpu",
        "requests_memory": "requests.memory",
        "limits_cpu": "limits.cpu",
        "limits_memory": "limits.memory",
        "pods": "pods",
        "persistent_volume_claims": "persistentvolumeclaims",
        "requests_storage": "requests.storage",
    }
    return {keys[k]: str(v) for k, v in chosen.items()}


def resource_quota(ns: str, labels: Mapping[str, str], quota: Quota | None) -> Manifest:
    """ResourceQuota `default-quota` from the Project's per-type resources."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": meta(QUOTA_NAME, labels, ns),
        "spec": {"hard": quota_hard(quota)},
    }


def limit_range(ns: str, labels: Mapping[str, str]) -> Manifest:
    """LimitRange giving containers default requests/limits, so a quota never refuses them."""
    limit = {
        "type": "Container",
        "default": {"cpu": "500m", "memory": "512Mi"},
        "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
    }
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": meta(LIMITS_NAME, labels, ns),
        "spec": {"limits": [limit]},
    }


def _dns_egress() -> Manifest:
    dns_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    ports = [{"protocol": p, "port": 53} for p in ("UDP", "TCP")]
    return {"to": [dns_peer], "ports": ports}


def network_policy(ns: str, labels: Mapping[str, str], ingress_namespace: str) -> Manifest:
    """Default deny: in from the ingress controller and own pods; out to DNS and own pods."""
    from_ingress = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ingress_namespace}}
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(POLICY_NAME, labels, ns),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [from_ingress, {"podSelector": {}}]}],
            "egress": [_dns_egress(), {"to": [{"podSelector": {}}]}],
        },
    }


def egress_blocks(cidrs: tuple[str, ...], excluded: tuple[str, ...]) -> list[Manifest]:
    """`ipBlock`s of `cidrs`, each excepting the `excluded` addresses that fall inside it.

    A block that is no more than excluded addresses (e.g. the API server's /32 named on purpose)
    is left out: builds never reach what `excluded` names, whatever the settings say.
    """
    blocks: list[Manifest] = []
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr, strict=False)
        inside = sorted({str(host) for host in _host_networks(excluded) if _within(host, network)})
        if any(ipaddress.ip_network(host) == network for host in inside):
            continue
        blocks.append({"ipBlock": {"cidr": cidr, **({"except": inside} if inside else {})}})
    return blocks


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _host_networks(addresses: tuple[str, ...]) -> list[IPNetwork]:
    hosts: list[IPNetwork] = []
    for address in addresses:
        try:
            hosts.append(ipaddress.ip_network(address))  # a bare address: its /32 or /128
        except ValueError:
            continue  # not an IP (cannot be in an ipBlock either)
    return hosts


def _within(host: IPNetwork, network: IPNetwork) -> bool:
    return host.version == network.version and host.subnet_of(network)  # type: ignore[arg-type]


def build_network_policy(
    ns: str,
    labels: Mapping[str, str],
    *,
    cidrs: tuple[str, ...],
    ports: tuple[int, ...],
    excluded: tuple[str, ...] = (),
) -> Manifest:
    """Extra egress for build pods only: the git host and registry CIDRs on the given TCP ports,
    never the `excluded` addresses (the API server's)."""
    blocks = egress_blocks(cidrs, excluded)
    rule: Manifest = {"to": blocks, "ports": [{"protocol": "TCP", "port": p} for p in ports]}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(BUILD_POLICY_NAME, labels, ns),
        "spec": {
            "podSelector": {"matchLabels": {LABEL_JOB_TYPE: "build"}},
            "policyTypes": ["Egress"],
            # a rule whose `to` is empty admits every destination: no block, no rule
            "egress": [rule] if blocks else [],
        },
    }


def pull_secret(ns: str, labels: Mapping[str, str], source: Manifest) -> Manifest:
    """Copy of the team's registry pull secret (type and data only)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(PULL_SECRET, labels, ns),
        "type": source.get("type", "kubernetes.io/dockerconfigjson"),
        "data": dict(source.get("data") or {}),
    }


def app_secret(ns: str, labels: Mapping[str, str], source: Manifest) -> Manifest:
    """Copy of a Secret under its own name (an app Secret, or the wildcard TLS certificate)."""
    name = str((source.get("metadata") or {}).get("name"))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(name, labels, ns),
        "type": source.get("type", "Opaque"),
        "data": dict(source.get("data") or {}),
    }


def default_service_account(ns: str, labels: Mapping[str, str]) -> Manifest:
    """The namespace's `default` ServiceAccount: pull secret attached, no API token mounted."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(DEFAULT_SA, labels, ns),
        "imagePullSecrets": [{"name": PULL_SECRET}],
        "automountServiceAccountToken": False,
    }


# --- builds --------------------------------------------------------------------------------------


def image_ref(registry: str, team: str, project: str, build: str, sha: str) -> str:
    """`<registry>/<team>/<project>/<build>:<sha>`, path parts sanitized."""
    parts = [naming.sanitize_part(p) or "x" for p in (team, project, build)]
    return f"{registry.rstrip('/')}/{'/'.join(parts)}:{sha}"


def fork_image_ref(registry: str, namespace: str, build: str, sha: str) -> str:
    """A fork preview's own path: `<registry>/previews/<env namespace>/<build>:<sha>`."""
    return f"{registry.rstrip('/')}/previews/{namespace}/{naming.sanitize_part(build) or 'x'}:{sha}"


def cache_repo(image: str) -> str | None:
    """The kaniko cache repository beside a fork preview's image (None: kaniko's default)."""
    repository = image.rsplit(":", 1)[0]
    if "/previews/" not in repository:
        return None
    return repository.rsplit("/", 1)[0] + "/cache"


def fork_push_secret(ns: str, labels: Mapping[str, str], source: Manifest) -> Manifest:
    """Copy of the platform's fork push credential (limited to fork preview paths)."""
    copied = pull_secret(ns, labels, source)
    copied["metadata"]["name"] = FORK_PUSH_SECRET
    return copied


def git_context(source: ProjectSource, env_source: EnvironmentSource) -> str:
    """Kaniko git context pinned to the exact commit the Environment records for the source
    (PR refs reach fork commits too; another source's commit is on its branch)."""
    url = source.repository_url.split("://", 1)[-1].removesuffix("/")
    if not url.endswith(".git"):
        url += ".git"
    ref = (
        f"refs/pull/{env_source.pr_number}/head"
        if env_source.pr_number
        else f"refs/heads/{env_source.branch}"
    )
    pinned = f"#{env_source.commit_sha}" if env_source.commit_sha else ""
    return f"git://{url}#{ref}{pinned}"


def token_secret_name(job_name: str) -> str:
    """Name of the git-token Secret of a build Job."""
    return naming.hashed_name(job_name, "git")


def git_token_secret(ns: str, labels: Mapping[str, str], job_name: str, token: str) -> Manifest:
    """Short-lived installation token for one build (deleted when the build ends)."""
    data = {
        "GIT_USERNAME": base64.b64encode(b"x-access-token").decode(),
        "GIT_PASSWORD": base64.b64encode(token.encode()).decode(),
    }
    secret_labels = {**labels, LABEL_GIT_TOKEN: "true"}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(token_secret_name(job_name), secret_labels, ns),
        "type": "Opaque",
        "data": data,
    }


@dataclass(frozen=True)
class KanikoFlags:
    """Per-build Kaniko switches: the layer cache (off for `/catalyst rebuild`), plain HTTP."""

    cache: bool = True
    insecure: bool = False


def _kaniko_args(build: BuildSpec, context: str, destination: str, flags: KanikoFlags) -> list[str]:
    # Kaniko resolves --dockerfile under the context (after --context-sub-path), as docs say.
    args = [f"--context={context}", f"--dockerfile={build.dockerfile}"]
    if build.path and build.path.strip("/"):
        args.append(f"--context-sub-path={build.path.strip('/')}")
    args += [f"--destination={destination}", f"--cache={str(flags.cache).lower()}"]
    if flags.insecure:
        args += ["--insecure", "--insecure-pull"]
    args.append("--snapshot-mode=redo")
    cache = cache_repo(destination) if flags.cache else None
    return [*args, f"--cache-repo={cache}"] if cache else args


def _token_env(secret: str) -> list[Manifest]:
    return [
        # optional: without an installation (public repository) there is no token Secret
        {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}}}
        for key in ("GIT_USERNAME", "GIT_PASSWORD")
    ]


def _registry_volume(secret_name: str) -> Manifest:
    items = [{"key": ".dockerconfigjson", "path": "config.json"}]
    secret = {"secretName": secret_name, "optional": True, "items": items}
    return {"name": "registry-creds", "secret": secret}


def build_job(
    *,
    ns: str,
    labels: Mapping[str, str],
    build: BuildSpec,
    context: str,
    destination: str,
    builder_image: str,
    commit_sha: str,
    rebuild_nonce: str | None,
    deadline_seconds: int,
    ttl_seconds: int,
    flags: KanikoFlags = KanikoFlags(),
    push_secret: str | None = PULL_SECRET,
) -> Manifest:
    """Kaniko Job building one image at one commit: no retries, deadline and TTL set.

    `push_secret` is mounted as kaniko's docker config (None: push without a credential).
    """
    name = naming.build_job_name(build.name, commit_sha)
    job_labels = {
        **labels,
        LABEL_JOB_TYPE: "build",
        LABEL_BUILD: naming.sanitize_label_value(build.name),
    }
    annotations = {COMMIT_ANNOTATION: commit_sha, NONCE_ANNOTATION: rebuild_nonce or ""}
    resources = (build.resources or BUILD_RESOURCES).model_dump(exclude_none=True)
    container = {
        "name": "kaniko",
        "image": builder_image,
        "args": _kaniko_args(build, context, destination, flags),
        "env": _token_env(token_secret_name(name)),
        "resources": resources,
    }
    pod_spec: Manifest = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "containers": [container],
    }
    if push_secret is not None:
        container["volumeMounts"] = [{"name": "registry-creds", "mountPath": "/kaniko/.docker"}]
        pod_spec["volumes"] = [_registry_volume(push_secret)]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(name, job_labels, ns, annotations),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_seconds,
            "ttlSecondsAfterFinished": ttl_seconds,
            "template": {"metadata": {"labels": job_labels}, "spec": pod_spec},
        },
    }
