"""Shell: the `catalyst-preview` command line.

Every command first reads the local stack's settings file (`cli.devenv`: written by
`scripts/dev.sh`; the environment wins). Process commands (`web`, `worker`, `reconciler`,
`beat`) check the configuration first, so a missing or malformed setting stops them with one
clear line, then replace this process with the real server (uvicorn, a Celery worker, the
reconciler runtime, Celery beat). They are started by module path, never imported here: the
process packages stay independent of each other.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeAlias

from cli import devenv
from cli.env import add_env_parser
from cli.env import run_env as run_cluster_env
from core.settings import SettingsError, exit_on_bad_settings, load_settings

Argv = list[str]
PROCESS_ENV = "CATALYST_PROCESS"
DESCRIPTION = (
    "catalyst-preview: a preview environment on Kubernetes for every pull request (GitHub App "
    "backend). Run one of its processes, or check, replay and render."
)
DEFAULT_REPLAY_URL = "http://127.0.0.1:8000/webhook"


class Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none (None, flags)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def _python(*args: str) -> Argv:
    return [sys.executable, *args]


def web_argv(ns: argparse.Namespace) -> Argv:
    """uvicorn serving the receiver's app factory."""
    return _python(
        "-m", "uvicorn", "webhook.app:make_app", "--factory",
        "--host", ns.host, "--port", str(ns.port),
        "--no-access-log", "--timeout-graceful-shutdown", "10",
    )  # fmt: skip


def dashboard_argv(ns: argparse.Namespace) -> Argv:
    """uvicorn serving the dashboard's app factory (websockets through wsproto)."""
    return _python(
        "-m", "uvicorn", "dashboard.app:make_app", "--factory",
        "--host", ns.host, "--port", str(ns.port), "--ws", "wsproto",
        "--no-access-log", "--timeout-graceful-shutdown", "5",
    )  # fmt: skip


def worker_argv(ns: argparse.Namespace) -> Argv:
    """A Celery worker consuming the GitHub-facing queue."""
    return _python(
        "-m", "celery", "-A", "workers.celery_app:app", "--quiet", "worker",
        "-Q", "github", "-c", str(ns.concurrency), "-n", f"worker-{os.getpid()}@%h",
        "--without-gossip", "--without-mingle", "-l", ns.log_level,
    )  # fmt: skip


def beat_argv(ns: argparse.Namespace) -> Argv:
    """Celery beat with its schedule file in a writable temp directory."""
    schedule = os.path.join(tempfile.gettempdir(), "catalyst-beat-schedule")
    return _python(
        "-m", "celery", "-A", "workers.celery_app:app", "--quiet", "beat",
        "-s", schedule, "-l", ns.log_level,
    )  # fmt: skip


def reconciler_argv(ns: argparse.Namespace) -> Argv:
    """The reconciler runtime (leader-elected watcher plus reconcile-queue consumer)."""
    return _python("-m", "reconciler")


def require_github(settings_process: str) -> None:
    """Stop with one line unless the shared settings and the GitHub App settings are valid."""
    try:
        load_settings().require_github_app()
    except SettingsError as exc:
        exit_on_bad_settings(exc, settings_process)


def require_dashboard(settings_process: str) -> None:
    """Stop with one line unless the shared settings and the dashboard's settings are valid."""
    try:
        load_settings().require_dashboard()
    except SettingsError as exc:
        exit_on_bad_settings(exc, settings_process)


def require_base(settings_process: str) -> None:
    """Stop with one line unless the shared settings are valid."""
    try:
        load_settings()
    except SettingsError as exc:
        exit_on_bad_settings(exc, settings_process)


PROCESSES: dict[str, tuple[Callable[[argparse.Namespace], Argv], Callable[[str], None]]] = {
    "web": (web_argv, require_base),
    "worker": (worker_argv, require_github),
    "reconciler": (reconciler_argv, require_github),
    "beat": (beat_argv, require_base),
    "dashboard": (dashboard_argv, require_dashboard),
}


Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(sub: Subparsers, name: str, purpose: str) -> argparse.ArgumentParser:
    """A subcommand whose --help starts with its one-line purpose and shows every default."""
    return sub.add_parser(name, help=purpose, description=purpose + ".", formatter_class=Formatter)


