"""`catalyst-preview env`: environments from a terminal, for platform teams with a kubeconfig.

`env list`, `env show NS/NAME`, `env logs NS/NAME [--follow] [--service S]` and
`env exec NS/NAME [--service S] [-- CMD ...]`, on the same read/exec layer as the dashboard
(core.clients.workloads, core.envview). Access is the kubeconfig's (KUBECONFIG, else
in-cluster); every failure is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from core import envview
from core.errors import CatalystError

if TYPE_CHECKING:  # the kubernetes client loads only when an env command runs
    from core.clients.workloads import ExecSession, Workloads
    from core.model import Environment

HELP = "list environments, show one, follow its logs or run a command in it"
Handler = Callable[[argparse.Namespace, "Workloads", TextIO], int]


class EnvCommandError(Exception):
    """A user-facing failure: printed as one line, exit code 1 (2 for usage)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_env_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `env` subcommand and its four actions."""
    env = sub.add_parser("env", help=HELP, description=HELP)
    # Without an action, `env` prints the local stack's settings (cli.main.run_dev_env).
    actions = env.add_subparsers(dest="env_command", required=False, metavar="ACTION")
    listing = actions.add_parser("list", help="every Environment: project, PR, phase, URL, age")
    listing.add_argument("--project", help="only this project")
    listing.add_argument("--phase", help="only this phase (Pending, Building, Ready, Failed, ...)")
    show = actions.add_parser("show", help="conditions, builds, pods, events and metrics")
    logs = actions.add_parser("logs", help="a container's log (the preview's first by default)")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    logs.add_argument("--tail", type=int, default=100, help="lines of history (default 100)")
    run = actions.add_parser("exec", help="run CMD (default: an interactive shell) in a pod")
    for action in (show, logs, run):
        action.add_argument("environment", metavar="NS/NAME", help="namespace/name of the CR")
    for action in (logs, run):
        action.add_argument("--service", "-s", help="container (or app label) to use")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")


def run_env(ns: argparse.Namespace, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one `env` action; print a one-line error and return its code on failure."""
    handlers: dict[str, Handler] = {
        "list": env_list,
        "show": env_show,
        "logs": env_logs,
        "exec": env_exec,
    }
    try:
        if getattr(ns, "environment", None):
            split_key(ns.environment)  # a usage error needs no cluster
        return handlers[ns.env_command](ns, connect(), out)
    except EnvCommandError as exc:
        print(f"catalyst-preview env {ns.env_command}: {exc}", file=err)
        return exc.code
    except CatalystError as exc:
        print(f"catalyst-preview env {ns.env_command}: {exc}", file=err)
        return 1


def connect() -> Workloads:
    """The read/exec layer on the kubeconfig (or the in-cluster account)."""
    from kubernetes.config import ConfigException

    from core.clients.kube import new_api_client
    from core.clients.workloads import Workloads

    try:
        return Workloads(new_api_client())
    except (ConfigException, OSError) as exc:
        where = os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise EnvCommandError(f"no cluster access: {exc} (KUBECONFIG={where})") from None


def split_key(key: str) -> tuple[str, str]:
    """NS/NAME into its parts (usage error otherwise)."""
    namespace, _, name = key.partition("/")
    if not namespace or not name or "/" in name:
        raise EnvCommandError(f"{key!r}: expected NAMESPACE/NAME, e.g. acme-shop/pr-12", 2)
    return namespace, name


def require_environment(workloads: Workloads, key: str) -> Environment:
    """The Environment, or a clear error with the likely causes."""
    namespace, name = split_key(key)
    env = workloads.environment(namespace, name)
    if env is None:
        causes = "deleted, torn down when its PR closed, TTL expired, or not reconciled yet"
        raise EnvCommandError(f"Environment {key} not found (likely {causes})")
    return env


def workload_namespace(workloads: Workloads, env: Environment) -> str:
    """The namespace the Environment's workloads run in (error when it is gone)."""
    target = env.status.namespace if env.status else None
    if not target or not workloads.namespace_exists(target):
        shown = target or "(none reported yet)"
        raise EnvCommandError(f"the namespace of {env.metadata.name}, {shown}, does not exist")
    return target


# --- list and show -------------------------------------------------------------------------------


def env_list(ns: argparse.Namespace, workloads: Workloads, out: TextIO) -> int:
    """One row per Environment."""
    rows = [envview.environment_row(e) for e in workloads.all_environments()]
    rows = envview.filter_rows(rows, project=ns.project, phase=ns.phase)
    now = envview.utcnow()
    table = [("ENVIRONMENT", "PROJECT", "PR", "PHASE", "URL", "COMMIT", "AGE")]
    for r in sorted(rows, key=lambda r: r.key):
        pr = f"{r.repository}#{r.pr_number}" if r.pr_number else (r.repository or "-")
        table.append(
            (r.key, r.project, pr, r.phase, r.url or "-", r.commit, envview.age(r.created, now))
        )
    print_table(table, out)
    return 0


