"""Pure: every name catalyst-preview gives to things, and the labels it puts on them (no I/O).

Namespace rule (exact, shared with the origin system): sanitize each part (lowercase, runs outside
`[a-z0-9-]` become `-`, collapse, trim, drop empty parts), join with `-`; when longer than 63
characters keep the first 57 (trailing `-` stripped), then `-` and the first 5 hex digits of the
SHA-256 of the joined string.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63
FINALIZER = "catalyst.dev/finalizer"
MANAGED_BY = "catalyst-preview"

LABEL_TEAM = "catalyst.dev/team"
LABEL_PROJECT = "catalyst.dev/project"
LABEL_ENVIRONMENT = "catalyst.dev/environment"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NAMESPACE_TYPE = "catalyst.dev/namespace-type"
LABEL_BRANCH = "catalyst.dev/branch"
# The GitHub environment a CR's deployments are filed under (written by the workers' bookkeeping,
# read by the reconciler to tell the workers where to finish teardown once the CR is gone).
ANNOTATION_GITHUB_ENVIRONMENT = "catalyst.dev/github-environment"

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_OUTSIDE_NAME = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-+")
_OUTSIDE_LABEL = re.compile(r"[^A-Za-z0-9\-_.]")


def sanitize_part(part: str) -> str:
    """Lowercase, map runs outside `[a-z0-9-]` to `-`, collapse dashes, trim them at both ends."""
    lowered = _OUTSIDE_NAME.sub("-", part.lower())
    return _DASHES.sub("-", lowered).strip("-")


def hashed_name(*parts: str) -> str:
    """Join sanitized parts; over 63 characters, shorten with a 5-hex SHA-256 suffix."""
    joined = "-".join(p for p in (sanitize_part(x) for x in parts) if p)
    if not joined:
        # Nothing survived sanitizing (e.g. all non-ASCII): still a stable, valid name.
        raw = "\x00".join(parts).encode("utf-8", "surrogatepass")
        return f"x-{hashlib.sha256(raw).hexdigest()[:5]}"
    if len(joined) <= MAX_NAME:
        return joined
    suffix = hashlib.sha256(joined.encode()).hexdigest()[:5]
    return f"{joined[:57].rstrip('-')}-{suffix}"


def team_namespace(team: str) -> str:
    """Namespace holding a team's Projects."""
    return hashed_name(team)


def project_namespace(team: str, project: str) -> str:
    """Namespace holding a Project's Environments."""
    return hashed_name(team, project)


def environment_namespace(team: str, project: str, environment: str) -> str:
    """Namespace an Environment's workloads run in."""
    return hashed_name(team, project, environment)


def is_dns1123_label(name: str) -> bool:
    """True when `name` is a valid DNS-1123 label (namespace, service, most object names)."""
    return len(name) <= MAX_NAME and bool(_DNS1123_LABEL.match(name))


def is_dns1123_subdomain(name: str) -> bool:
    """True when `name` is a valid DNS-1123 subdomain (at most 253 characters)."""
    return len(name) <= 253 and bool(_DNS1123_SUBDOMAIN.match(name))


def is_label_value(value: str) -> bool:
    """True when `value` is a valid Kubernetes label value."""
    return len(value) <= MAX_NAME and bool(_LABEL_VALUE.match(value))


def sanitize_label_value(value: str) -> str:
    """Make any string a valid label value: `/` and `:` become `-`, others outside the set drop."""
    cleaned = _OUTSIDE_LABEL.sub("", value.replace("/", "-").replace(":", "-"))
    cleaned = cleaned.strip("-_.")
    return cleaned[:MAX_NAME].rstrip("-_.")


def environment_name(pr_number: int) -> str:
    """Name of the Environment CR previewing pull request `pr_number`."""
    return f"pr-{pr_number}"


def github_environment(project: str, environment: str) -> str:
    """GitHub environment name a preview's deployments are filed under."""
    return f"{project}/{environment}"


def preview_host(env_namespace: str, domain: str) -> str:
    """Public host of a preview: unique across projects because the namespace is."""
    return f"{env_namespace}.{domain.strip('.').lower()}"


def preview_url(env_namespace: str, domain: str) -> str:
    """Public URL of a preview."""
    return f"https://{preview_host(env_namespace, domain)}/"


def release_name(environment: str) -> str:
    """Helm release name of an Environment."""
    return environment


def short_sha(sha: str) -> str:
    """The 7-character abbreviation of a commit SHA."""
    return sha[:7]


def build_job_name(build: str, sha: str) -> str:
    """Kaniko Job name `build-<build>-<sha7>`, sanitized and at most 63 characters."""
    return hashed_name("build", build, short_sha(sha))


def standard_labels(team: str, project: str, environment: str) -> dict[str, str]:
    """Labels every object the reconciler creates carries."""
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_TEAM: sanitize_label_value(team),
        LABEL_PROJECT: sanitize_label_value(project),
        LABEL_ENVIRONMENT: sanitize_label_value(environment),
    }
