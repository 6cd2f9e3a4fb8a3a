"""``pods/exec`` over a websocket, speaking the Kubernetes channel protocol (v5/v4.channel.k8s.io).

Each binary frame starts with its channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (a v1
``Status`` when the process ends), 4 resize (``{"Width": W, "Height": H}``), 255 close (v5).
Behind it runs a tiny shell: ``echo ARGS``, ``hostname`` (the pod's name), ``env`` (the
container's name as ``CONTAINER=``), ``exit [N]``; anything else is "not found" (exit 127).
``sh``/``bash`` commands (with or without ``-c ...``) start it interactively; any other command
runs once. With a tty, typed characters are echoed and lines end in CRLF, as a pty would.
Every session is recorded in ``Api.exec_log`` (command, container, tty, resizes, lines run).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from .errors import ApiError

if TYPE_CHECKING:
    from .api import Api

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
SHELLS = {"sh", "/bin/sh", "bash", "/bin/bash"}


@dataclass
class ExecRecord:
    """One exec session as the fake saw it."""

    namespace: str
    pod: str
    container: str | None
    command: list[str]
    tty: bool
    resizes: list[tuple[int, int]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    exit_code: int | None = None


class FakeShell:
    """Runs lines; ``exit`` sets ``exit_code``."""

    def __init__(self, pod: str, container: str | None) -> None:
        self.pod, self.container = pod, container
        self.exit_code: int | None = None

    def run(self, line: str) -> tuple[str, int]:
        """(output, status) of one command line."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return f"sh: syntax error: {exc}\n", 2
        if not words:
            return "", 0
        name, args = words[0], words[1:]
        if name == "exit":
            self.exit_code = int(args[0]) if args and args[0].isdigit() else 0
            return "", self.exit_code
        if name == "echo":
            return " ".join(args) + "\n", 0
        if name == "hostname":
            return self.pod + "\n", 0
        if name == "env":
            return f"HOSTNAME={self.pod}\nCONTAINER={self.container or ''}\n", 0
        return f"sh: {name}: not found\n", 127


async def serve_exec(ws: WebSocket, api: Api) -> None:
    """Accept an exec websocket for an existing pod and run the command behind it."""
    namespace, pod = ws.path_params["namespace"], ws.path_params["name"]
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",")]
    protocol = next((p for p in PROTOCOLS if p in offered), None)
    pods = api.registry.lookup("", "v1", "pods")
    try:
        assert pods is not None
        api.store.get(pods, namespace, pod)
    except ApiError:
        await ws.close(code=1008)  # answered 403 before the upgrade: the client sees a bad status
        return
    await ws.accept(subprotocol=protocol)
    query = ws.query_params
    record = ExecRecord(
        namespace,
        pod,
        query.get("container"),
        query.getlist("command"),
        query.get("tty") == "true",
    )
    api.exec_log.append(record)
    await _session(ws, record, FakeShell(pod, record.container))


async def _session(ws: WebSocket, record: ExecRecord, shell: FakeShell) -> None:
    interactive = bool(record.command) and record.command[0] in SHELLS
    if not interactive:
        out, code = shell.run(shlex.join(record.command))
        record.lines.append(shlex.join(record.command))
        await _send(ws, STDOUT, _tty(out, record.tty))
        await _finish(ws, record, code)
        return
    await _send(ws, STDOUT, "$ ")
    await _interact(ws, record, shell)


async def _interact(ws: WebSocket, record: ExecRecord, shell: FakeShell) -> None:
    pending = ""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        channel, data = _frame(message)
        if channel == RESIZE:
            size = json.loads(data)
            record.resizes.append((int(size["Width"]), int(size["Height"])))
            continue
        if channel == CLOSE:
            await _finish(ws, record, 0)
            return
        if channel != STDIN:
            continue
        pending += data
        if record.tty:
            await _send(ws, STDOUT, data.replace("\r", "\r\n"))
        while "\r" in pending or "\n" in pending:
            line, pending = _split_line(pending)
            record.lines.append(line)
            out, _ = shell.run(line)
            if shell.exit_code is not None:
                await _finish(ws, record, shell.exit_code)
                return
            await _send(ws, STDOUT, _tty(out, record.tty) + "$ ")


def _frame(message: MutableMapping[str, Any]) -> tuple[int, str]:
    # Clients send binary frames, or (the Python client) text frames: chr(channel) + data.
    if message.get("bytes") is not None:
        raw: bytes = message["bytes"]
        return (raw[0], raw[1:].decode("utf-8", "replace")) if raw else (-1, "")
    text: str = message.get("text") or ""
    return (ord(text[0]), text[1:]) if text else (-1, "")


def _split_line(text: str) -> tuple[str, str]:
    cut = min(i for i in (text.find("\r"), text.find("\n")) if i >= 0)
    rest = text[cut + 1 :]
    return text[:cut], rest[1:] if text[cut] == "\r" and rest.startswith("\n") else rest


def _tty(text: str, tty: bool) -> str:
    return text.replace("\n", "\r\n") if tty else text


async def _send(ws: WebSocket, channel: int, text: str) -> None:
    if text:
        await ws.send_bytes(bytes([channel]) + text.encode())


async def _finish(ws: WebSocket, record: ExecRecord, code: int) -> None:
    record.exit_code = code
    await ws.send_bytes(bytes([ERROR]) + json.dumps(_status(code)).encode())
    await ws.close()


def _status(code: int) -> dict[str, Any]:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    cause = {"reason": "ExitCode", "message": str(code)}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [cause]},
    }
