"""The dashboard's pages: environments, one environment, its terminal page, and live streams.

Every page needs a session; every Environment shown is one whose repository the user can read
(an Environment they cannot read looks exactly like a missing one). A missing Environment or
namespace gets the FR-ENV-001 page (what is gone, likely causes, a retry), never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from core import envview
from core.access import Role, can_view, shell_refusal
from core.model import Environment
from dashboard.auth import login_redirect
from dashboard.deps import Deps, deps_of, render
from dashboard.sessions import Session
from dashboard.streams import event_stream

LOG_TAIL_LINES = 200
BUILD_TAIL_LINES = 20
PHASES = ("Pending", "Building", "Deploying", "Ready", "Failed", "Deleting")


def signed_in(request: Request) -> Session | Response:
    """The session, or a redirect to sign in (coming back here)."""
    session = deps_of(request).sessions.session(request)
    return session if session is not None else login_redirect(request)


async def home(request: Request) -> Response:
    """The environments list, or the sign-in page when nobody is signed in."""
    session = deps_of(request).sessions.session(request)
    if session is None:
        return render(request, "signin.html", session=None)
    rows = await visible_rows(request, session)
    return render(request, "environments.html", session=session, **_list_context(request, rows))


async def rows_fragment(request: Request) -> Response:
    """Just the table body (the list page swaps it in when the watch reports a change)."""
    session = signed_in(request)
    if isinstance(session, Response):
        return session
    rows = await visible_rows(request, session)
    return render(request, "_rows.html", session=session, **_list_context(request, rows))


async def visible_rows(request: Request, session: Session) -> list[envview.EnvironmentRow]:
    """Rows of every Environment on a repository the user can read."""
    deps = deps_of(request)
    envs = await run_in_threadpool(deps.workloads.all_environments)
    rows = [envview.environment_row(e) for e in envs]
    roles = await deps.permissions.roles(session, [r.repository for r in rows if r.repository])
    readable = [r for r in rows if r.repository and can_view(roles[r.repository])]
    return sorted(readable, key=lambda r: (r.project, r.namespace, r.name))


def _list_context(request: Request, rows: list[envview.EnvironmentRow]) -> dict[str, Any]:
    project = request.query_params.get("project") or None
    phase = request.query_params.get("phase") or None
    now = envview.utcnow()
    shown = envview.filter_rows(rows, project=project, phase=phase)
    web = deps_of(request).oauth.web_url
    return {
        "rows": [(r, envview.pr_link(web, r), envview.age(r.created, now)) for r in shown],
        "projects": sorted({r.project for r in rows}),
        "phases": PHASES,
        "project": project or "",
        "phase": phase or "",
    }


async def environments_events(request: Request) -> Response:
    """SSE: one `changed` event per Environment watch event."""
    session = signed_in(request)
    if isinstance(session, Response):
        return session
    return event_stream(deps_of(request).workloads.watch_environments, event="changed")


# --- one environment -------------------------------------------------------------------------


@dataclass
class Loaded:
    """An Environment the user may read, with their role on its repository."""

    env: Environment
    role: Role
    namespace: str


async def signed_in_and_loaded(request: Request) -> tuple[Session, Loaded] | Response:
    """The session and the URL's Environment, or the response that replaces the page."""
    session = signed_in(request)
    if isinstance(session, Response):
        return session
    loaded = await load(request, session)
    return loaded if isinstance(loaded, Response) else (session, loaded)


async def load(request: Request, session: Session) -> Loaded | Response:
    """The Environment of the URL for this user, or the page saying it is gone."""
    deps = deps_of(request)
    ns, name = request.path_params["namespace"], request.path_params["name"]
    env = await run_in_threadpool(deps.workloads.environment, ns, name)
    role = await _role(deps, session, env)
    if env is None or not can_view(role):
        return gone(request, session, envview.environment_gone(ns, name))
    target = env.status.namespace if env.status else None
    if not target or not await run_in_threadpool(deps.workloads.namespace_exists, target):
        return gone(request, session, envview.namespace_gone(target or f"{ns}/{name} (none yet)"))
    return Loaded(env, role, target)


