"""Test support: the stateful fake GitHub (`tests.support.fake_github.FakeGitHub`) over real HTTP.

`FakeGitHubServer` serves `FakeGitHub.handle` with Starlette on uvicorn, on a loopback port
(pre-bound `IPPROTO_TCP` socket, daemon thread), as a context manager. Tests keep the state
in-process: `server.github.state` (read it under `server.lock`, or through `server.read(fn)`),
faults with `server.github.fail(...)`, and slow answers with `server.slow(method, pattern, s)`.

App JWTs (`/app/...`, `/repos/{r}/installation`) are checked against the App's public key when
one is given (the CLI always gives one), so only tokens signed by the written key are accepted.
A fault with `after_store=True` is answered 504 once the write is stored (the HTTP analogue of a
timeout after GitHub applied the change).

Control endpoints for people and tests that run the server as a separate process:
`GET /_fake/state` (what GitHub shows: pulls, deployments with statuses, comments, reactions) and
`POST /_fake/pulls/{owner}/{repo}/{number}` with JSON `{"sha": ..., "state": "open"|"closed",
"merged": bool}` (open, push to or close a PR), and `POST /_fake/comments/{owner}/{repo}/{number}`
with JSON `{"body": ..., "user": "octocat"}` (a person comments; answers the comment as GitHub
stores it, for the `issue_comment` delivery `catalyst-preview replay comment` then sends).

Command line (used by `scripts/dev.sh`, see docs/local-run.md)::

    python -m tests.support.fake_github_server --port 8002 --key-out /tmp/app-key.pem \
        [--state-dir DIR]

generates an RSA App key and writes its PEM to `--key-out` (atomically, so a reader never sees a
partial key), seeds the demo repository `acme/shop` (installation 42, open PR #1 at
`DEMO_SHA_1`, `octocat` with admin permission and signed in to the fake's OAuth pages for the
dashboard; see `seed_demo`) and serves until SIGTERM/Ctrl-C.
With `--state-dir`, `DIR/github-state.json` is rewritten after every change.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import jwt as pyjwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.fake_github import FakeGitHub, GitHubState, sha_of
from tests.support.github import generate_app_key
from tests.support.serving import ThreadedServer, wait_until_terminated

T = TypeVar("T")
BASE_URL = "http://fake-github.local"  # only the path is used by FakeGitHub.handle
DEMO_REPO = "acme/shop"
DEMO_INSTALLATION = 42
DEMO_PR = 1
DEMO_SHA_1 = sha_of("demo-1")
DEMO_SHA_2 = sha_of("demo-2")
# The App's OAuth client for the dashboard in local mode (scripts/dev.sh uses these values).
DEMO_OAUTH_CLIENT_ID = "Iv1.localdev"
DEMO_OAUTH_CLIENT_SECRET = "localdev-oauth-secret"
_JWT_PATH = re.compile(r"^/app(/|$)|/installation$")


@dataclass
class Slow:
    """Delay matching requests by `seconds`, `times` times (then answer normally)."""

    method: str
    pattern: str
    seconds: float
    times: int = 1


class FakeGitHubServer:
    """A running fake GitHub API at `url` (use as a context manager)."""

    def __init__(
        self,
        github: FakeGitHub | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        app_public_key: str | None = None,
        on_change: Callable[[GitHubState], None] | None = None,
    ) -> None:
        self.github = github or FakeGitHub(time.time, base_url=BASE_URL)
        self.lock = threading.RLock()
        self.slowdowns: list[Slow] = []
        self._public_key = app_public_key
        self._on_change = on_change
        self._http = ThreadedServer(self.build_app(), host=host, port=port, name="fake-github")

    # --- state access ---------------------------------------------------------------------

    @property
    def state(self) -> GitHubState:
        """The live state (mutate or iterate it under `lock`)."""
        return self.github.state

    def read(self, view: Callable[[GitHubState], T]) -> T:
        """Apply `view` to the state under the lock (safe while the server is answering)."""
        with self.lock:
            return view(self.github.state)

    def slow(self, method: str, pattern: str, seconds: float, *, times: int = 1) -> Slow:
        """Answer requests whose path matches `pattern` only after `seconds`."""
        rule = Slow(method, pattern, seconds, times)
        with self.lock:
            self.slowdowns.append(rule)
        return rule

    def _delay_for(self, method: str, path: str) -> float:
        with self.lock:
            for rule in self.slowdowns:
                if rule.times > 0 and rule.method == method and re.search(rule.pattern, path):
                    rule.times -= 1
                    return rule.seconds
        return 0.0

    # --- serving ------------------------------------------------------------------------------

    async def _serve_api(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        delay = self._delay_for(request.method, path)
        if delay:
            await asyncio.sleep(delay)
        denied = self._verify_app_jwt(path, request.headers.get("authorization", ""))
        if denied is not None:
            return denied
        return self._answer(request, path, body)

    def _answer(self, request: Request, path: str, body: bytes) -> Response:
        outgoing = httpx.Request(
            request.method,
            BASE_URL + path + (f"?{request.url.query}" if request.url.query else ""),
            headers=list(request.headers.items()),
            content=body,
        )
        with self.lock:
            try:
                answer = self.github.handle(outgoing)
            except httpx.TimeoutException:
                answer = httpx.Response(504, json={"message": "fake timeout after store"})
            if request.method != "GET":
                self._changed()
        headers = {k: v for k, v in answer.headers.items() if k.lower() == "link"}
        headers.update({k: v for k, v in answer.headers.items() if k.lower().startswith("x-")})
        headers.update({k: v for k, v in answer.headers.items() if k.lower() == "retry-after"})
        headers.update({k: v for k, v in answer.headers.items() if k.lower() == "location"})
        media_type = answer.headers.get("content-type")
        return Response(answer.content, answer.status_code, headers, media_type)

    def _verify_app_jwt(self, path: str, auth: str) -> Response | None:
        """With a public key, an App JWT must be signed by it (RS256); else 401 as GitHub does."""
        if self._public_key is None or not _JWT_PATH.search(path):
            return None
        try:
            pyjwt.decode(
                auth.partition(" ")[2],
                self._public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False},
            )
        except pyjwt.PyJWTError:
            return JSONResponse({"message": "A JSON web token could not be decoded"}, 401)
        return None

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.github.state)

    async def _get_state(self, request: Request) -> Response:
        return JSONResponse(self.read(state_view))

    async def _set_pull(self, request: Request) -> Response:
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"
        try:
            change = json.loads(await request.body())
            with self.lock:
                apply_pull_change(self.github.state, repo, int(request.path_params["n"]), change)
                self._changed()
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"message": f"bad pull change: {exc!r}"}, 400)
        return JSONResponse(self.read(lambda s: s.pulls[(repo, int(request.path_params["n"]))]))

    async def _add_comment(self, request: Request) -> Response:
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"
        try:
            change = json.loads(await request.body())
            body, user = str(change["body"]), str(change.get("user", "octocat"))
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"message": f"bad comment: {exc!r}"}, 400)
        with self.lock:
            state = self.github.state
            comment = state.comments[
                state.add_comment(repo, request.path_params["n"], body, author=user)
            ]
            self._changed()
        return JSONResponse(comment, 201)

    def build_app(self) -> Starlette:
        """The Starlette app: control endpoints, then everything else to the fake."""
        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        return Starlette(
            routes=[
                Route("/_fake/state", self._get_state, methods=["GET"]),
                Route("/_fake/pulls/{owner}/{repo}/{n:int}", self._set_pull, methods=["POST"]),
                Route(
                    "/_fake/comments/{owner}/{repo}/{n:int}", self._add_comment, methods=["POST"]
                ),
                Route("/{path:path}", self._serve_api, methods=methods),
            ]
        )

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeGitHubServer:
        """Serve from a daemon thread; return once it accepts requests."""
        self._http.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._http.stop()

    def __enter__(self) -> FakeGitHubServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        return self._http.port

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`: the value for CATALYST_GITHUB_API_URL."""
        return self._http.url


