"""Test support: a stateful fake GitHub REST API served through respx (plain httpx).

State (`GitHubState`) is plain data: installations and their tokens, pull requests, branches,
deployments with statuses, issue comments (paginated), reactions, collaborator permissions and
webhook deliveries. `FakeGitHub.mount(router)` routes a respx router to handlers over that state;
the handlers take and return `httpx` objects only, so the same state could be served over HTTP.
Every request is recorded; `reads()` / `writes()` count them. Faults: `fail(...)` answers a
matching request with a status (and headers) `times` times, optionally after applying it
(`after_store=True` raises a timeout once GitHub "stored" the write).

Tokens behave like GitHub's: a mint may ask for `repositories` and `permissions` (a subset of
the installation's, else 422); such a token gets 404 for any other repository and 403 ("Resource
not accessible by integration") for a call needing a permission it lacks; `DELETE
/installation/token` revokes it (401 from then on, listed in `state.revoked`). The mint answer
lists the repositories with their visibility (`state.public_repos`, private otherwise).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
import jwt as pyjwt
import respx

Handler = Callable[[httpx.Request, re.Match[str]], httpx.Response]
PAGE = 30
EVENTS = ["issue_comment", "pull_request", "push", "installation"]  # the App manifest's events


def sha_of(text: str) -> str:
    """A deterministic 40-hex commit SHA for test names like "A"."""
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class Fault:
    """Answer matching requests with `status` (or a timeout) `times` times."""

    method: str
    pattern: str
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    after_store: bool = False
    body: dict[str, Any] = field(default_factory=lambda: {"message": "fault"})


@dataclass
class Recorded:
    """One request the fake served."""

    method: str
    path: str
    status: int
    body: Any = None
    at: float = 0.0
    timeout: dict[str, float | None] | None = None
    redundant: bool = False


LEVELS = {"read": 1, "write": 2, "admin": 3}
# (method, path pattern) -> the permissions (any one of them) and level a call needs.
REQUIRED: list[tuple[str, str, tuple[str, ...], str]] = [
    ("GET", r"/repos/[^/]+/[^/]+/pulls.*", ("pull_requests",), "read"),
    ("GET", r"/repos/[^/]+/[^/]+/(git|tarball|contents).*", ("contents",), "read"),
    ("GET", r"/repos/[^/]+/[^/]+/deployments.*", ("deployments",), "read"),
    ("POST", r"/repos/[^/]+/[^/]+/deployments.*", ("deployments",), "write"),
    ("DELETE", r"/repos/[^/]+/[^/]+/deployments.*", ("deployments",), "write"),
    ("DELETE", r"/repos/[^/]+/[^/]+/environments/.*", ("administration",), "write"),
    ("GET", r"/repos/[^/]+/[^/]+/issues.*", ("issues", "pull_requests"), "read"),
    ("POST", r"/repos/[^/]+/[^/]+/issues.*", ("issues", "pull_requests"), "write"),
    ("PATCH", r"/repos/[^/]+/[^/]+/issues.*", ("issues", "pull_requests"), "write"),
]


@dataclass(frozen=True)
class TokenScope:
    """What an installation token was minted for (None repositories: all of the installation)."""

    permissions: dict[str, str]
    repositories: frozenset[str] | None = None

    def allows(self, method: str, path: str) -> httpx.Response | None:
        """None when the call is within scope, else GitHub's answer (404 or 403)."""
        repo = re.match(r"/repos/[^/]+/(?P<name>[^/]+)", path)
        if repo and self.repositories is not None and repo["name"] not in self.repositories:
            return _error(404, "Not Found")
        for verb, pattern, permissions, level in REQUIRED:
            if verb == method and re.fullmatch(pattern, path):
                held = max(LEVELS.get(self.permissions.get(p, ""), 0) for p in permissions)
                if held < LEVELS[level]:
                    return _error(403, "Resource not accessible by integration")
        return None