async def _role(deps: Deps, session: Session, env: Environment | None) -> Role:
    if env is None or env.spec.github is None:
        return Role.NONE
    return await deps.permissions.role(session, env.spec.github.repository)


def gone(request: Request, session: Session, what: envview.Gone) -> Response:
    """FR-ENV-001: what is missing, the likely causes, and a retry."""
    return render(request, "gone.html", session=session, status_code=404, gone=what)


async def environment(request: Request) -> Response:
    """Conditions, builds, pods, events, metrics and the live log of one Environment."""
    found = await signed_in_and_loaded(request)
    if isinstance(found, Response):
        return found
    session, loaded = found
    details = await run_in_threadpool(read_details, deps_of(request), loaded.namespace)
    row = envview.environment_row(loaded.env)
    context = {
        "env": loaded.env,
        "row": row,
        "pr": envview.pr_link(deps_of(request).oauth.web_url, row),
        "age": envview.age(row.created, envview.utcnow()),
        "namespace": loaded.namespace,
        "shell_refusal": shell_refusal(loaded.role, fork=row.fork),
        **details,
    }
    return render(request, "environment.html", session=session, **context)


def read_details(deps: Deps, namespace: str) -> dict[str, Any]:
    """Pods, events, metrics and build log tails of the environment's namespace (blocking)."""
    raw_pods = deps.workloads.pods(namespace)
    pods = [envview.pod_row(p) for p in raw_pods]
    metrics = deps.workloads.pod_metrics(namespace)
    return {
        "pods": pods,
        "events": envview.event_rows(deps.workloads.events(namespace)),
        "usage": None if metrics is None else [envview.pod_usage(m) for m in metrics],
        "build_logs": _build_logs(deps, namespace, raw_pods),
    }


def _build_logs(deps: Deps, namespace: str, pods: list[dict[str, Any]]) -> dict[str, str]:
    """The last lines of each build Job's pod (the CR keeps a tail only of failed builds)."""
    tails = {}
    for pod in pods:
        job = ((pod.get("metadata") or {}).get("labels") or {}).get("job-name")
        if job:
            name = pod["metadata"]["name"]
            tails[job] = deps.workloads.log_tail(
                namespace, name, container=None, lines=BUILD_TAIL_LINES
            )
    return tails


async def log_stream(request: Request) -> Response:
    """SSE: a container's log, the last lines then (with follow=1) each new line."""
    found = await signed_in_and_loaded(request)
    if isinstance(found, Response):
        return found
    loaded = found[1]
    pod = request.query_params.get("pod", "")
    container = request.query_params.get("container") or None
    workloads, follow = deps_of(request).workloads, request.query_params.get("follow") == "1"

    def produce(stop: Any) -> Any:
        if follow:
            return workloads.follow_log(
                loaded.namespace, pod, container=container, lines=LOG_TAIL_LINES, stop=stop
            )
        text = workloads.log_tail(loaded.namespace, pod, container=container, lines=LOG_TAIL_LINES)
        return iter(text.splitlines())

    return event_stream(produce, event="line")


async def terminal_page(request: Request) -> Response:
    """The xterm.js page for one container (refused with the reason for too weak a role)."""
    found = await signed_in_and_loaded(request)
    if isinstance(found, Response):
        return found
    session, loaded = found
    refusal = shell_refusal(loaded.role, fork=envview.environment_row(loaded.env).fork)
    if refusal is not None:
        return render(request, "forbidden.html", session=session, status_code=403, why=refusal)
    context: dict[str, Any] = {
        "row": envview.environment_row(loaded.env),
        "pod": request.query_params.get("pod", ""),
        "container": request.query_params.get("container", ""),
    }
    return render(request, "terminal.html", session=session, **context)