def print_table(rows: Sequence[tuple[str, ...]], out: TextIO) -> None:
    """Left-aligned columns, like kubectl."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out
        )


def env_show(ns: argparse.Namespace, workloads: Workloads, out: TextIO) -> int:
    """Facts, conditions, builds, pods, metrics and recent events of one Environment."""
    env = require_environment(workloads, ns.environment)
    row = envview.environment_row(env)
    target = workload_namespace(workloads, env)
    print(f"{row.key}  {row.phase}  project {row.project}  commit {row.commit}", file=out)
    print(f"url: {row.url or '-'}   namespace: {target}", file=out)
    conditions = (env.status.conditions if env.status else None) or []
    print_table(
        [("CONDITION", "STATUS", "REASON", "MESSAGE")]
        + [(c.type, c.status, c.reason, c.message) for c in conditions],
        out,
    )
    for build in (env.status.builds if env.status else None) or []:
        print(f"build {build.name}: {build.state} (job {build.job})", file=out)
    pods = [envview.pod_row(p) for p in workloads.pods(target)]
    print_table(
        [("POD", "PHASE", "READY", "RESTARTS", "LAST STATE")]
        + [(p.name, p.phase, p.ready, str(p.restarts), p.last_state) for p in pods],
        out,
    )
    print(_metrics_line(workloads.pod_metrics(target)), file=out)
    for e in envview.event_rows(workloads.events(target), limit=10):
        print(f"{e.when or '-'}  {e.type:<7}  {e.reason}  {e.object}: {e.message}", file=out)
    return 0


def _metrics_line(items: list[dict[str, Any]] | None) -> str:
    if items is None:
        return "metrics: not available (this cluster does not serve metrics.k8s.io)"
    usage = [envview.pod_usage(i) for i in items]
    return "metrics: " + ", ".join(f"{u.pod} {u.cpu_millicores}m {u.memory_mib}Mi" for u in usage)


# --- logs and exec -------------------------------------------------------------------------------


def _target(workloads: Workloads, ns: argparse.Namespace) -> tuple[str, str, str]:
    env = require_environment(workloads, ns.environment)
    target = workload_namespace(workloads, env)
    picked = envview.pick_container(workloads.pods(target), ns.service)
    if picked is None:
        what = f"a container or app named {ns.service!r}" if ns.service else "no running pod"
        raise EnvCommandError(f"{ns.environment}: {what} in namespace {target}")
    return target, *picked


def env_logs(ns: argparse.Namespace, workloads: Workloads, out: TextIO) -> int:
    """Print the log tail; with --follow keep printing until the container ends or Ctrl-C."""
    namespace, pod, container = _target(workloads, ns)
    if not ns.follow:
        out.write(workloads.log_tail(namespace, pod, container=container, lines=ns.tail))
        return 0
    stop = threading.Event()
    try:
        for line in workloads.follow_log(
            namespace, pod, container=container, lines=ns.tail, stop=stop
        ):
            print(line, file=out, flush=True)
    except KeyboardInterrupt:
        stop.set()
    return 0


def env_exec(ns: argparse.Namespace, workloads: Workloads, out: TextIO) -> int:
    """Run the command (or a shell) in the preview's container; its exit code is ours."""
    namespace, pod, container = _target(workloads, ns)
    command = ns.cmd[1:] if ns.cmd[:1] == ["--"] else ns.cmd
    interactive = not command
    tty = interactive and sys.stdin.isatty()
    shell = workloads.exec(
        namespace, pod, container=container, command=command or ["/bin/sh"], tty=tty
    )
    try:
        if tty:
            return _interactive(shell, out)
        return _relay(shell, out, stdin=sys.stdin if interactive else None)
    finally:
        shell.close()


def _relay(shell: ExecSession, out: TextIO, *, stdin: TextIO | None) -> int:
    if stdin is not None:
        shell.write(stdin.read())
    while True:
        got = shell.read(1.0)
        out.write(got.stdout)
        sys.stderr.write(got.stderr)
        out.flush()
        if not got.open:
            return shell.exit_code or 0


def _interactive(shell: ExecSession, out: TextIO) -> int:
    """A raw terminal relayed to the pod (resized with the local window)."""
    import select
    import signal
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)

    def resize(*_: object) -> None:
        size = os.get_terminal_size(fd)
        shell.resize(cols=size.columns, rows=size.lines)

    signal.signal(signal.SIGWINCH, resize)
    tty.setraw(fd)
    try:
        resize()
        while True:
            got = shell.read(0.05)
            out.write(got.stdout + got.stderr)
            out.flush()
            if not got.open:
                return shell.exit_code or 0
            if select.select([fd], [], [], 0.05)[0]:
                shell.write(os.read(fd, 1024).decode("utf-8", "replace"))
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