def add_process_parsers(sub: Subparsers) -> None:
    """`web`, `worker`, `reconciler`, `beat`: the four long-running processes."""
    web = add_command(sub, "web", "serve the webhook receiver (POST /webhook, /healthz, /metrics)")
    web.add_argument(
        "--host",
        default=os.environ.get("HOST", "127.0.0.1"),
        help="address to bind (env HOST; loopback unless told, the chart passes 0.0.0.0)",
    )
    web.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "8000")), help="port (env PORT)"
    )
    worker = add_command(
        sub, "worker", "run a Celery worker for the GitHub-facing flows (queue github)"
    )
    worker.add_argument("--concurrency", type=int, default=2, help="prefork worker processes")
    add_command(sub, "reconciler", "run the reconciler: leader-elected watcher and reconcile queue")
    add_command(sub, "beat", "run Celery beat: periodic resync of open PRs and environments")
    dash = add_command(sub, "dashboard", "serve the dashboard (sign-in, environments, a shell)")
    dash.add_argument(
        "--host",
        default=os.environ.get("HOST", "127.0.0.1"),
        help="address to bind (env HOST; loopback unless told, the chart passes 0.0.0.0)",
    )
    dash.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("DASHBOARD_PORT", "8080")),
        help="port (env DASHBOARD_PORT)",
    )
    for name in PROCESSES:
        sub.choices[name].add_argument(
            "--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR"
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="catalyst-preview", description=DESCRIPTION)
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="one of these (COMMAND --help)"
    )
    add_process_parsers(sub)
    add_replay_parser(sub)
    doctor = add_command(
        sub, "doctor", "check settings, Redis, Kubernetes, CRDs, RBAC and the GitHub App"
    )
    doctor.add_argument(
        "--component",
        choices=("all", "worker", "reconciler"),
        default="all",
        help="whose RBAC to check: in a worker or reconciler pod, that process's (default: all)",
    )
    add_env_parser(sub)
    render = sub.add_parser(
        "render",
        help="print the manifests the reconciler would apply for an Environment (no cluster)",
        description="Print the manifests the reconciler would apply; `catalyst-preview render "
        "--help` lists its options.",
        add_help=False,
    )
    render.add_argument("args", nargs=argparse.REMAINDER, help="arguments of render")
    return parser


def add_delivery_options(parser: argparse.ArgumentParser) -> None:
    """Where a replayed delivery goes and how it is signed."""
    parser.add_argument(
        "--url",
        default=os.environ.get("CATALYST_REPLAY_URL", DEFAULT_REPLAY_URL),
        help="the receiver (env CATALYST_REPLAY_URL, which dev.sh sets)",
    )
    parser.add_argument(
        "--secret", help="webhook secret (default: $CATALYST_WEBHOOK_SECRET, never printed)"
    )


def add_replay_parser(sub: Subparsers) -> None:
    """`replay FILE`: sign a saved payload and post it to a receiver."""
    replay = add_command(sub, "replay", "sign a saved webhook payload and post it to the receiver")
    replay.epilog = (
        'A PR comment instead: `catalyst-preview replay comment --pr 1 "/catalyst redeploy"` '
        "(see `replay comment --help`)."
    )
    replay.add_argument(
        "payload", type=Path, help="the saved JSON body (e.g. docs/local-run/*.json)"
    )
    replay.add_argument(
        "--event", help="X-GitHub-Event (default: from an <event>.<action>.json name or the body)"
    )
    add_delivery_options(replay)


def comment_parser() -> argparse.ArgumentParser:
    """`replay comment`: a person's PR comment, seeded in the fake GitHub, then delivered."""
    parser = argparse.ArgumentParser(
        prog="catalyst-preview replay comment",
        description="Post a PR comment as a person would: the fake GitHub of scripts/dev.sh "
        "stores it, then the signed issue_comment delivery GitHub would send goes to the "
        "receiver.",
        formatter_class=Formatter,
    )
    parser.add_argument("body", help='the comment text, e.g. "/catalyst redeploy"')
    parser.add_argument("--pr", type=int, default=1, help="pull request number")
    parser.add_argument("--repo", default="acme/shop", help="repository (the demo one)")
    parser.add_argument("--user", default="octocat", help="the comment's author")
    parser.add_argument("--installation", type=int, default=42, help="App installation id")
    parser.add_argument(
        "--github-url",
        default=os.environ.get("CATALYST_GITHUB_API_URL", "http://127.0.0.1:8002"),
        help="the fake GitHub (env CATALYST_GITHUB_API_URL)",
    )
    add_delivery_options(parser)
    return parser


