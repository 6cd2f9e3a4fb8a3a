"""Adapter: the `helm` v3 CLI (the only module that runs a subprocess).

`HelmRunner` runs one argv and returns its exit code and output; `CliHelmRunner` is the real one
(timeouts enforced, environment controlled), tests use `tests/support/fake_helm.py`. `Helm` builds
the argv of each operation, parses `history` and release JSON, and maps failures into
`core.errors`: a chart or values problem becomes `HelmFailed` (permanent, with the chart's own
error trimmed to something a user can act on), an unreachable cluster a `TemporaryError`.

No operation passes `--wait`: helm returns once the API server has accepted every object, so a
rollout never holds a reconciler worker (and the Environment's key lock) for minutes. Readiness
is judged by later reconciles from the release's own workloads (`reconciler.modes.helm`); for
that `upgrade_install` returns the revision and manifest helm printed. `--atomic` is not used
either: it implies `--wait`. A failed upgrade leaves a `failed` revision and raises `HelmFailed`
(the Environment shows it as its reason); the next reconcile upgrades again.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.errors import ConfigError, PermanentError, TemporaryError

MAX_MESSAGE = 600
PENDING_STATES = ("pending-install", "pending-upgrade", "pending-rollback")
DESCRIPTION_PREFIX = "catalyst-preview "
_TRANSIENT = (
    "kubernetes cluster unreachable",
    "connection refused",
    "i/o timeout",
    "tls handshake timeout",
    "the server is currently unable",
    "etcdserver: request timed out",
    "too many requests",
    # the deployer's RoleBinding is new and RBAC has not caught up; charts were checked before
    'is forbidden: user "system:serviceaccount:',
)
_TIMEOUT = ("timed out waiting for the condition", "context deadline exceeded")
_NOISE = re.compile(r"^(WARNING: |walk\.go:|coalesce\.go:|install\.go:|upgrade\.go:)")


@dataclass(frozen=True)
class HelmResult:
    """Exit code and output of one helm invocation."""

    returncode: int
    stdout: str
    stderr: str


class HelmRunner(Protocol):
    """Runs one helm argv (argv[0] is the binary) with a wall-clock limit."""

    def run(self, argv: Sequence[str], *, timeout: float) -> HelmResult: ...


class HelmFailed(ConfigError):
    """Helm rejected the chart, the values or the release; the message is for the user.

    A ConfigError, so the reconciler reports it as a Failed condition (a new commit or a
    redeploy retries it) instead of retrying the same chart forever.
    """

    reason = "HelmFailed"


class HelmTimeout(HelmFailed):
    """A helm operation (a hook Job, or one API call) did not finish within `--timeout`."""

    reason = "HelmTimeout"


@dataclass(frozen=True)
class Release:
    """One revision of a release as helm printed it: its number and its manifest (YAML)."""

    revision: int
    manifest: str


class CliHelmRunner:
    """The real helm binary, with a private HELM_* environment and a hard timeout."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = {**os.environ, **(env or {})}

    def run(self, argv: Sequence[str], *, timeout: float) -> HelmResult:
        """Run `argv`; a process still running after `timeout` seconds is killed."""
        try:
            done = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=timeout,
                env=self.env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TemporaryError(
                f"{_verb(argv)}: helm did not finish within {timeout:.0f}s"
            ) from None
        except OSError as exc:
            raise PermanentError(f"cannot run helm ({argv[0]}): {exc.strerror or exc}") from None
        return HelmResult(done.returncode, done.stdout, done.stderr)


_OFFLINE_VERBS = ("template", "lint", "version")


class ImpersonatingRunner:
    """A runner adding `--kube-as-user` to every helm call that reaches the cluster.

    `template` and `lint` stay offline (no cluster, so a chart's `lookup` sees nothing).
    """

    def __init__(self, runner: HelmRunner, user: str) -> None:
        self.runner = runner
        self.user = user

    def run(self, argv: Sequence[str], *, timeout: float) -> HelmResult:
        """Run `argv` as `user` (offline verbs unchanged)."""
        if len(argv) > 1 and argv[1] in _OFFLINE_VERBS:
            return self.runner.run(argv, timeout=timeout)
        return self.runner.run([*argv, "--kube-as-user", self.user], timeout=timeout)


def _verb(argv: Sequence[str]) -> str:
    return f"helm {argv[1]}" if len(argv) > 1 else "helm"


# --- messages ------------------------------------------------------------------------------------


