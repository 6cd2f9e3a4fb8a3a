"""A recording fake `HelmRunner`: keeps releases in memory and simulates helm's outcomes.

It understands the argv `reconciler.helm.Helm` builds (`history`, `upgrade --install`,
`get manifest`, `rollback`, `uninstall`, `template`, `lint`), records every argv, and can be
told how the next
upgrades end: success, a timeout (release left `failed`), a crash that leaves the release
`pending-upgrade`/`pending-install`, or a chart error with helm's own stderr. `template`/`lint`
run the real helm binary (`CATALYST_HELM_BIN`, else `.tools/bin/helm`) unless another runner is
given; a remote chart (`oci://`, `--repo`) is rendered from `remote_chart_dir`, since tests have
no chart repository. Every revision records who installed it (`--kube-as-user`) and the objects
of the chart it installed (a chart of static files, as `reconciler.modes.helm` writes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from reconciler.helm import CliHelmRunner, HelmResult, HelmRunner

REPO_ROOT = Path(__file__).resolve().parents[2]
HELM_BIN = os.environ.get("CATALYST_HELM_BIN") or str(REPO_ROOT / ".tools" / "bin" / "helm")

Outcome = Literal["success", "timeout", "crash", "chart-error"]
CHART_ERROR = (
    "Error: UPGRADE FAILED: execution error at (app/templates/deployment.yaml:20:20): "
    "global.images.web is required\n"
)


@dataclass
class FakeRevision:
    """One stored revision of a fake release."""

    revision: int
    status: str
    description: str
    chart: str
    values: str
    user: str | None = None
    objects: list[dict[str, object]] = field(default_factory=list)


@dataclass
class FakeHelm:
    """In-memory helm: releases keyed (namespace, name); `calls` holds every argv."""

    delegate: HelmRunner | None = None
    calls: list[list[str]] = field(default_factory=list)
    releases: dict[tuple[str, str], list[FakeRevision]] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    remote_chart_dir: Path | None = None

    def run(self, argv: Sequence[str], *, timeout: float) -> HelmResult:
        """Simulate one invocation."""
        args = list(argv)
        self.calls.append(args)
        verb = args[1]
        if verb in ("template", "lint"):
            return self._render(args, timeout)
        handler = getattr(self, "_" + verb, None)
        if handler is None:
            return HelmResult(1, "", f"Error: fake helm does not know {verb!r}\n")
        return handler(args)  # type: ignore[no-any-return]

    def _render(self, argv: list[str], timeout: float) -> HelmResult:
        """The real helm, offline; a remote chart reference is replaced by `remote_chart_dir`."""
        runner = self.delegate or CliHelmRunner()
        chart = argv[3] if argv[1] == "template" else argv[2]
        real = [HELM_BIN, *argv[1:]]
        if not Path(chart).is_dir():
            if self.remote_chart_dir is None:
                return HelmResult(1, "", f"Error: fake helm cannot fetch chart {chart!r}\n")
            real = [HELM_BIN, argv[1], argv[2], str(self.remote_chart_dir)]
            real += _without_flags(argv[4:], ("--repo", "--version"))
        return runner.run(real, timeout=timeout)

    def verbs(self) -> list[str]:
        """The helm subcommand of every call, in order."""
        return [c[1] for c in self.calls]

    def templates(self) -> list[list[str]]:
        """Every `template` argv."""
        return [c for c in self.calls if c[1] == "template"]

    def upgrades(self) -> list[list[str]]:
        """Every `upgrade` argv."""
        return [c for c in self.calls if c[1] == "upgrade"]

    @staticmethod
    def flag(argv: list[str], name: str) -> str | None:
        """The value after `name` in `argv`."""
        return argv[argv.index(name) + 1] if name in argv else None

    def _key(self, argv: list[str]) -> tuple[str, str]:
        release = argv[3] if argv[2] == "--install" else argv[2]
        return (self.flag(argv, "--namespace") or "default", release)

    def _history(self, argv: list[str]) -> HelmResult:
        revisions = self.releases.get(self._key(argv))
        if not revisions:
            return HelmResult(1, "", "Error: release: not found\n")
        out = [
            {
                "revision": r.revision,
                "status": r.status,
                "description": r.description,
                "chart": r.chart,
                "updated": "2024-01-01T00:00:00Z",
                "app_version": "1.0",
            }
            for r in revisions
        ]
        return HelmResult(0, json.dumps(out), "")

    def _upgrade(self, argv: list[str]) -> HelmResult:
        key = self._key(argv)
        revisions = self.releases.setdefault(key, [])
        if revisions and revisions[-1].status.startswith("pending-"):
            return HelmResult(
                1,
                "",
                "Error: UPGRADE FAILED: another operation "
                "(install/upgrade/rollback) is in progress\n",
            )
        outcome = self.outcomes.pop(0) if self.outcomes else "success"
        if outcome == "chart-error":
            if not revisions:
                del self.releases[key]
            return HelmResult(1, "", CHART_ERROR)
        values_file = self.flag(argv, "--values")
        values = Path(values_file).read_text() if values_file else ""
        status = {"success": "deployed", "timeout": "failed", "crash": ""}[outcome]
        if outcome == "crash":
            status = "pending-upgrade" if revisions else "pending-install"
        for old in revisions:
            if old.status == "deployed" and status == "deployed":
                old.status = "superseded"
        revisions.append(
            FakeRevision(
                len(revisions) + 1,
                status,
                self.flag(argv, "--description") or "",
                argv[4],
                values,
                self.flag(argv, "--kube-as-user"),
                _static_objects(Path(argv[4])),
            )
        )
        if outcome == "timeout":
            return HelmResult(1, "", "Error: UPGRADE FAILED: context deadline exceeded\n")
        if outcome == "crash":
            return HelmResult(-9, "", "")
        return HelmResult(0, json.dumps(_release_json(key, revisions[-1])), "")

    def _get(self, argv: list[str]) -> HelmResult:
        """`helm get manifest RELEASE [--revision N]`."""
        revisions = self.releases.get((self.flag(argv, "--namespace") or "default", argv[3]))
        wanted = self.flag(argv, "--revision")
        found = [r for r in revisions or [] if wanted is None or r.revision == int(wanted)]
        if argv[2] != "manifest" or not found:
            return HelmResult(1, "", "Error: release: not found\n")
        return HelmResult(0, _manifest(found[-1]), "")

    def _rollback(self, argv: list[str]) -> HelmResult:
        revisions = self.releases.get(self._key(argv)) or []
        target = next((r for r in revisions if r.revision == int(argv[3])), None)
        if target is None:
            return HelmResult(1, "", "Error: release has no revision\n")
        for old in revisions:
            if old.status in ("deployed", "pending-upgrade"):
                old.status = "superseded"
        revisions.append(
            FakeRevision(
                len(revisions) + 1,
                "deployed",
                f"Rollback to {target.revision}",
                target.chart,
                target.values,
            )
        )
        return HelmResult(0, "Rollback was a success!\n", "")

    def _uninstall(self, argv: list[str]) -> HelmResult:
        if self.releases.pop(self._key(argv), None) is None:
            return HelmResult(
                1, "", f"Error: uninstall: Release not loaded: {argv[2]}: release: not found\n"
            )
        return HelmResult(0, f'release "{argv[2]}" uninstalled\n', "")


def _manifest(revision: FakeRevision) -> str:
    """The revision's objects as the YAML stream helm keeps as its manifest."""
    return "".join("---\n" + yaml.safe_dump(o, sort_keys=True) for o in revision.objects)


def _release_json(key: tuple[str, str], revision: FakeRevision) -> dict[str, object]:
    """What `helm upgrade --output json` prints of the new revision (the fields we read)."""
    return {
        "name": key[1],
        "namespace": key[0],
        "version": revision.revision,
        "info": {"status": revision.status, "description": revision.description},
        "manifest": _manifest(revision),
    }


def _without_flags(args: list[str], flags: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        else:
            out.append(arg)
    return out


def _static_objects(chart_dir: Path) -> list[dict[str, object]]:
    """The objects of a chart of static files (`rendered.yaml`), [] for any other chart."""
    rendered = chart_dir / "rendered.yaml"
    if not rendered.is_file():
        return []
    return [d for d in yaml.safe_load_all(rendered.read_text()) if isinstance(d, dict)]