def run_replay(ns: argparse.Namespace) -> int:
    """Post the payload and print the receiver's answer; 0 when it answered 2xx."""
    from cli import replay

    ns.secret = ns.secret or os.environ.get("CATALYST_WEBHOOK_SECRET")
    if not ns.secret:
        print("catalyst-preview replay: CATALYST_WEBHOOK_SECRET is missing (or pass --secret)")
        return 2
    try:
        if ns.command == "replay comment":
            response = replay.replay_comment(ns)
        else:
            response = replay.replay(ns.payload, url=ns.url, secret=ns.secret, event=ns.event)
    except replay.ReplayError as exc:
        print(f"catalyst-preview replay: {exc}", file=sys.stderr)
        return 1
    print(f"{response.status_code} {response.reason_phrase} {response.text[:200]}".rstrip())
    hint = replay.answer_hint(response, url=ns.url)
    if hint:
        print(f"catalyst-preview replay: {hint}", file=sys.stderr)
    return 0 if response.is_success else 1


def run_env(ns: argparse.Namespace) -> int:
    """`env` alone prints dev.sh's settings; `env list|show|logs|exec` inspect the cluster."""
    if getattr(ns, "env_command", None):
        return run_cluster_env(ns)
    return run_dev_env()


def run_dev_env() -> int:
    """Print the dev settings file as `export` lines; 1 with a hint when there is none."""
    path = devenv.settings_file(os.environ)
    if path is None:
        print(
            f"catalyst-preview env: no {devenv.FILE_NAME} found (here, in the repository or "
            f"${devenv.PATH_VARIABLE}): is scripts/dev.sh running?",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(devenv.exports(path))
    return 0


def prepare_worker_metrics() -> None:
    """Prefork children write metrics to files the parent sums: give them a clean directory."""
    if load_settings().metrics_port is not None:
        from core.clients.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(os.environ)


def run_process(ns: argparse.Namespace) -> None:
    """Validate settings for the process, then exec it (never returns)."""
    to_argv, check = PROCESSES[ns.command]
    check(ns.command)
    if ns.command == "worker":
        prepare_worker_metrics()
    # The worker and beat share one Celery app; it reads this to know which checks apply.
    os.environ[PROCESS_ENV] = ns.command
    argv = to_argv(ns)
    os.execvp(argv[0], argv)


def render_argv(ns: argparse.Namespace) -> Argv:
    """The reconciler's render command (a module of the reconciler: started, never imported)."""
    return _python("-m", "reconciler.render", *ns.args)


def run_render(ns: argparse.Namespace) -> int:
    """Replace this process with `python -m reconciler.render` (never returns)."""
    argv = render_argv(ns)
    os.execvp(argv[0], argv)


def run_doctor(ns: argparse.Namespace) -> int:
    """Check the deployment and print one line per finding."""
    from cli.doctor import COMPONENTS
    from cli.doctor import run_doctor as doctor

    chosen = COMPONENTS if ns.component == "all" else (ns.component,)
    return doctor(components=chosen)


def parse(args: list[str]) -> argparse.Namespace:
    """The command line as a namespace (`replay comment` has a parser of its own)."""
    if args[:2] == ["replay", "comment"]:
        ns = comment_parser().parse_args(args[2:])
        ns.command = "replay comment"
        return ns
    return build_parser().parse_args(args)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `catalyst-preview` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    devenv.load()  # before any default is read: the parsers' defaults come from it too
    if args[:1] == ["render"]:  # every option belongs to reconciler.render, in any order
        run_render(argparse.Namespace(args=args[1:]))
    ns = parse(args)
    if ns.command in PROCESSES:
        run_process(ns)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "replay": run_replay,
        "replay comment": run_replay,
        "doctor": run_doctor,
        "env": run_env,
        "render": run_render,
    }
    raise SystemExit(commands[ns.command](ns))
