"""Pure: every name catalyst-preview gives to things, and the labels it puts on them (no I/O).

Namespace rule (exact, shared with the origin system): sanitize each part (lowercase, runs outside
`[a-z0-9-]` become `-`, collapse, trim, drop empty parts), join with `-`; when longer than 63
characters keep the first 57 (trailing `-` stripped), then `-` and the first 5 hex digits of the
SHA-256 of the joined string.

Preview names: a pull request of the Project's primary (first) source's repository previews as
`pr-<n>`; one of another source's repository as `pr-<n>-<repo>-<hash5>` (its sanitized name, and
5 hex digits of the SHA-256 of its lowercase `owner/name`), so PR #5 of two repositories of one
Project never share an Environment. `preview_environment_name` is the one mapping from a pull
request to its Environment; `preview_of` reads it back.
"""

from __future__ import annotations

import hashlib
import re

from core.model import Project

MAX_NAME = 63
# A preview's name is also its Helm release name, which Helm limits to 53 characters.
MAX_PREVIEW_NAME = 53
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
# Sources of the Project the workers could not resolve to a commit (JSON {source: why}); the
# reconciler names the reason when a template or build needs one of them.
ANNOTATION_UNRESOLVED_SOURCES = "catalyst.dev/unresolved-sources"

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_OUTSIDE_NAME = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-+")
_OUTSIDE_LABEL = re.compile(r"[^A-Za-z0-9\-_.]")
_REPO_URL = re.compile(
    r"^(?:(?:https?|ssh|git)://(?:[^@/]+@)?[^/]+/|git@[^:]+:)?(?P<repo>[^/\s]+/[^/\s]+?)(?:\.git)?/?$"
)
_PREVIEW = re.compile(r"^pr-(?P<number>[1-9][0-9]*)(?:-|$)")


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
    """`pr-<n>`: the preview of a pull request of the Project's primary repository (callers
    mapping a pull request to its Environment use `preview_environment_name`)."""
    return f"pr-{pr_number}"


def repository_slug(url: str) -> str | None:
    """`owner/name` (lowercase) of a repository URL or `owner/name` string, else None."""
    match = _REPO_URL.match(url.strip())
    return match.group("repo").lower() if match else None


def primary_repository(project: Project) -> str | None:
    """`owner/name` of the Project's primary (first) source, None when its URL is not one."""
    return repository_slug(project.primary_source.repository_url)


def preview_environment_name(project: Project, repository: str, pr_number: int) -> str:
    """The Environment previewing pull request `pr_number` of `repository` in `project`.

    `pr-<n>` for the primary source's repository (and whenever the primary URL is not a
    repository); `pr-<n>-<repo>-<hash5>` for another repository: a valid DNS-1123 label of at
    most MAX_PREVIEW_NAME characters, stable, and distinct for every repository.
    """
    repo = repository_slug(repository) or repository.strip().lower()
    primary = primary_repository(project)
    if primary is None or repo == primary:
        return environment_name(pr_number)
    stem, digest = environment_name(pr_number), hashlib.sha256(repo.encode()).hexdigest()[:5]
    room = MAX_PREVIEW_NAME - len(stem) - len(digest) - 2
    name = sanitize_part(repo.rsplit("/", 1)[-1])[: max(room, 0)].strip("-")
    return "-".join(part for part in (stem, name, digest) if part)


def preview_of(project: Project, name: str) -> tuple[str, int] | None:
    """(repository, PR number) of the preview named `name` in `project`, None for any other
    name (e.g. a tracked branch's): the inverse of `preview_environment_name`."""
    match = _PREVIEW.match(name)
    if match is None:
        return None
    number = int(match["number"])
    slugs = [repository_slug(s.repository_url) for s in project.spec.sources]
    for repo in dict.fromkeys(slug for slug in slugs if slug):
        if preview_environment_name(project, repo, number) == name:
            return repo, number
    return None


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