def trim_error(stderr: str, limit: int = MAX_MESSAGE) -> str:
    """The chart's own error without helm's prefixes, debug noise and repetition, bounded."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not _NOISE.match(ln)]
    # `helm lint` puts the chart's problems on stdout as `[ERROR] ...`, its summary in `Error:`.
    errors = [ln for ln in lines if ln.startswith("[ERROR]")]
    errors = errors or [ln for ln in lines if ln.startswith(("Error:", "* "))] or lines[-3:]
    text = _joined(errors) or "helm failed"
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _joined(lines: list[str]) -> str:
    """One line of text; the "* <error>" items helm lists after "N errors occurred:" joined by ;."""
    text = ""
    for line in lines:
        sep = "; " if line.startswith("* ") and not text.endswith(":") else " "
        text = f"{text}{sep}{_strip_prefix(line)}" if text else _strip_prefix(line)
    return text


def _strip_prefix(line: str) -> str:
    # "Error: ... 2 errors occurred:" is followed by one "* <error>" line per object refused
    return line.removeprefix("Error:").removeprefix("[ERROR]").removeprefix("* ").strip()


def raise_for(result: HelmResult, what: str) -> None:
    """Map a failed invocation to core.errors (no-op on success)."""
    if result.returncode == 0:
        return
    output = "\n".join((result.stderr, result.stdout))
    message = f"{what}: {trim_error(output)}"
    lowered = (result.stderr + result.stdout).lower()
    if any(marker in lowered for marker in _TIMEOUT):
        raise HelmTimeout(message)
    if any(marker in lowered for marker in _TRANSIENT):
        raise TemporaryError(message)
    raise HelmFailed(message)


# --- argv ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartSource:
    """A local chart directory, a chart in an https repository, or an `oci://` reference."""

    chart: str
    repo: str | None = None
    version: str | None = None

    def args(self) -> list[str]:
        """The CHART argument and the flags locating it."""
        out = [self.chart]
        if self.repo:
            out += ["--repo", self.repo]
        if self.version:
            out += ["--version", self.version]
        return out


@dataclass(frozen=True)
class ReleaseSpec:
    """One `helm upgrade --install`."""

    release: str
    namespace: str
    chart: ChartSource
    values_file: Path
    timeout_seconds: int = 300
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


def upgrade_argv(helm: str, spec: ReleaseSpec) -> list[str]:
    """`helm upgrade --install` with our values only (no reuse), not waiting for readiness.

    `--timeout` still bounds what helm waits for without `--wait`: hooks and each API call.
    """
    argv = [helm, "upgrade", "--install", spec.release, *spec.chart.args()]
    argv += ["--namespace", spec.namespace, "--values", str(spec.values_file)]
    argv += ["--timeout", f"{spec.timeout_seconds}s", "--reset-values"]
    argv += ["--history-max", "5", "--output", "json"]
    if spec.description:
        argv += ["--description", spec.description]
    if spec.labels:
        argv += ["--labels", ",".join(f"{k}={v}" for k, v in sorted(spec.labels.items()))]
    return argv


def template_argv(
    helm: str, release: str, namespace: str, chart: ChartSource, values: Path
) -> list[str]:
    """`helm template` of a chart with one values file."""
    return [
        helm,
        "template",
        release,
        *chart.args(),
        "--namespace",
        namespace,
        "--values",
        str(values),
    ]


def lint_argv(helm: str, chart_dir: Path, values: Path) -> list[str]:
    """`helm lint --strict` of a chart directory with one values file."""
    return [helm, "lint", str(chart_dir), "--strict", "--values", str(values)]


# --- the client ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revision:
    """One entry of `helm history`."""

    revision: int
    status: str
    description: str
    chart: str


class Helm:
    """Helm operations on releases through a `HelmRunner`."""

    def __init__(self, runner: HelmRunner, helm_bin: str = "helm", *, timeout: float = 60) -> None:
        self.runner = runner
        self.helm_bin = helm_bin
        self.timeout = timeout

    def impersonating(self, user: str) -> Helm:
        """The same client acting on the cluster as `user` (e.g. a namespace's deployer)."""
        return Helm(ImpersonatingRunner(self.runner, user), self.helm_bin, timeout=self.timeout)

    def _run(self, argv: list[str], what: str, timeout: float | None = None) -> HelmResult:
        result = self.runner.run(argv, timeout=timeout or self.timeout)
        raise_for(result, what)
        return result

    def history(self, release: str, namespace: str) -> list[Revision]:
        """Revisions of a release, oldest first ([] when it does not exist)."""
        argv = [self.helm_bin, "history", release, "--namespace", namespace, "--output", "json"]
        result = self.runner.run(argv, timeout=self.timeout)
        if result.returncode != 0 and "release: not found" in result.stderr:
            return []
        raise_for(result, f"helm history {release}")
        return parse_history(result.stdout)

    def upgrade_install(self, spec: ReleaseSpec) -> Release:
        """Install or upgrade; returns once the objects are accepted, not once they are ready.

        The wall-clock limit is the spec's timeout (hooks) plus slack for helm itself.
        """
        result = self._run(
            upgrade_argv(self.helm_bin, spec),
            f"helm upgrade {spec.release}",
            timeout=spec.timeout_seconds + 60,
        )
        return parse_release(result.stdout)

    def manifest(self, release: str, namespace: str, revision: int) -> Release:
        """One revision's manifest (YAML stream), from `helm get manifest`."""
        argv = [self.helm_bin, "get", "manifest", release, "--namespace", namespace]
        argv += ["--revision", str(revision)]
        return Release(revision, self._run(argv, f"helm get manifest {release}").stdout)

    def rollback(self, release: str, namespace: str, revision: int) -> None:
        """Roll back to `revision` (used to repair a release left pending); no `--wait`."""
        argv = [self.helm_bin, "rollback", release, str(revision), "--namespace", namespace]
        self._run([*argv, "--timeout", "300s"], f"helm rollback {release}", 360)

    def uninstall(self, release: str, namespace: str) -> None:
        """Uninstall; a release that does not exist is already gone.

        No `--wait`: teardown deletes the namespace next and waits for it to be gone.
        """
        argv = [self.helm_bin, "uninstall", release, "--namespace", namespace]
        result = self.runner.run([*argv, "--timeout", "300s"], timeout=360)
        if result.returncode != 0 and "not found" in result.stderr:
            return
        raise_for(result, f"helm uninstall {release}")

    def template(self, release: str, namespace: str, chart: ChartSource, values: Path) -> str:
        """Rendered manifests (YAML stream)."""
        return self._run(
            template_argv(self.helm_bin, release, namespace, chart, values),
            f"helm template {release}",
        ).stdout

    def lint(self, chart_dir: Path, values: Path) -> str:
        """Lint output; raises HelmFailed with the chart's error when lint fails."""
        return self._run(lint_argv(self.helm_bin, chart_dir, values), "helm lint").stdout

    def repair_pending(self, release: str, namespace: str) -> str | None:
        """A release stuck pending after a crash: roll back to the last deployed, else uninstall."""
        revisions = self.history(release, namespace)
        if not revisions or revisions[-1].status not in PENDING_STATES:
            return None
        deployed = [r for r in revisions if r.status in ("deployed", "superseded")]
        if deployed:
            self.rollback(release, namespace, deployed[-1].revision)
            return f"rolled back to revision {deployed[-1].revision}"
        self.uninstall(release, namespace)
        return "uninstalled a release that never finished installing"


def parse_history(stdout: str) -> list[Revision]:
    """`helm history -o json` output as Revisions; HelmFailed when it is not that JSON."""
    try:
        raw: Any = json.loads(stdout or "[]")
        return sorted(
            (
                Revision(
                    int(e["revision"]),
                    str(e["status"]),
                    str(e.get("description", "")),
                    str(e.get("chart", "")),
                )
                for e in raw
            ),
            key=lambda r: r.revision,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise HelmFailed(f"unreadable helm history output: {exc}") from None


def parse_release(stdout: str) -> Release:
    """The revision and manifest of `helm upgrade --output json`; HelmFailed when unreadable."""
    try:
        raw: Any = json.loads(stdout)
        return Release(int(raw["version"]), str(raw.get("manifest") or ""))
    except (ValueError, KeyError, TypeError) as exc:
        raise HelmFailed(f"unreadable helm release output: {exc}") from None


def is_current(revisions: list[Revision], fingerprint: str) -> bool:
    """The latest revision is deployed and was made from exactly this fingerprint."""
    return (
        bool(revisions)
        and revisions[-1].status == "deployed"
        and (revisions[-1].description == DESCRIPTION_PREFIX + fingerprint)
    )


def resolve_helm_bin(configured: str, repo_root: Path | None = None) -> str:
    """An absolute helm path for a relative setting (e.g. `.tools/bin/helm` from the repo root)."""
    if os.sep not in configured or os.path.isabs(configured):
        return configured
    return str((repo_root or Path.cwd()) / configured)
