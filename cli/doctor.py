"""Shell helper: `catalyst-preview doctor` checks a deployment's configuration and reach.

Each check prints one line as soon as it finishes (✓ fine, ✗ wrong, ! could not be checked, and
why in plain words): settings, Redis, Kubernetes access and RBAC, the CRDs, GitHub App auth and
its installations. Checks that need something an earlier check found missing are reported as
skipped, not crashed. RBAC is asked through SelfSubjectAccessReview; an API server that does not
serve it (the project's fake) gets one "cannot check" warning, which is not a problem.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from pydantic import SecretStr, ValidationError, field_validator

from core.model import API_GROUP, ENVIRONMENT_PLURAL, PROJECT_PLURAL
from core.redaction import redact_secrets
from core.settings import ENV_PREFIX, Settings, SettingsError, describe_validation_error

OK, BAD, SKIP, WARN = "✓", "✗", "-", "!"


class Need(NamedTuple):
    """One right a process needs, asked as a SelfSubjectAccessReview."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    name: str = ""  # a right limited to resourceNames is asked about that one object
    own_namespace: bool = False  # asked in the process's namespace (POD_NAMESPACE, as in its pod)

    def text(self) -> str:
        """`verb resource[/sub][.group][ name]`, as doctor prints it."""
        what = self.resource + (f"/{self.subresource}" if self.subresource else "")
        what += f".{self.group}" if self.group else ""
        return f"{self.verb} {what}" + (f" {self.name}" if self.name else "")


# What each process needs, checked as whoever runs doctor. Kept to what the chart grants
# (deploy/chart/templates/rbac-*.yaml): a preview's own objects are written by its namespace's
# deployer (impersonated), never by the reconciler itself.
RBAC_NEEDS: dict[str, tuple[Need, ...]] = {
    "worker": (
        Need("create", API_GROUP, ENVIRONMENT_PLURAL),
        Need("patch", API_GROUP, ENVIRONMENT_PLURAL),
        Need("list", API_GROUP, PROJECT_PLURAL),
    ),
    "reconciler": (
        Need("watch", API_GROUP, ENVIRONMENT_PLURAL),
        Need("patch", API_GROUP, ENVIRONMENT_PLURAL, "status"),
        Need("list", API_GROUP, PROJECT_PLURAL),
        Need("create", "", "namespaces"),
        Need("create", "batch", "jobs"),
        Need("create", "networking.k8s.io", "networkpolicies"),
        Need("create", "rbac.authorization.k8s.io", "rolebindings"),
        Need("impersonate", "", "serviceaccounts", name="catalyst-deployer"),
        Need("list", "apps", "deployments"),
        Need("create", "coordination.k8s.io", "leases", own_namespace=True),
    ),
}
COMPONENTS = tuple(RBAC_NEEDS)


def rbac_needs(components: tuple[str, ...] = COMPONENTS) -> list[tuple[Need, tuple[str, ...]]]:
    """Each needed right once, with the components that need it (in the table's order)."""
    found: dict[Need, list[str]] = {}
    for component in components:
        for need in RBAC_NEEDS[component]:
            found.setdefault(need, []).append(component)
    return [(need, tuple(who)) for need, who in found.items()]


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    mark: str
    subject: str
    detail: str

    def line(self) -> str:
        """The printed line, credentials masked (a Redis URL's password, tokens in errors)."""
        return redact_secrets(f"{self.mark} {self.subject}: {self.detail}")


class LenientSettings(Settings):
    """Settings where the webhook secret may be absent, so doctor can check everything else."""

    webhook_secret: SecretStr | None = None  # type: ignore[assignment]

    @field_validator("webhook_secret")
    @classmethod
    def _secrets_not_blank(cls, value: SecretStr | None) -> SecretStr | None:  # type: ignore[override]
        return value if value is None else Settings._secrets_not_blank(value)


