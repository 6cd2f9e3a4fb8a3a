"""Docs that run: every shell block of README.md and docs/*.md runs against a dev.sh stack.

A block is skipped only when the line before it is an HTML comment starting `<!-- illustrative`
(saying why); the block marked `<!-- docs-test: starts the stack -->` is the exact command the
fixture runs. The others run in document order, README first, each in its own `bash -euo
pipefail` from the repository root, as a person would paste them into a second terminal; the
stack's settings reach them only through the settings file dev.sh writes (CATALYST_DEV_ENV
points at this test's copy). Afterwards the walkthrough's promises are checked on the fake
GitHub's state, doctor must find no problem, and a process that dies must be named by dev.sh.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_dev_script import ROOT, SIGNATURES, descendants, dev_env, kill_session

FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.S | re.M)
SHELLS = {"bash", "sh", "shell", "console"}
ILLUSTRATIVE = "<!-- illustrative"
STARTS_STACK = "<!-- docs-test: starts the stack -->"
DEADLINE = 600.0  # generous: the machine is shared
pytestmark = pytest.mark.timeout(1800)  # dev.sh and the whole walkthrough, on a busy machine


@dataclass(frozen=True)
class Block:
    """One fenced shell block of a document."""

    path: Path
    line: int
    marker: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shell_blocks(path: Path) -> list[Block]:
    """The shell blocks of `path`, each with the HTML comment on the line before it ('' if none)."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        if match[2] not in SHELLS:
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        code = "\n".join(line.removeprefix(match[1]) for line in match[3].splitlines())
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(path, line, before if before.startswith("<!--") else "", code))
    return found


def all_blocks() -> list[Block]:
    return [block for path in documents() for block in shell_blocks(path)]


def runnable() -> list[Block]:
    return [b for b in all_blocks() if not b.marker.startswith((ILLUSTRATIVE, STARTS_STACK))]


def test_every_shell_block_runs_or_says_why_not() -> None:
    blocks = all_blocks()
    assert len(runnable()) >= 4
    assert [b.marker for b in blocks].count(STARTS_STACK) == 1
    for block in blocks:
        if block.marker.startswith(ILLUSTRATIVE):
            assert block.marker.removeprefix(ILLUSTRATIVE).strip(" :-"), f"{block.where}: say why"


@dataclass
class Stack:
    """dev.sh as the docs start it, with its run directory and settings file."""

    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    run_dir: Path
    out: Path

    def shell_env(self) -> dict[str, str]:
        """A second terminal: the caller's environment, the stack known only through its file."""
        keep = ("HOME", "LANG", "TMPDIR", "USER")
        base = {k: self.env[k] for k in keep if k in self.env}
        path = f"{ROOT / '.venv' / 'bin'}:{self.env.get('PATH', '/usr/bin:/bin')}"  # venv active
        return {**base, "PATH": path, "CATALYST_DEV_ENV": self.env["CATALYST_DEV_ENV"]}

    def pid_of(self, name: str) -> int:
        """The pid dev.sh printed for process `name`."""
        found = re.search(rf"^dev:   pid (\d+)  {name}$", self.out.read_text(), re.M)
        assert found, self.out.read_text()
        return int(found[1])


def start_command() -> str:
    (block,) = [b for b in all_blocks() if b.marker == STARTS_STACK]
    return block.code.strip()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("docs")
    env = dev_env(tmp / "run", CATALYST_DEV_ENV=str(tmp / "catalyst-dev.env"))
    env.pop("CATALYST_DEV_KUBE")  # the docs' stack: the real control plane when it is built
    out = tmp / "dev.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            ["bash", "-c", start_command()],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = Stack(proc, env, tmp / "run", out)
    try:
        wait(lambda: "dev: ready" in out.read_text(), stack, "dev.sh to say it is ready")
        yield stack
    finally:
        kill_session(proc)


def wait(check: object, stack: Stack, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():  # type: ignore[operator]
        if stack.proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {what}:\n{stack.out.read_text(errors='replace')}")
        time.sleep(0.5)


def run_block(block: Block, stack: Stack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.code],
        cwd=ROOT,
        env=stack.shell_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def test_the_documented_commands_run_and_give_what_the_docs_say(stack: Stack) -> None:
    for block in runnable():
        result = run_block(block, stack)
        assert result.returncode == 0, (
            f"{block.where} failed ({result.returncode}):\n{block.code}\n--- stdout\n"
            f"{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
        )
        if "pull_request.opened.json" in block.code:  # "... the demo PR has a GitHub deployment"
            assert_first_deployment_succeeded(github_state(stack))
    # the close was the last step: once GitHub shows it torn down, check the whole story
    wait(lambda: torn_down(github_state(stack)), stack, "teardown shown on GitHub")
    state = github_state(stack)
    bodies = [c["body"] for c in state["comments"]]
    assert "/catalyst redeploy" in bodies  # seeded as a person's comment
    assert any(b.startswith("@octocat **shop**: Ready") for b in bodies)  # /catalyst status
    assert {"comment_id"} <= set(state["reactions"][0])


def github_state(stack: Stack) -> dict[str, Any]:
    github = stack.env["FAKE_GITHUB_PORT"]
    state: dict[str, Any] = httpx.get(f"http://127.0.0.1:{github}/_fake/state", timeout=30).json()
    return state


def assert_first_deployment_succeeded(state: dict[str, Any]) -> None:
    first = [d for d in state["deployments"] if d["sha"].startswith("b92ba5f")]
    assert first and [s["state"] for s in first[0]["statuses"]][:3] == [
        "queued", "in_progress", "success",
    ], state["deployments"]  # fmt: skip
    assert first[0]["statuses"][2]["environment_url"] == "https://acme-shop-pr-1.preview.localhost/"


def torn_down(state: dict[str, Any]) -> bool:
    """Deployments inactive (the fake App may delete them, with the environment) and the bot
    comment saying the preview was torn down."""
    deployments = state["deployments"]
    inactive = all(d["statuses"] and d["statuses"][-1]["state"] == "inactive" for d in deployments)
    return inactive and any("was torn down" in c["body"] for c in state["comments"])


def test_doctor_finds_no_problem_on_the_local_stack(stack: Stack) -> None:
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "catalyst-preview"), "doctor"],
        cwd="/",
        env=stack.shell_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and lines[-1].startswith("everything looks fine"), result.stdout
    assert not [line for line in lines if line.startswith("✗")]


def test_a_process_that_dies_is_named_with_its_last_log_lines(stack: Stack) -> None:
    pid = stack.pid_of("reconciler")
    assert all(w in descendants(stack.proc.pid)[pid] for w in SIGNATURES["reconciler"])
    os.kill(pid, signal.SIGKILL)
    assert stack.proc.wait(timeout=DEADLINE) == 1
    out = stack.out.read_text()
    assert f"dev: reconciler (pid {pid}) exited with status 137" in out
    assert f"last lines of {stack.run_dir}/reconciler.log" in out and "dev:   | " in out
    assert not Path(stack.env["CATALYST_DEV_ENV"]).exists()  # its settings went with it
