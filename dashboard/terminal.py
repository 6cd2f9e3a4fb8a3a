"""The terminal: a browser websocket bridged to a pod's exec stream.

Opening a shell is state-changing, so the websocket must come from the dashboard's own origin
and carry the session's CSRF token; the user needs write permission (maintain on a fork
preview). Messages from the browser are JSON: `{"type": "input", "data": ...}` or
`{"type": "resize", "cols": C, "rows": R}`; the pod's output goes back as text frames. A
session with no input for the idle timeout is closed. Each session ends with one audit line:
user, pod, start and duration.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from core import envview
from core.access import can_view, shell_refusal
from core.clients.workloads import ExecSession
from core.errors import CatalystError
from dashboard.deps import Deps, deps_of
from dashboard.sessions import Session, csrf_ok

log = logging.getLogger("catalyst.dashboard.terminal")
SHELL = ["/bin/sh", "-c", "command -v bash >/dev/null && exec bash || exec sh"]
POLICY_VIOLATION = 1008


async def terminal_socket(ws: WebSocket) -> None:
    """Accept, check who may, then relay until either side ends or the user goes idle."""
    await ws.accept()
    deps = deps_of(ws)
    checked = await _authorise(ws, deps)
    if isinstance(checked, str):
        await _refuse(ws, checked)
        return
    session, namespace = checked
    pod, container = ws.query_params.get("pod", ""), ws.query_params.get("container") or None
    try:
        shell = await run_in_threadpool(
            deps.workloads.exec, namespace, pod, container=container, command=SHELL, tty=True
        )
    except CatalystError as exc:
        await _refuse(ws, f"Could not open a shell: {exc}")
        return
    await _audited(ws, shell, deps, user=session.login, pod=f"{namespace}/{pod}")


async def _authorise(ws: WebSocket, deps: Deps) -> tuple[Session, str] | str:
    """(session, pod namespace), or why the shell is refused."""
    session = deps.sessions.session(ws)
    if session is None:
        return "Not signed in."
    if ws.headers.get("origin") != _origin(deps.public_url):
        return "This shell was not opened from the dashboard."
    if not csrf_ok(session, ws.query_params.get("csrf")):
        return "The security token is missing or wrong. Reload the page and try again."
    ns, name = ws.path_params["namespace"], ws.path_params["name"]
    env = await run_in_threadpool(deps.workloads.environment, ns, name)
    if env is None or env.spec.github is None or not env.status or not env.status.namespace:
        return f"Environment {ns}/{name} is gone."
    role = await deps.permissions.role(session, env.spec.github.repository)
    row = envview.environment_row(env)
    if not can_view(role):
        return f"Environment {ns}/{name} is gone."
    return shell_refusal(role, fork=row.fork) or (session, env.status.namespace)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


async def _refuse(ws: WebSocket, why: str) -> None:
    await ws.send_text(json.dumps({"type": "error", "message": why}))
    await ws.close(code=POLICY_VIOLATION, reason=why[:120])


async def _audited(ws: WebSocket, shell: ExecSession, deps: Deps, *, user: str, pod: str) -> None:
    started, clock = datetime.now(UTC), time.monotonic()
    try:
        await relay(ws, shell, idle_seconds=deps.terminal_idle_seconds)
    finally:
        await run_in_threadpool(shell.close)
        log.info(
            "terminal session user=%s pod=%s start=%s duration=%.1fs",
            user,
            pod,
            started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            time.monotonic() - clock,
            extra={"user": user, "pod": pod, "start": started.isoformat()},
        )


async def relay(ws: WebSocket, shell: ExecSession, *, idle_seconds: float) -> None:
    """Pod output to the browser and browser input to the pod, until one side ends."""
    stop = threading.Event()
    output = asyncio.create_task(_pod_to_browser(ws, shell, stop))
    try:
        await _browser_to_pod(ws, shell, idle_seconds, output)
    finally:
        stop.set()
        output.cancel()


async def _pod_to_browser(ws: WebSocket, shell: ExecSession, stop: threading.Event) -> None:
    while not stop.is_set():
        got = await run_in_threadpool(shell.read, 0.2)
        text = got.stdout + got.stderr
        if text:
            await ws.send_text(text)
        if not got.open:
            await ws.send_text(json.dumps({"type": "exit", "code": shell.exit_code}))
            await ws.close()
            return


async def _browser_to_pod(
    ws: WebSocket, shell: ExecSession, idle_seconds: float, output: asyncio.Task[None]
) -> None:
    while not output.done():
        receive = asyncio.create_task(ws.receive_text())
        done, _ = await asyncio.wait(
            {receive, output}, timeout=idle_seconds, return_when="FIRST_COMPLETED"
        )
        if not done:
            receive.cancel()
            await _close_idle(ws, idle_seconds)
            return
        if receive not in done:
            receive.cancel()
            return
        try:
            await run_in_threadpool(_apply, shell, receive.result())
        except WebSocketDisconnect:
            return


def _apply(shell: ExecSession, message: str) -> None:
    try:
        data: Any = json.loads(message)
    except ValueError:
        return
    if not isinstance(data, dict):
        return
    if data.get("type") == "input" and isinstance(data.get("data"), str):
        shell.write(data["data"])
    elif data.get("type") == "resize":
        cols, rows = data.get("cols"), data.get("rows")
        if isinstance(cols, int) and isinstance(rows, int) and 0 < cols < 1000 and 0 < rows < 1000:
            shell.resize(cols=cols, rows=rows)


async def _close_idle(ws: WebSocket, idle_seconds: float) -> None:
    note = f"\r\n[closed: no input for {int(idle_seconds)} seconds]\r\n"
    await ws.send_text(note)
    await ws.close()