def check_settings() -> tuple[list[Check], LenientSettings | None]:
    """Every missing or malformed setting, one check each; the settings when they parse."""
    try:
        settings = LenientSettings()
    except ValidationError as exc:
        problems = describe_validation_error(exc).split("; ")
        return [Check(BAD, "settings", p) for p in problems], None
    return missing_settings(settings), settings


def settings_source() -> list[Check]:
    """Which dev settings file was read, when one was (scripts/dev.sh writes it)."""
    path = os.environ.get("CATALYST_DEV_ENV")
    if not path:
        return []
    return [Check(OK, "settings", f"read {path} (the local stack's, from scripts/dev.sh)")]


def missing_settings(settings: LenientSettings) -> list[Check]:
    """Checks for required settings that are absent."""
    checks = []
    if settings.webhook_secret is None:
        checks.append(Check(BAD, "settings", f"{ENV_PREFIX}WEBHOOK_SECRET is missing"))
    try:
        settings.require_github_app()
    except SettingsError as exc:
        checks += [Check(BAD, "settings", p) for p in str(exc).split("; ")]
    return checks or [Check(OK, "settings", "all required settings are present")]


def check_dashboard(settings: LenientSettings | None) -> Check:
    """The dashboard's OAuth client, public URL and session key, when a dashboard is configured."""
    if settings is None:
        return Check(SKIP, "dashboard", "skipped (settings do not parse)")
    if not (settings.github_client_id or settings.dashboard_session_key):
        return Check(SKIP, "dashboard", "not configured (optional: CATALYST_GITHUB_CLIENT_ID ...)")
    try:
        settings.require_dashboard()
    except SettingsError as exc:
        return Check(BAD, "dashboard", str(exc))
    callback = f"{settings.dashboard_url}/auth/callback"
    return Check(OK, "dashboard", f"configured; the App's callback URL must be {callback}")


def check_redis(settings: LenientSettings) -> Check:
    """Redis answers PING at CATALYST_REDIS_URL."""
    import redis

    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        return Check(BAD, "redis", f"cannot reach {settings.redis_url}: {exc}")
    return Check(OK, "redis", f"{settings.redis_url} answers")


def load_kube_client() -> Any:
    """An ApiClient from the in-cluster service account, else KUBECONFIG."""
    from core.clients.kube import new_api_client

    return new_api_client()


def check_kubernetes(components: tuple[str, ...] = COMPONENTS) -> Iterator[Check]:
    """API server reachable, CRDs installed, and the RBAC `components` need."""
    try:
        api = load_kube_client()
        version = _kube_version(api)
    except Exception as exc:  # any config or transport failure is the finding itself
        yield Check(BAD, "kubernetes", f"no cluster access (in-cluster or KUBECONFIG): {exc}")
        return
    yield Check(OK, "kubernetes", f"API server {version} reachable")
    yield from (_check_crd(api, plural) for plural in (PROJECT_PLURAL, ENVIRONMENT_PLURAL))
    yield from _check_rbac(api, components)


def _kube_version(api: Any) -> str:
    from kubernetes import client

    info = client.VersionApi(api).get_code(_request_timeout=5)
    return str(info.git_version)


def _check_crd(api: Any, plural: str) -> Check:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    name = f"{plural}.{API_GROUP}"
    try:
        client.ApiextensionsV1Api(api).read_custom_resource_definition(name, _request_timeout=5)
    except ApiException as exc:
        hint = "install crds/ (kubectl apply -f crds/)" if exc.status == 404 else exc.reason
        return Check(BAD, "crd", f"{name}: {hint}")
    return Check(OK, "crd", f"{name} installed")


