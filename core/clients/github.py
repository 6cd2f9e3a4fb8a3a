"""Adapter: the GitHub REST API as a GitHub App (gidgethub over plain `httpx`).

* App JWT (`core.clients.githubauth`, shared with the reconciler) and installation tokens cached in
  Redis, shared by every worker until 5 minutes before expiry; one mint at a time per
  installation (a Redis lock); a 401 drops the token and re-mints once.
* Every call has a timeout. Timeouts, transport errors and 5xx become `TemporaryError`; primary
  and secondary rate limits become `RateLimited(delay)` and block the installation in Redis until
  then, so other workers wait too; nobody sleeps through a rate limit.
* Writes spend a per-installation token-bucket budget shared through Redis
  (`core.clients.budget`: under GitHub's 80 a minute and 500 an hour); a token whose write did
  not happen (refused before GitHub stored anything, or abandoned) is refunded.
* gidgethub and httpx exceptions never leave this module: they are mapped to `core.errors`.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import gidgethub
import httpx
from gidgethub.httpx import GitHubAPI
from redis.asyncio import Redis

from core.clients.budget import WriteBudget, WriteKind
from core.clients.githubauth import (
    SECONDARY_LIMIT_DEFAULT,
    AppCredentials,
    make_app_jwt,
    rate_limit_delay,
)
from core.clients.metrics import observe_github_response
from core.errors import (
    CatalystError,
    Invalid,
    NotFound,
    PermanentError,
    RateLimited,
    TemporaryError,
    WriteDeferred,
)
from core.github_values import (
    CheckRun,
    Comment,
    Deployment,
    PullRequest,
    parse_timestamp,
    split_repository,
)

USER_AGENT = "catalyst-preview"
REQUEST_TIMEOUT = 10.0
TOKEN_MARGIN = 300.0
MAX_PACING_WAIT = 3.0
_DEFERRED = "progress write put off: the budget keeps its last writes for first and final ones"
_KEY = "catalyst:github"
_LEVELS = ("none", "read", "triage", "write", "maintain", "admin")
# Which installation the request in flight acts as (`app`: the App's own JWT), for metrics.
_acting_as: contextvars.ContextVar[str] = contextvars.ContextVar(
    "catalyst_github_acting_as", default="app"
)


class Clock(Protocol):
    """Wall time and waiting; tests pass a simulated one."""

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Unauthorized(TemporaryError):
    """GitHub rejected the credentials (an expired or revoked token)."""


class Forbidden(PermanentError):
    """The App lacks a permission for this call."""


@dataclass(slots=True)
class InstallationToken:
    """A cached installation token and what it may do."""

    token: str
    expires_at: float
    permissions: dict[str, str] = field(default_factory=dict)


class TokenCache:
    """Installation tokens in Redis, shared by all workers; valid until 5 minutes before expiry."""

    def __init__(self, redis: Redis, clock: Clock, *, margin: float = TOKEN_MARGIN) -> None:
        self._redis = redis
        self._clock = clock
        self._margin = margin

    def _key(self, installation_id: int) -> str:
        return f"{_KEY}:token:{installation_id}"

    async def get(self, installation_id: int) -> InstallationToken | None:
        """The cached token, unless it is within the margin of its expiry."""
        raw = await self._redis.get(self._key(installation_id))
        if raw is None:
            return None
        token = InstallationToken(**json.loads(raw))
        return token if token.expires_at - self._margin > self._clock.time() else None

    async def put(self, installation_id: int, token: InstallationToken) -> None:
        """Store a freshly minted token (Redis expires it with the token)."""
        ttl = max(int(token.expires_at - self._clock.time()), 1)
        value = json.dumps(
            {"token": token.token, "expires_at": token.expires_at, "permissions": token.permissions}
        )
        await self._redis.set(self._key(installation_id), value, ex=ttl)

    async def drop(self, installation_id: int) -> None:
        """Forget the token (after a 401 or an uninstall)."""
        await self._redis.delete(self._key(installation_id))

    def lock(self, installation_id: int) -> Any:
        """The per-installation mint lock (one mint at a time across workers)."""
        return self._redis.lock(f"{_KEY}:mint:{installation_id}", timeout=30, blocking_timeout=20)


class Throttle:
    """Shared per-installation write budget and rate-limit blocks, kept in Redis."""

    def __init__(self, redis: Redis, clock: Clock, *, budget: WriteBudget | None = None) -> None:
        self._redis = redis
        self._clock = clock
        self.budget = budget or WriteBudget(redis, max_wait=MAX_PACING_WAIT)

    async def check_blocked(self, scope: str) -> None:
        """Raise RateLimited while GitHub told us to wait for this installation."""
        until = await self._redis.get(f"{_KEY}:blocked:{scope}")
        if until is not None and float(until) > self._clock.time():
            raise RateLimited("GitHub rate limit in force", delay=float(until) - self._clock.time())

    async def block(self, scope: str, delay: float) -> None:
        """Record that GitHub asked us to wait `delay` seconds."""
        until = self._clock.time() + delay
        await self._redis.set(f"{_KEY}:blocked:{scope}", str(until), ex=max(int(delay) + 1, 1))

    async def reserve_write(self, scope: str, *, kind: WriteKind = WriteKind.FINAL) -> None:
        """Take (or wait briefly for) a write token; reschedule instead of a long wait.

        A progress write never waits (WriteDeferred); a first write waits, without holding a
        token, until it can leave the final writes their reserve.
        """
        waited = 0.0
        while True:
            grant = await self.budget.reserve(scope, now=self._clock.time(), keep=kind.keep)
            if grant.granted:
                await self._until_reserved(scope, grant.wait)
                return
            if kind is WriteKind.PROGRESS:
                raise WriteDeferred(_DEFERRED, delay=grant.wait)
            if waited + grant.wait > MAX_PACING_WAIT:
                raise RateLimited("write budget spent", delay=grant.wait)
            await self._clock.sleep(grant.wait)
            waited += grant.wait

    async def _until_reserved(self, scope: str, wait: float) -> None:
        """Wait for a token reserved ahead; give it back if the wait is abandoned."""
        if wait <= 0:
            return
        try:
            await self._clock.sleep(wait)
        except BaseException:
            await self.refund_write(scope)
            raise

    async def refund_write(self, scope: str) -> None:
        """Return the token of a write that did not happen."""
        await self.budget.refund(scope, now=self._clock.time())

    async def progress_wait(self, scope: str) -> float:
        """Seconds until a progress write may go for this installation (0: now)."""
        keep = WriteKind.PROGRESS.keep
        return await self.budget.wait_for(scope, now=self._clock.time(), keep=keep)


class _TimedGitHubAPI(GitHubAPI):
    """gidgethub over httpx with a timeout on every call and our error mapping at the seam."""

    def __init__(
        self, client: httpx.AsyncClient, *, base_url: str, clock: Clock, timeout: float
    ) -> None:
        super().__init__(client, USER_AGENT, base_url=base_url)
        self._clock = clock
        self._timeout = timeout
        self._base_path = httpx.URL(base_url).path.rstrip("/")  # GHES: /api/v3

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        try:
            response = await self._client.request(
                method, url, headers=dict(headers), content=body, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            self._observe(method, url, "timeout", None)
            raise TemporaryError(f"GitHub {method} {_path(url)} timed out") from exc
        except httpx.TransportError as exc:
            self._observe(method, url, "error", None)
            raise TemporaryError(f"GitHub {method} {_path(url)} failed: {exc}") from exc
        self._observe(method, url, str(response.status_code), response)
        self._raise_for_transient(method, url, response)
        return response.status_code, response.headers, response.content

    def _observe(self, method: str, url: str, status: str, response: httpx.Response | None) -> None:
        path = _path(url).removeprefix(self._base_path)
        remaining = response.headers.get("x-ratelimit-remaining") if response else None
        observe_github_response(method, path, status, _acting_as.get(), remaining)

    def _raise_for_transient(self, method: str, url: str, response: httpx.Response) -> None:
        status = response.status_code
        delay = rate_limit_delay(status, response.headers, response.content, self._clock.time())
        if delay is not None:
            raise RateLimited(f"GitHub rate limit on {method} {_path(url)}", delay=delay)
        if status == 401:
            raise Unauthorized(f"GitHub rejected credentials on {method} {_path(url)}")
        if status >= 500:
            raise TemporaryError(f"GitHub {status} on {method} {_path(url)}")

    async def sleep(self, seconds: float) -> None:
        await self._clock.sleep(seconds)


def _path(url: str) -> str:
    return httpx.URL(url).path if "://" in url else url


def map_gidgethub_error(exc: gidgethub.HTTPException, what: str) -> Exception:
    """A core.errors exception for a 4xx gidgethub raised after our transient checks."""
    status = int(exc.status_code)
    message = f"{what}: GitHub {status} {exc}"
    if status == 404:
        return NotFound(message)
    if status == 403:
        return Forbidden(message)
    if status == 422:
        return Invalid(message)
    return PermanentError(message)


# The App's slug by (API URL, App id): it never changes while a process runs, and every task
# builds its own GitHubApp, so without this each comment update would ask `GET /app` again.
_SLUGS: dict[tuple[str, int], str] = {}


class GitHubApp:
    """The App: JWT-authenticated calls and installation tokens (one per process and event loop)."""

    def __init__(
        self,
        credentials: AppCredentials,
        *,
        http: httpx.AsyncClient,
        redis: Redis,
        base_url: str = "https://api.github.com",
        clock: Clock | None = None,
        timeout: float = REQUEST_TIMEOUT,
        slug: str | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.credentials = credentials
        self._slug = slug
        self.api = _TimedGitHubAPI(
            http, base_url=base_url.rstrip("/"), clock=self.clock, timeout=timeout
        )
        self.tokens = TokenCache(redis, self.clock)
        self.throttle = Throttle(redis, self.clock)

    async def bot_login(self) -> str:
        """The login GitHub gives the App's own comments (`<slug>[bot]`): the configured slug,
        else `GET /app`, asked once per process."""
        known = (self.api.base_url, self.credentials.app_id)
        if self._slug is None:
            self._slug = _SLUGS.get(known)
        if self._slug is None:
            self._slug = str((await self.app_call("GET", "/app"))["slug"])
        _SLUGS[known] = self._slug
        return f"{self._slug}[bot]"

    def jwt(self) -> str:
        """A fresh App JWT."""
        return make_app_jwt(self.credentials, now=self.clock.time())

    async def installation_token(self, installation_id: int) -> InstallationToken:
        """The shared cached token, minting (once, under a lock) when missing or near expiry."""
        cached = await self.tokens.get(installation_id)
        if cached is not None:
            return cached
        async with self.tokens.lock(installation_id):
            cached = await self.tokens.get(installation_id)
            if cached is None:
                cached = await self._mint(installation_id)
                await self.tokens.put(installation_id, cached)
            return cached

    async def _mint(self, installation_id: int) -> InstallationToken:
        data = await self.app_call(
            "POST", "/app/installations/{id}/access_tokens", {"id": installation_id}, data={}
        )
        return InstallationToken(
            token=str(data["token"]),
            expires_at=parse_timestamp(str(data["expires_at"])),
            permissions={str(k): str(v) for k, v in (data.get("permissions") or {}).items()},
        )

    async def app_call(
        self, method: str, url: str, url_vars: Mapping[str, Any] | None = None, *, data: Any = b""
    ) -> Any:
        """One JWT-authenticated call (the App's own endpoints)."""
        try:
            body, _, _ = await self.api._make_request(
                method,
                url,
                dict(url_vars or {}),
                data,
                gidgethub.sansio.accept_format(),
                jwt=self.jwt(),
            )
        except gidgethub.HTTPException as exc:
            raise map_gidgethub_error(exc, f"{method} {url}") from exc
        return body

    async def app_iter(self, url: str, url_vars: Mapping[str, Any] | None = None) -> list[Any]:
        """All pages of a JWT-authenticated listing."""
        try:
            return [
                item async for item in self.api.getiter(url, dict(url_vars or {}), jwt=self.jwt())
            ]
        except gidgethub.HTTPException as exc:
            raise map_gidgethub_error(exc, f"GET {url}") from exc

    def installation(self, installation_id: int) -> GitHubInstallation:
        """A client acting as one installation."""
        return GitHubInstallation(self, installation_id)

    async def installation_id_for(self, repository: str) -> int:
        """The installation that covers `repository`."""
        owner, repo = split_repository(repository)
        data = await self.app_call(
            "GET", "/repos/{owner}/{repo}/installation", {"owner": owner, "repo": repo}
        )
        return int(data["id"])

    async def failed_deliveries(self) -> list[dict[str, Any]]:
        """Recent webhook deliveries GitHub recorded as failed (one page of 100, newest first)."""
        items = await self.app_call("GET", "/app/hook/deliveries?per_page=100")
        return [d for d in items or [] if str(d.get("status", "OK")) != "OK"]

    async def redeliver(self, delivery_id: int) -> None:
        """Ask GitHub to send a recorded delivery again."""
        await self.app_call(
            "POST", "/app/hook/deliveries/{id}/attempts", {"id": delivery_id}, data={}
        )


def _author(comment: Mapping[str, Any]) -> str:
    return str((comment.get("user") or {}).get("login") or "")


def _write_did_not_happen(exc: CatalystError) -> bool:
    """True when GitHub certainly stored nothing: it refused the request (rate limit, 4xx).

    A timeout or a 5xx may have been stored, so its token stays spent.
    """
    return isinstance(exc, (RateLimited, Unauthorized, PermanentError))


class GitHubInstallation:
    """Calls made as one installation, with token refresh, throttling and error mapping."""

    def __init__(self, app: GitHubApp, installation_id: int) -> None:
        self.app = app
        self.installation_id = installation_id
        self._scope = str(installation_id)

    async def call(
        self,
        method: str,
        url: str,
        url_vars: Mapping[str, Any] | None = None,
        *,
        data: Any = b"",
        kind: WriteKind = WriteKind.FINAL,
    ) -> Any:
        """One call (a write spends the installation's budget as its `kind` may); raises
        core.errors (WriteDeferred: a progress write put off to keep the budget's reserve)."""
        if method == "GET":
            body, _ = await self._request(method, url, url_vars, data)
            return body
        await self.app.throttle.check_blocked(self._scope)
        await self.app.throttle.reserve_write(self._scope, kind=kind)
        try:
            body, _ = await self._request(method, url, url_vars, data)
        except CatalystError as exc:
            if _write_did_not_happen(exc):
                await self.app.throttle.refund_write(self._scope)
            raise
        return body

    async def progress_wait(self) -> float:
        """Seconds until a progress write may go (0: now), to put one off before reading."""
        return await self.app.throttle.progress_wait(self._scope)

    async def iterate(self, url: str, url_vars: Mapping[str, Any] | None = None) -> list[Any]:
        """Every item of a paginated listing (follows `Link: next`)."""
        items: list[Any] = []
        next_url: str | None = url
        while next_url:
            page, next_url = await self._request("GET", next_url, url_vars, b"")
            items.extend(page)
        return items

    async def _request(
        self, method: str, url: str, url_vars: Mapping[str, Any] | None, data: Any
    ) -> tuple[Any, str | None]:
        """A 401 drops the cached token and retries once with a freshly minted one."""
        await self.app.throttle.check_blocked(self._scope)
        try:
            return await self._request_once(method, url, url_vars, data)
        except Unauthorized:
            await self.app.tokens.drop(self.installation_id)
            return await self._request_once(method, url, url_vars, data)

    async def _request_once(
        self, method: str, url: str, url_vars: Mapping[str, Any] | None, data: Any
    ) -> tuple[Any, str | None]:
        token = await self.app.installation_token(self.installation_id)
        acting = _acting_as.set(self._scope)
        try:
            body, next_url, _ = await self.app.api._make_request(
                method,
                url,
                dict(url_vars or {}),
                data,
                gidgethub.sansio.accept_format(),
                oauth_token=token.token,
            )
        except RateLimited as exc:
            await self.app.throttle.block(self._scope, exc.delay or SECONDARY_LIMIT_DEFAULT)
            raise
        except gidgethub.HTTPException as exc:
            raise map_gidgethub_error(exc, f"{method} {_path(url)}") from exc
        finally:
            _acting_as.reset(acting)
        return body, next_url

    async def permissions(self) -> dict[str, str]:
        """The permissions granted to the installation (from its token)."""
        return (await self.app.installation_token(self.installation_id)).permissions

    # --- pull requests and refs ------------------------------------------------------------

    async def get_pull(self, repository: str, number: int) -> PullRequest:
        """The pull request as GitHub has it now."""
        owner, repo = split_repository(repository)
        data = await self.call(
            "GET", "/repos/{owner}/{repo}/pulls/{n}", {"owner": owner, "repo": repo, "n": number}
        )
        return PullRequest.from_api(data)

    async def list_open_pulls(self, repository: str) -> list[PullRequest]:
        """Every open pull request of the repository."""
        owner, repo = split_repository(repository)
        items = await self.iterate(
            "/repos/{owner}/{repo}/pulls?state=open&per_page=100", {"owner": owner, "repo": repo}
        )
        return [PullRequest.from_api(item) for item in items]

    async def branch_head(self, repository: str, branch: str) -> str | None:
        """The commit a branch points at, or None when the branch does not exist."""
        owner, repo = split_repository(repository)
        try:
            data = await self.call("GET", f"/repos/{owner}/{repo}/git/ref/heads/{quote(branch)}")
        except NotFound:
            return None
        return str(data["object"]["sha"])

    # --- deployments -------------------------------------------------------------------------

    async def find_deployments(
        self,
        repository: str,
        *,
        environment: str,
        sha: str | None = None,
        newest: int | None = None,
    ) -> list[Deployment]:
        """Deployments of `environment` (optionally of one commit), newest first.

        `newest` (at most 100): only that many, in one call, instead of every page.
        """
        owner, repo = split_repository(repository)
        query = f"environment={quote(environment, safe='')}&per_page={newest or 100}"
        if sha:
            query += f"&sha={sha}"
        url = f"/repos/{owner}/{repo}/deployments?{query}"
        items = await (self.call("GET", url) if newest else self.iterate(url))
        return [Deployment(int(d["id"]), str(d["sha"]), str(d["environment"])) for d in items]

    async def create_deployment(
        self,
        repository: str,
        *,
        sha: str,
        environment: str,
        transient: bool,
        payload: dict[str, Any],
    ) -> int:
        """Create a deployment of exactly `sha` (no auto-merge, no required contexts)."""
        owner, repo = split_repository(repository)
        data = await self.call(
            "POST",
            "/repos/{owner}/{repo}/deployments",
            {"owner": owner, "repo": repo},
            data={
                "ref": sha,
                "environment": environment,
                "auto_merge": False,
                "required_contexts": [],
                "transient_environment": transient,
                "production_environment": environment == "production",
                "payload": payload,
                "description": f"catalyst {sha[:7]}",
            },
            kind=WriteKind.FIRST,  # what a commit's first status needs: before progress edits
        )
        if "id" not in (data or {}):
            raise PermanentError(f"GitHub did not create a deployment: {data}")
        return int(data["id"])

    async def latest_deployment_state(self, repository: str, deployment_id: int) -> str | None:
        """The state GitHub shows for a deployment (its newest status), None if it has none."""
        owner, repo = split_repository(repository)
        items = await self.call(
            "GET", f"/repos/{owner}/{repo}/deployments/{deployment_id}/statuses?per_page=1"
        )
        return str(items[0]["state"]) if items else None

    async def create_deployment_status(
        self,
        repository: str,
        deployment_id: int,
        *,
        state: str,
        description: str,
        environment_url: str | None = None,
        log_url: str | None = None,
        kind: WriteKind = WriteKind.FINAL,
    ) -> None:
        """Post a deployment status (`auto_inactive` off: we inactivate explicitly)."""
        owner, repo = split_repository(repository)
        body: dict[str, Any] = {
            "state": state,
            "description": description[:139],
            "auto_inactive": False,
        }
        if environment_url:
            body["environment_url"] = environment_url
        if log_url:
            body["log_url"] = log_url
        await self.call(
            "POST",
            f"/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
            data=body,
            kind=kind,
        )

    async def delete_deployment(self, repository: str, deployment_id: int) -> None:
        """Delete an (inactive) deployment; already gone is fine."""
        owner, repo = split_repository(repository)
        try:
            await self.call("DELETE", f"/repos/{owner}/{repo}/deployments/{deployment_id}")
        except NotFound:
            return

    async def delete_environment(self, repository: str, name: str) -> None:
        """Delete a GitHub environment; already gone is fine."""
        owner, repo = split_repository(repository)
        try:
            await self.call("DELETE", f"/repos/{owner}/{repo}/environments/{quote(name, safe='')}")
        except NotFound:
            return

    # --- check runs ---------------------------------------------------------------------------

    async def find_check_runs(self, repository: str, sha: str, *, name: str) -> list[CheckRun]:
        """Our check runs named `name` on commit `sha` (GitHub lists the newest first)."""
        owner, repo = split_repository(repository)
        data = await self.call(
            "GET",
            f"/repos/{owner}/{repo}/commits/{sha}/check-runs"
            f"?check_name={quote(name, safe='')}&filter=latest&per_page=100",
        )
        return [CheckRun.from_api(item) for item in (data or {}).get("check_runs") or []]

    async def get_check_run(self, repository: str, check_run_id: int) -> CheckRun | None:
        """One check run, or None when it is gone."""
        owner, repo = split_repository(repository)
        try:
            data = await self.call("GET", f"/repos/{owner}/{repo}/check-runs/{check_run_id}")
        except NotFound:
            return None
        return CheckRun.from_api(data)

    async def create_check_run(self, repository: str, body: Mapping[str, Any]) -> int:
        """Create a check run (`body` as GitHub's API takes it); returns its id."""
        owner, repo = split_repository(repository)
        path = f"/repos/{owner}/{repo}/check-runs"
        data = await self.call("POST", path, data=dict(body), kind=WriteKind.FIRST)
        if "id" not in (data or {}):
            raise PermanentError(f"GitHub did not create a check run: {data}")
        return int(data["id"])

    async def update_check_run(
        self,
        repository: str,
        check_run_id: int,
        body: Mapping[str, Any],
        *,
        kind: WriteKind = WriteKind.FINAL,
    ) -> None:
        """Update a check run's status, conclusion, output or actions."""
        owner, repo = split_repository(repository)
        path = f"/repos/{owner}/{repo}/check-runs/{check_run_id}"
        await self.call("PATCH", path, data=dict(body), kind=kind)

    # --- comments, reactions, permissions -----------------------------------------------------

    async def find_comment(self, repository: str, number: int, marker: str) -> Comment | None:
        """The App's own first comment on the issue holding `marker` (searches every page).

        Only a comment the App wrote counts: anyone can paste the marker into theirs.
        """
        owner, repo = split_repository(repository)
        items = await self.iterate(f"/repos/{owner}/{repo}/issues/{number}/comments?per_page=100")
        ours = await self.app.bot_login()
        found = next(
            (c for c in items if marker in str(c.get("body") or "") and _author(c) == ours), None
        )
        return None if found is None else Comment(int(found["id"]), str(found["body"]), ours)

    async def create_comment(
        self, repository: str, number: int, body: str, *, kind: WriteKind = WriteKind.FINAL
    ) -> int:
        """Post a new issue comment; returns its id."""
        owner, repo = split_repository(repository)
        path = f"/repos/{owner}/{repo}/issues/{number}/comments"
        data = await self.call("POST", path, data={"body": body}, kind=kind)
        return int(data["id"])

    async def edit_comment(
        self, repository: str, comment_id: int, body: str, *, kind: WriteKind = WriteKind.FINAL
    ) -> None:
        """Replace an issue comment's body."""
        owner, repo = split_repository(repository)
        path = f"/repos/{owner}/{repo}/issues/comments/{comment_id}"
        await self.call("PATCH", path, data={"body": body}, kind=kind)

    async def get_comment(self, repository: str, comment_id: int) -> Comment | None:
        """One issue comment, or None when it was deleted."""
        owner, repo = split_repository(repository)
        try:
            data = await self.call("GET", f"/repos/{owner}/{repo}/issues/comments/{comment_id}")
        except NotFound:
            return None
        return Comment(int(data["id"]), str(data.get("body") or ""), _author(data))

    async def add_reaction(self, repository: str, comment_id: int, content: str) -> None:
        """React to an issue comment (e.g. 👀 `eyes` on receipt of a command)."""
        owner, repo = split_repository(repository)
        await self.call(
            "POST",
            f"/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
            data={"content": content},
        )

    async def collaborator_permission(self, repository: str, user: str) -> str:
        """`admin`, `maintain`, `write`, `triage`, `read` or `none` for `user`."""
        owner, repo = split_repository(repository)
        try:
            data = await self.call(
                "GET", f"/repos/{owner}/{repo}/collaborators/{quote(user)}/permission"
            )
        except NotFound:
            return "none"
        # A custom role's `role_name` is its own name; `permission` then holds its base level.
        role = str(data.get("role_name") or "")
        return role if role in _LEVELS else str(data.get("permission") or "none")