def apply_pull_change(state: GitHubState, repo: str, number: int, change: dict[str, Any]) -> None:
    """Open (or push to) a PR at `change["sha"]`, or close/merge it (`state`, `merged`)."""
    if change.get("sha") and (repo, number) in state.pulls:
        state.push_pull(repo, number, str(change["sha"]))
    elif change.get("sha"):
        state.open_pull(repo, number, str(change["sha"]), branch=str(change.get("branch", "demo")))
    if change.get("state") == "closed":
        state.close_pull(repo, number, merged=bool(change.get("merged", False)))
    elif change.get("state") == "open":
        state.reopen_pull(repo, number)


def state_view(state: GitHubState) -> dict[str, Any]:
    """What GitHub shows, as JSON: pulls, deployments (with status history), comments."""
    return {
        "pulls": [{"repo": r, **p} for (r, _), p in state.pulls.items()],
        "deployments": [
            {**d, "statuses": state.statuses.get(i, [])} for i, d in state.deployments.items()
        ],
        "comments": list(state.comments.values()),
        "reactions": state.reactions,
        "environments_deleted": [list(e) for e in state.environments_deleted],
    }


def seed_demo(state: GitHubState) -> None:
    """The demo repository of docs/local-run.md: installed, one open PR, an admin collaborator."""
    state.repo_installation[DEMO_REPO] = DEMO_INSTALLATION
    state.open_pull(DEMO_REPO, DEMO_PR, DEMO_SHA_1, branch="feature/demo")
    state.branches[(DEMO_REPO, "main")] = sha_of("demo-main")
    state.collaborators[(DEMO_REPO, "octocat")] = "admin"
    state.oauth_clients[DEMO_OAUTH_CLIENT_ID] = DEMO_OAUTH_CLIENT_SECRET
    state.oauth_user = "octocat"  # the dashboard's "Sign in with GitHub" signs in as octocat


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader sees all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def state_writer(state_dir: Path) -> Callable[[GitHubState], None]:
    """Rewrite `state_dir/github-state.json` on each change."""
    target = state_dir / "github-state.json"
    return lambda state: write_atomically(target, json.dumps(state_view(state), indent=2))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.fake_github_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002, help="0 picks a free port")
    parser.add_argument("--key-out", type=Path, required=True, help="where to write the App key")
    parser.add_argument("--state-dir", type=Path, help="write github-state.json here on changes")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the seeded demo fake until SIGTERM or Ctrl-C."""
    args = parse_args(argv)
    private, public = generate_app_key()
    on_change = state_writer(args.state_dir) if args.state_dir else None
    server = FakeGitHubServer(
        host=args.host, port=args.port, app_public_key=public, on_change=on_change
    )
    seed_demo(server.state)
    with server:
        if on_change is not None:
            on_change(server.state)
        write_atomically(args.key_out, private)
        print(f"fake GitHub serving {server.url}; App key: {args.key_out}", flush=True)
        wait_until_terminated()
    return 0


if __name__ == "__main__":
    sys.exit(main())