@dataclass
class GitHubState:
    """Everything the fake GitHub knows."""

    clock: Callable[[], float]
    permissions: dict[str, str] = field(
        default_factory=lambda: {
            "deployments": "write",
            "pull_requests": "write",
            "issues": "write",
            "administration": "write",
            "contents": "read",
        }
    )
    pulls: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    branches: dict[tuple[str, str], str] = field(default_factory=dict)
    deployments: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    app_slug: str = "catalyst-preview"
    reactions: list[dict[str, Any]] = field(default_factory=list)
    environments_deleted: list[tuple[str, str]] = field(default_factory=list)
    collaborators: dict[tuple[str, str], str] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    redelivered: list[int] = field(default_factory=list)
    tokens: dict[str, tuple[int, float]] = field(default_factory=dict)
    mints: dict[int, int] = field(default_factory=dict)
    repo_installation: dict[str, int] = field(default_factory=dict)
    app: dict[str, Any] = field(default_factory=lambda: {"id": 1, "name": "Catalyst (fake)"})
    token_scopes: dict[str, TokenScope] = field(default_factory=dict)
    revoked: list[str] = field(default_factory=list)
    public_repos: set[str] = field(default_factory=set)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    # OAuth (user-to-server): registered clients, the browser's signed-in GitHub user (the
    # authorize page approves as them, like GitHub does once a user authorized the App), codes
    # awaiting exchange, and user tokens (token -> (login, expires_at)).
    oauth_clients: dict[str, str] = field(default_factory=dict)
    oauth_user: str | None = None
    oauth_codes: dict[str, tuple[str, str, str, float]] = field(default_factory=dict)
    user_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    private_repos: set[str] = field(default_factory=set)

    # --- seeding helpers ----------------------------------------------------------------------

    def open_pull(
        self,
        repo: str,
        number: int,
        sha: str,
        *,
        branch: str = "feature",
        draft: bool = False,
        labels: tuple[str, ...] = (),
        fork: bool = False,
    ) -> None:
        """Create or update an open PR with head `sha`."""
        head_repo = f"fork-{number}/{repo.split('/')[1]}" if fork else repo
        self.pulls[(repo, number)] = {
            "number": number,
            "state": "open",
            "merged": False,
            "draft": draft,
            "head": {"sha": sha, "ref": branch, "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "repo": {"full_name": repo}},
            "labels": [{"name": n} for n in labels],
            "user": {"login": "octocat"},
        }
        self.touch_pull(repo, number)

    def push_pull(self, repo: str, number: int, sha: str) -> None:
        """Move an open PR's head."""
        self.pulls[(repo, number)]["head"]["sha"] = sha
        self.touch_pull(repo, number)

    def close_pull(self, repo: str, number: int, *, merged: bool = False) -> None:
        """Close (or merge) a PR."""
        self.pulls[(repo, number)].update(state="closed", merged=merged)
        self.touch_pull(repo, number)

    def reopen_pull(self, repo: str, number: int) -> None:
        """Reopen a closed PR."""
        self.pulls[(repo, number)].update(state="open", merged=False)
        self.touch_pull(repo, number)

    def touch_pull(self, repo: str, number: int) -> None:
        """Stamp `updated_at` with the fake's clock, as GitHub does on any PR activity."""
        stamp = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.pulls[(repo, number)]["updated_at"] = stamp

    def add_comment(self, repo: str, number: int, body: str, *, author: str) -> int:
        """A comment someone (not the App) wrote on an issue, with the fields GitHub gives it;
        returns its id."""
        comment_id = next(self.ids)
        stamp = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.comments[comment_id] = {
            "id": comment_id,
            "repo": repo,
            "issue": number,
            "body": body,
            "user": {"login": author, "type": "User"},
            "created_at": stamp,
            "updated_at": stamp,
            "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{comment_id}",
        }
        return comment_id

    # --- views for assertions ---------------------------------------------------------------

    def check_runs_of(self, repo: str, sha: str | None = None) -> list[dict[str, Any]]:
        """Stored check runs of a repo (optionally of one commit), oldest first."""
        return [
            c
            for c in self.check_runs.values()
            if c["repo"] == repo and (sha is None or c["head_sha"] == sha)
        ]

    def deployments_of(self, repo: str, environment: str | None = None) -> list[dict[str, Any]]:
        """Stored deployments of a repo (optionally of one environment), oldest first."""
        return [
            d
            for d in self.deployments.values()
            if d["repo"] == repo and (environment is None or d["environment"] == environment)
        ]

    def states_of(self, deployment_id: int) -> list[str]:
        """Every status state posted to a deployment, oldest first."""
        return [s["state"] for s in self.statuses.get(deployment_id, [])]

    def installations(self) -> list[dict[str, Any]]:
        """The App's installations as `GET /app/installations` lists them (one per account)."""
        accounts: dict[int, str] = {}
        for repo, installation in self.repo_installation.items():
            accounts.setdefault(installation, repo.split("/")[0])
        return [
            {
                "id": installation,
                "app_id": self.app["id"],
                "account": {"login": login, "type": "Organization"},
                "repository_selection": "selected",
                "permissions": self.permissions,
            }
            for installation, login in sorted(accounts.items())
        ]

    def comments_on(self, repo: str, number: int) -> list[dict[str, Any]]:
        """Comments on an issue, oldest first."""
        return [c for c in self.comments.values() if c["repo"] == repo and c["issue"] == number]


class FakeGitHub:
    """Routes for the fake; mount on a respx router (base URL configurable for GHES)."""

    def __init__(self, clock: Callable[[], float], *, base_url: str = "https://api.github.com"):
        self.state = GitHubState(clock)
        self.base_url = base_url.rstrip("/")
        self.log: list[Recorded] = []
        self.faults: list[Fault] = []
        self._last_redundant = False

    # --- recording ---------------------------------------------------------------------------

    def reads(self) -> list[Recorded]:
        """GET requests served."""
        return [r for r in self.log if r.method == "GET"]

    def writes(self) -> list[Recorded]:
        """Non-GET requests served (token mints included)."""
        return [r for r in self.log if r.method != "GET"]

    def content_writes(self) -> list[Recorded]:
        """Writes that change what GitHub shows (token mints excluded)."""
        return [r for r in self.writes() if "/access_tokens" not in r.path]

    def revoke_tokens(self) -> None:
        """Invalidate every installation token (GitHub answers 401 until a new one is minted)."""
        self.state.tokens.clear()

    def redundant_writes(self) -> list[Recorded]:
        """Writes that did not change what GitHub shows (same status again, same comment body)."""
        return [r for r in self.log if r.method in ("POST", "PATCH") and r.redundant]

    def fail(self, method: str, pattern: str, status: int = 500, **kwargs: Any) -> Fault:
        """Inject a fault for requests whose path matches `pattern` (a regex)."""
        fault = Fault(method, pattern, status, **kwargs)
        self.faults.append(fault)
        return fault

    # --- routing ------------------------------------------------------------------------------

    def mount(self, router: respx.MockRouter) -> None:
        """Send every request under the base URL to `handle`."""
        router.route(url__startswith=self.base_url).mock(side_effect=self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve one request: faults first, then auth, then the route."""
        path = request.url.path[len(httpx.URL(self.base_url).path.rstrip("/")) :] or "/"
        fault = self._fault_for(request.method, path)
        if fault is not None and not fault.after_store:
            return self._record(
                request, path, httpx.Response(fault.status, json=fault.body, headers=fault.headers)
            )
        denied = self._check_auth(request, path)
        if denied is not None:
            return self._record(request, path, denied)
        self._last_redundant = False
        response = self._route(request, path)
        self._record(request, path, response)
        self.log[-1].redundant = self._last_redundant
        if fault is not None:
            raise httpx.ReadTimeout("fake timeout after store", request=request)
        return response

    def _fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and re.search(fault.pattern, path):
                fault.times -= 1
                return fault
        return None

    def _record(
        self, request: httpx.Request, path: str, response: httpx.Response
    ) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.log.append(
            Recorded(
                request.method,
                path,
                response.status_code,
                body,
                self.state.clock(),
                request.extensions.get("timeout"),
            )
        )
        return response

    def _check_auth(self, request: httpx.Request, path: str) -> httpx.Response | None:
        auth = request.headers.get("authorization", "")
        if path.startswith("/login/oauth/"):
            return None  # the browser's pages and the code exchange carry no token
        if path == "/app" or path.startswith("/app/") or path.endswith("/installation"):
            return self._check_jwt(auth)
        token = _bearer(auth)
        if token.startswith("ghu_"):
            user = self.state.user_tokens.get(token)
            return None if user and user[1] > self.state.clock() else _error(401, "Bad credentials")
        known = self.state.tokens.get(token)
        if known is None or known[1] <= self.state.clock():
            return _error(401, "Bad credentials")
        scope = self.state.token_scopes.get(token)
        return scope.allows(request.method, path) if scope is not None else None

    def _check_jwt(self, auth: str) -> httpx.Response | None:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer":
            return _error(401, "A JSON web token could not be decoded")
        claims = pyjwt.decode(
            token, options={"verify_signature": False, "verify_exp": False, "verify_iat": False}
        )
        now = self.state.clock()
        if not claims["iat"] <= now < claims["exp"] <= now + 600:
            return _error(401, "'Expiration time' claim ('exp') is too far in the future")
        return None

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        for method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and method == request.method:
                return handler(request, match)
        return _error(404, f"no fake route for {request.method} {path}")

    def _routes(self) -> list[tuple[str, str, Handler]]:
        repo = r"/repos/(?P<repo>[^/]+/[^/]+)"
        return [
            ("GET", r"/app/installations", self._installations),
            ("POST", r"/app/installations/(?P<id>\d+)/access_tokens", self._mint),
            ("DELETE", r"/installation/token", self._revoke),
            ("GET", repo + r"/installation", self._repo_installation),
            ("GET", r"/app", self._app),
            ("GET", r"/app/hook/deliveries", self._deliveries),
            ("POST", r"/app/hook/deliveries/(?P<id>\d+)/attempts", self._redeliver),
            ("GET", repo + r"/pulls/(?P<n>\d+)", self._get_pull),
            ("GET", repo + r"/pulls", self._list_pulls),
            ("GET", repo + r"/git/ref/heads/(?P<branch>.+)", self._branch),
            ("GET", repo + r"/deployments", self._list_deployments),
            ("POST", repo + r"/deployments", self._create_deployment),
            ("DELETE", repo + r"/deployments/(?P<id>\d+)", self._delete_deployment),
            ("GET", repo + r"/deployments/(?P<id>\d+)/statuses", self._list_statuses),
            ("POST", repo + r"/deployments/(?P<id>\d+)/statuses", self._create_status),
            ("DELETE", repo + r"/environments/(?P<name>.+)", self._delete_environment),
            ("GET", repo + r"/issues/(?P<n>\d+)/comments", self._list_comments),
            ("POST", repo + r"/issues/(?P<n>\d+)/comments", self._create_comment),
            ("GET", repo + r"/issues/comments/(?P<id>\d+)", self._get_comment),
            ("PATCH", repo + r"/issues/comments/(?P<id>\d+)", self._edit_comment),
            ("POST", repo + r"/issues/comments/(?P<id>\d+)/reactions", self._react),
            ("GET", repo + r"/collaborators/(?P<user>[^/]+)/permission", self._permission),
            ("GET", r"/login/oauth/authorize", self._authorize),
            ("POST", r"/login/oauth/access_token", self._access_token),
            ("GET", r"/user", self._user),
            ("GET", repo, self._repo),
            ("POST", repo + r"/check-runs", self._create_check_run),
            ("PATCH", repo + r"/check-runs/(?P<id>\d+)", self._update_check_run),
            ("GET", repo + r"/check-runs/(?P<id>\d+)", self._get_check_run),
            ("GET", repo + r"/commits/(?P<sha>[^/]+)/check-runs", self._list_check_runs),
        ]

    # --- handlers -------------------------------------------------------------------------------

    def _app(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        app = {**self.state.app, "slug": self.state.app_slug}
        app.update(permissions=self.state.permissions, events=EVENTS)
        return httpx.Response(200, json=app)

    def _installations(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        return self._page(request, self.state.installations())

    def _mint(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        installation = int(m["id"])
        body = json.loads(request.content) if request.content else {}
        asked = dict(body.get("permissions") or self.state.permissions)
        granted = {"metadata": "read", **self.state.permissions}
        if any(LEVELS[v] > LEVELS.get(granted.get(k, ""), 0) for k, v in asked.items()):
            return _error(422, "The permissions requested are not granted to this installation.")
        self.state.mints[installation] = self.state.mints.get(installation, 0) + 1
        token = f"ghs_fake{installation}x{self.state.mints[installation]:04d}"
        expires = self.state.clock() + 3600
        self.state.tokens[token] = (installation, expires)
        names = body.get("repositories")
        repos = frozenset(names) if names else None
        self.state.token_scopes[token] = TokenScope(asked, repos)
        stamp = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer: dict[str, Any] = {"token": token, "expires_at": stamp, "permissions": asked}
        if repos is not None:
            answer["repositories"] = [
                {
                    "name": n,
                    "private": not any(r.endswith("/" + n) for r in self.state.public_repos),
                }
                for n in sorted(repos)
            ]
        return httpx.Response(201, json=answer)

    def _revoke(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        token = request.headers.get("authorization", "").removeprefix("token ")
        self.state.tokens.pop(token, None)
        self.state.revoked.append(token)
        return httpx.Response(204)

    def _repo_installation(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        found = self.state.repo_installation.get(m["repo"])
        return (
            _error(404, "Not Found") if found is None else httpx.Response(200, json={"id": found})
        )

    def _deliveries(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        return httpx.Response(200, json=self.state.deliveries)

    def _redeliver(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        self.state.redelivered.append(int(m["id"]))
        return httpx.Response(202, json={})

    def _get_pull(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        pull = self.state.pulls.get((m["repo"], int(m["n"])))
        return _error(404, "Not Found") if pull is None else httpx.Response(200, json=pull)

    def _list_pulls(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        items = [
            p for (r, _), p in self.state.pulls.items() if r == m["repo"] and p["state"] == "open"
        ]
        return self._page(request, items)

    def _branch(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        sha = self.state.branches.get((m["repo"], unquote(m["branch"])))
        if sha is None:
            return _error(404, "Not Found")
        return httpx.Response(200, json={"object": {"sha": sha, "type": "commit"}})

    def _list_deployments(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        query = parse_qs(request.url.query.decode())
        items = [
            d
            for d in self.state.deployments.values()
            if d["repo"] == m["repo"]
            and ("sha" not in query or d["sha"] == query["sha"][0])
            and ("environment" not in query or d["environment"] == query["environment"][0])
        ]
        return self._page(request, list(reversed(items)))

    def _create_deployment(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        body = json.loads(request.content)
        deployment_id = next(self.state.ids)
        self.state.deployments[deployment_id] = {
            "id": deployment_id,
            "repo": m["repo"],
            "sha": body["ref"],
            **body,
        }
        self.state.statuses[deployment_id] = []
        return httpx.Response(201, json=self.state.deployments[deployment_id])

    def _delete_deployment(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        deployment_id = int(m["id"])
        if deployment_id not in self.state.deployments:
            return _error(404, "Not Found")
        if self.state.states_of(deployment_id)[-1:] != ["inactive"]:
            return _error(422, "We cannot delete an active deployment")
        del self.state.deployments[deployment_id]
        return httpx.Response(204)

    def _list_statuses(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        items = self.state.statuses.get(int(m["id"]))
        if items is None:
            return _error(404, "Not Found")
        return self._page(request, list(reversed(items)))

    def _create_status(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        items = self.state.statuses.get(int(m["id"]))
        if items is None:
            return _error(404, "Not Found")
        body = json.loads(request.content)
        if len(body.get("description", "")) > 140:
            return _error(422, "description is too long")
        self._last_redundant = bool(items) and items[-1]["state"] == body["state"]
        items.append({"id": next(self.state.ids), **body})
        return httpx.Response(201, json=items[-1])

    def _delete_environment(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        if self.state.permissions.get("administration") != "write":
            return _error(403, "Resource not accessible by integration")
        self.state.environments_deleted.append((m["repo"], unquote(m["name"])))
        return httpx.Response(204)

    def _list_comments(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        return self._page(request, self.state.comments_on(m["repo"], int(m["n"])), cap=PAGE)

    def _create_comment(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        comment_id = next(self.state.ids)
        body = json.loads(request.content)["body"]
        self.state.comments[comment_id] = {
            "id": comment_id,
            "repo": m["repo"],
            "issue": int(m["n"]),
            "body": body,
            "user": {"login": f"{self.state.app_slug}[bot]", "type": "Bot"},
        }
        return httpx.Response(201, json=self.state.comments[comment_id])

    def _get_comment(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        comment = self.state.comments.get(int(m["id"]))
        return _error(404, "Not Found") if comment is None else httpx.Response(200, json=comment)

    def _edit_comment(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        comment = self.state.comments.get(int(m["id"]))
        if comment is None:
            return _error(404, "Not Found")
        new_body = json.loads(request.content)["body"]
        self._last_redundant = comment["body"] == new_body
        comment["body"] = new_body
        return httpx.Response(200, json=comment)

    def _react(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        body = json.loads(request.content)
        self.state.reactions.append({"comment_id": int(m["id"]), **body})
        return httpx.Response(201, json=self.state.reactions[-1])

    def _permission(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        role = self.state.collaborators.get((m["repo"], m["user"]), "none")
        return httpx.Response(200, json={"permission": role, "role_name": role})

    # --- OAuth (user-to-server) -------------------------------------------------------------

    def _authorize(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        """GitHub's authorize page, already approved by `oauth_user`: back to the callback."""
        query = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        client, redirect = query.get("client_id", ""), query.get("redirect_uri", "")
        if client not in self.state.oauth_clients or not redirect:
            return _error(404, "Not Found")
        if self.state.oauth_user is None:
            return httpx.Response(200, text="Sign in to GitHub")  # nobody signed in to the fake
        code = f"code{next(self.state.ids)}"
        self.state.oauth_codes[code] = (client, redirect, self.state.oauth_user, self.state.clock())
        target = httpx.URL(redirect).copy_merge_params({"code": code, "state": query.get("state")})
        return httpx.Response(302, headers={"location": str(target)})

    def _access_token(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        """Exchange a code (once, within 10 minutes) for a user token; errors in a 200 body."""
        body = json.loads(request.content or b"{}")
        client, secret = body.get("client_id"), body.get("client_secret")
        if not client or self.state.oauth_clients.get(client) != secret:
            return httpx.Response(200, json={"error": "incorrect_client_credentials"})
        grant = self.state.oauth_codes.pop(str(body.get("code")), None)
        fresh = grant and grant[0] == client and self.state.clock() - grant[3] < 600
        if not grant or not fresh or body.get("redirect_uri", grant[1]) != grant[1]:
            return httpx.Response(200, json={"error": "bad_verification_code"})
        token = f"ghu_fake{next(self.state.ids)}"
        self.state.user_tokens[token] = (grant[2], self.state.clock() + 28800)
        return httpx.Response(
            200, json={"access_token": token, "token_type": "bearer", "expires_in": 28800}
        )

    def _user(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        login = self._token_user(request)
        if login is None:
            return _error(403, "Resource not accessible by integration")
        return httpx.Response(200, json={"login": login, "id": abs(hash(login)) % 10**6})

    def _repo(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        """The repository with the token user's `permissions`; 404 when they cannot read it."""
        login, repo = self._token_user(request), m["repo"]
        role = self.state.collaborators.get((repo, login or ""), "none")
        public = repo not in self.state.private_repos
        if role == "none" and not public:
            return _error(404, "Not Found")
        flags = _permission_flags(role if role != "none" else "read")
        return httpx.Response(
            200, json={"full_name": repo, "private": not public, "permissions": flags}
        )

    def _token_user(self, request: httpx.Request) -> str | None:
        user = self.state.user_tokens.get(_bearer(request.headers.get("authorization", "")))
        return user[0] if user else None

    # --- check runs (GitHub's rules: see check_run_problem) ----------------------------------

    def _create_check_run(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        body = json.loads(request.content)
        problem = check_run_problem(body, creating=True)
        if problem is not None:
            return _error(422, problem)
        run_id = next(self.state.ids)
        run = {"id": run_id, "repo": m["repo"], "status": "queued", "conclusion": None}
        run.update(_check_run_fields(body, self.state.clock()))
        self.state.check_runs[run_id] = run
        return httpx.Response(201, json=run)

    def _update_check_run(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        run = self.state.check_runs.get(int(m["id"]))
        if run is None or run["repo"] != m["repo"]:
            return _error(404, "Not Found")
        body = json.loads(request.content)
        problem = check_run_problem(body, creating=False)
        if problem is not None:
            return _error(422, problem)
        before = dict(run)
        run.update(_check_run_fields(body, self.state.clock()))
        self._last_redundant = _check_view(before) == _check_view(run)
        return httpx.Response(200, json=run)

    def _get_check_run(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        run = self.state.check_runs.get(int(m["id"]))
        if run is None or run["repo"] != m["repo"]:
            return _error(404, "Not Found")
        return httpx.Response(200, json=run)

    def _list_check_runs(self, request: httpx.Request, m: re.Match[str]) -> httpx.Response:
        query = parse_qs(request.url.query.decode())
        name = query.get("check_name", [None])[0]
        runs = [
            r
            for r in reversed(self.state.check_runs_of(m["repo"], m["sha"]))
            if name is None or r["name"] == name
        ]
        return httpx.Response(200, json={"total_count": len(runs), "check_runs": runs})

    def _page(self, request: httpx.Request, items: list[Any], *, cap: int = 100) -> httpx.Response:
        query = parse_qs(request.url.query.decode())
        per_page = min(int(query.get("per_page", [str(PAGE)])[0]), cap)
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            next_url = request.url.copy_set_param("page", str(page + 1))
            headers["link"] = f'<{next_url}>; rel="next"'
        return httpx.Response(200, json=chunk, headers=headers)


_ROLE_ORDER = ("read", "triage", "write", "maintain", "admin")
_ROLE_FLAGS = {"read": "pull", "triage": "triage", "write": "push", "maintain": "maintain"}


def _permission_flags(role: str) -> dict[str, bool]:
    """The `permissions` object GitHub shows for a role (every weaker flag set too)."""
    rank = _ROLE_ORDER.index(role) if role in _ROLE_ORDER else 0
    names = [_ROLE_FLAGS.get(r, "admin") for r in _ROLE_ORDER]
    return {flag: i <= rank for i, flag in enumerate(names)}


def _bearer(auth: str) -> str:
    scheme, _, token = auth.partition(" ")
    return token if scheme.lower() in ("token", "bearer") else ""


CHECK_STATUSES = ("queued", "in_progress", "completed")
CHECK_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)


def check_run_problem(body: dict[str, Any], *, creating: bool) -> str | None:
    """Why GitHub would refuse this check run body with a 422, or None."""
    if creating and not (
        body.get("name") and re.fullmatch(r"[0-9a-f]{40}", body.get("head_sha", ""))
    ):
        return "name and a 40-hex head_sha are required"
    status, conclusion = body.get("status"), body.get("conclusion")
    if status is not None and status not in CHECK_STATUSES:
        return f"status {status!r} is not valid"
    if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
        return f"conclusion {conclusion!r} is not valid"
    if status == "completed" and conclusion is None:
        return "conclusion is required when status is completed"
    output = body.get("output")
    if output is not None and not (output.get("title") and output.get("summary")):
        return "output needs a title and a summary"
    if output is not None and len(output.get("text") or "") > 65535:
        return "output.text is too long (65535 characters at most)"
    return _actions_problem(body.get("actions"))


def _actions_problem(actions: list[dict[str, Any]] | None) -> str | None:
    if actions is None:
        return None
    if len(actions) > 3:
        return "at most 3 actions"
    for action in actions:
        if not (0 < len(action.get("label", "")) <= 20):
            return "action label must be 1-20 characters"
        if not (0 < len(action.get("description", "")) <= 40):
            return "action description must be 1-40 characters"
        if not (0 < len(action.get("identifier", "")) <= 20):
            return "action identifier must be 1-20 characters"
    return None


def _check_run_fields(body: dict[str, Any], now: float) -> dict[str, Any]:
    fields = dict(body)
    if body.get("conclusion") is not None:
        fields["status"] = "completed"  # GitHub completes a run given a conclusion
    if fields.get("status") == "completed":
        fields.setdefault("completed_at", _stamp(now))
    elif "status" in fields:
        fields["conclusion"] = None
    return fields


def _check_view(run: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("status", "conclusion", "output", "actions", "details_url", "external_id")
    return tuple(json.dumps(run.get(k), sort_keys=True) for k in keys)


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message})