def _check_rbac(api: Any, components: tuple[str, ...]) -> Iterator[Check]:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    authz = client.AuthorizationV1Api(api)
    for need, who in rbac_needs(components):
        what = f"{need.text()} ({', '.join(who)})"
        try:
            allowed = _can(authz, need)
        except ApiException as exc:
            if exc.status in (403, 404):  # not served, or we may not ask: nothing is known
                yield cannot_check_rbac(exc)
                return
            yield Check(
                BAD, "rbac", f"{what}: asking the API server failed ({exc.status} {exc.reason})"
            )
            continue
        yield Check(OK if allowed else BAD, "rbac", what + (" allowed" if allowed else " denied"))


def cannot_check_rbac(exc: Any) -> Check:
    """One warning for an API server that answers no SelfSubjectAccessReview."""
    why = "does not serve" if exc.status == 404 else "does not let us create"
    return Check(
        WARN,
        "rbac",
        f"cannot check: the API server {why} SelfSubjectAccessReview ({exc.status} {exc.reason}); "
        "the processes' permissions are unverified",
    )


def _can(authz: Any, need: Need) -> bool:
    from kubernetes import client

    attrs = client.V1ResourceAttributes(
        verb=need.verb,
        group=need.group,
        resource=need.resource,
        subresource=need.subresource or None,
        name=need.name or None,
        namespace=os.environ.get("POD_NAMESPACE", "default") if need.own_namespace else None,
    )
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=attrs
    ))  # fmt: skip
    result = authz.create_self_subject_access_review(review, _request_timeout=5)
    return bool(result.status.allowed)


async def check_github(settings: LenientSettings) -> list[Check]:
    """The App JWT is accepted and the App's installations are listed."""
    import httpx
    import redis.asyncio

    from core.clients.github import GitHubApp
    from core.clients.githubauth import AppCredentials

    creds = AppCredentials(
        app_id=int(settings.github_app_id or 0), private_key=settings.private_key()
    )
    async with httpx.AsyncClient() as http:
        store = redis.asyncio.Redis.from_url(settings.redis_url)
        app = GitHubApp(creds, http=http, redis=store, base_url=settings.github_api_url)
        try:
            me = await app.app_call("GET", "/app")
            installs = await app.app_iter("/app/installations")
        finally:
            await store.aclose()
    names = ", ".join(str(i.get("account", {}).get("login", i.get("id"))) for i in installs)
    return [
        Check(OK, "github", f"authenticated as App {me.get('slug', me.get('id'))}"),
        Check(
            OK if installs else BAD, "github", f"{len(installs)} installation(s): {names or 'none'}"
        ),
    ]


def run_github_check(settings: LenientSettings | None) -> list[Check]:
    """GitHub checks, or one skipped line when the App is not configured."""
    if settings is None or settings.github_app_id is None:
        return [Check(SKIP, "github", "skipped: the GitHub App settings are missing")]
    try:
        return asyncio.run(check_github(settings))
    except Exception as exc:  # the failure is the finding; say it plainly
        return [Check(BAD, "github", f"App authentication failed: {exc}")]


def run_doctor(
    echo: Callable[[str], None] = print, *, components: tuple[str, ...] = COMPONENTS
) -> int:
    """Run every check, printing each line as it completes; 0 when nothing is wrong.

    RBAC is checked for `components` (default all: an admin's view); in a process's pod, name
    that process, so its own ServiceAccount is held to what it needs and nothing more.
    """
    checks: list[Check] = []

    def report(found: list[Check] | Iterator[Check]) -> None:
        for check in found:
            checks.append(check)
            echo(check.line())

    found, settings = check_settings()
    report([*settings_source(), *found, check_dashboard(settings)])
    redis_check = check_redis(settings) if settings else Check(SKIP, "redis", "skipped")
    report([redis_check])
    report(check_kubernetes(components))
    report(run_github_check(settings))
    bad = sum(c.mark == BAD for c in checks)
    warned = sum(c.mark == WARN for c in checks)
    tail = f" ({warned} could not be checked)" if warned else ""
    echo((f"{bad} problem(s) found" if bad else "everything looks fine") + tail)
    return 1 if bad else 0
