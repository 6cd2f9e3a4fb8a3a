"""Shell: the `catalyst-preview` command line.

Process commands (`web`, `worker`, `reconciler`, `beat`) check the configuration first, so a
missing or malformed setting stops them with one clear line, then replace this process with the
real server (uvicorn, a Celery worker, the reconciler runtime, Celery beat). They are started by
module path, never imported here: the process packages stay independent of each other.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from core.settings import SettingsError, exit_on_bad_settings, load_settings

Argv = list[str]
PROCESS_ENV = "CATALYST_PROCESS"


def _python(*args: str) -> Argv:
    return [sys.executable, *args]


def web_argv(ns: argparse.Namespace) -> Argv:
    """uvicorn serving the receiver's app factory."""
    return _python(
        "-m", "uvicorn", "webhook.app:make_app", "--factory",
        "--host", ns.host, "--port", str(ns.port),
        "--no-access-log", "--timeout-graceful-shutdown", "10",
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
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="catalyst-preview", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    web = sub.add_parser("web", help="serve the webhook receiver")
    web.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    web.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    worker = sub.add_parser("worker", help="run a GitHub-flow Celery worker")
    worker.add_argument("--concurrency", type=int, default=2)
    for name, helptext in (("reconciler", "run the reconciler"), ("beat", "run Celery beat")):
        sub.add_parser(name, help=helptext)
    for sp in sub.choices.values():
        sp.add_argument("--log-level", default="INFO")
    add_replay_parser(sub)
    sub.add_parser("doctor", help="check settings, Redis, Kubernetes, CRDs, RBAC and GitHub")
    render = sub.add_parser(
        "render",
        help="print the manifests the reconciler would apply for an Environment (no cluster)",
        description="PROJECT.yaml [ENVIRONMENT.yaml | --pr N --sha SHA] [--source NAME=DIR ...] "
        "[--settings-from-env]; see `python -m reconciler.render --help`",
    )
    render.add_argument("args", nargs=argparse.REMAINDER, help="arguments of reconciler.render")
    return parser


def add_replay_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`replay FILE`: sign a saved payload and post it to a receiver."""
    replay = sub.add_parser("replay", help="sign and post a saved webhook payload")
    replay.add_argument("payload", type=Path, help="the saved JSON body")
    replay.add_argument("--url", default="http://127.0.0.1:8000/webhook")
    replay.add_argument("--event", help="X-GitHub-Event (guessed from the file when omitted)")
    replay.add_argument(
        "--secret",
        default=os.environ.get("CATALYST_WEBHOOK_SECRET"),
        help="webhook secret (default: CATALYST_WEBHOOK_SECRET)",
    )


def run_replay(ns: argparse.Namespace) -> int:
    """Post the payload and print the receiver's answer; 0 when it answered 2xx."""
    import httpx  # only this command needs an HTTP client

    from cli.replay import replay

    if not ns.secret:
        print("catalyst-preview replay: CATALYST_WEBHOOK_SECRET is missing (or pass --secret)")
        return 2
    try:
        response = replay(ns.payload, url=ns.url, secret=ns.secret, event=ns.event)
    except (OSError, ValueError, httpx.HTTPError) as exc:
        print(f"catalyst-preview replay: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"{response.status_code} {response.reason_phrase} {response.text[:200]}".rstrip())
    return 0 if response.is_success else 1


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
    from cli.doctor import run_doctor as doctor

    return doctor()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `catalyst-preview` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["render"]:  # every option belongs to reconciler.render, in any order
        run_render(argparse.Namespace(args=args[1:]))
    ns = build_parser().parse_args(args)
    if ns.command in PROCESSES:
        run_process(ns)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "replay": run_replay,
        "doctor": run_doctor,
        "render": run_render,
    }
    raise SystemExit(commands[ns.command](ns))
