"""The command line: process commands refuse bad settings with one line; replay signs and posts."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from core.signing import matches_any

CLEAN_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
ENTRY = "import sys; from cli.main import main; main(sys.argv[1:])"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the console script's entry point in a clean environment (no .env in cwd)."""
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        capture_output=True,
        text=True,
        env={**CLEAN_ENV, **(env or {})},
        timeout=30,
        cwd="/",
    )


@pytest.mark.parametrize("process", ["web", "worker", "reconciler", "beat"])
def test_missing_webhook_secret_stops_with_one_line(process: str) -> None:
    result = run_cli(process)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "CATALYST_WEBHOOK_SECRET is missing" in lines[0]


def test_worker_names_missing_github_app_settings() -> None:
    result = run_cli("worker", env={"CATALYST_WEBHOOK_SECRET": "s"})
    assert result.returncode == 2
    assert "CATALYST_GITHUB_APP_ID is missing" in result.stderr
    assert "CATALYST_GITHUB_PRIVATE_KEY" in result.stderr


def test_malformed_setting_is_named() -> None:
    result = run_cli("web", env={"CATALYST_WEBHOOK_SECRET": "s", "CATALYST_REDIS_URL": "nope"})
    assert result.returncode == 2 and "CATALYST_REDIS_URL" in result.stderr


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []  # noqa: RUF012 - test-only shared log
    status = 202

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Recorder.received.append((dict(self.headers), body))
        self.send_response(_Recorder.status)
        self.end_headers()
        self.wfile.write(b"accepted")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Recorder.received = []
    _Recorder.status = 202
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhook"
    server.shutdown()
    server.server_close()


def test_replay_posts_signed_bytes(receiver: str, tmp_path: Path) -> None:
    payload = tmp_path / "pull_request.opened.json"
    payload.write_bytes(json.dumps({"action": "opened", "pull_request": {"number": 1}}).encode())
    result = run_cli("replay", str(payload), "--url", receiver, "--secret", "new,old")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("202")
    headers, body = _Recorder.received[0]
    assert body == payload.read_bytes()
    assert headers["X-GitHub-Event"] == "pull_request"
    assert matches_any(body, headers["X-Hub-Signature-256"], [b"new"])
    assert not matches_any(body, headers["X-Hub-Signature-256"], [b"old"])


def test_replay_without_secret_says_so(tmp_path: Path) -> None:
    payload = tmp_path / "p.json"
    payload.write_text("{}")
    result = run_cli("replay", str(payload))
    assert result.returncode == 2 and "CATALYST_WEBHOOK_SECRET is missing" in result.stdout


def test_replay_unreachable_receiver_fails_clearly(tmp_path: Path) -> None:
    payload = tmp_path / "push.json"
    payload.write_text('{"ref": "refs/heads/main"}')
    result = run_cli("replay", str(payload), "--url", "http://127.0.0.1:9/webhook", "--secret", "s")
    assert result.returncode == 1 and "catalyst-preview replay:" in result.stderr


def test_replay_unreachable_receiver_names_the_url_and_dev_sh(tmp_path: Path) -> None:
    payload = tmp_path / "push.json"
    payload.write_text('{"ref": "refs/heads/main"}')
    result = run_cli("replay", str(payload), "--url", "http://127.0.0.1:9/webhook", "--secret", "s")
    assert "cannot reach http://127.0.0.1:9/webhook" in result.stderr
    assert "is scripts/dev.sh" in result.stderr


def test_replay_refused_signature_points_at_the_secret(receiver: str, tmp_path: Path) -> None:
    _Recorder.status = 401
    payload = tmp_path / "push.json"
    payload.write_text('{"ref": "refs/heads/main"}')
    result = run_cli("replay", str(payload), "--url", receiver, "--secret", "wrong")
    assert result.returncode == 1 and result.stdout.startswith("401")
    assert "CATALYST_WEBHOOK_SECRET" in result.stderr and "wrong" not in result.stderr


def test_replay_says_why_a_payload_has_no_event(tmp_path: Path) -> None:
    payload = tmp_path / "saved.json"
    payload.write_text('{"hello": 1}')
    result = run_cli("replay", str(payload), "--secret", "s")
    assert result.returncode == 1 and "cannot tell which event" in result.stderr
    assert "pass --event" in result.stderr


def test_replay_comment_needs_the_fake_github(tmp_path: Path) -> None:
    result = run_cli(
        "replay", "comment", "--pr", "1", "/catalyst help", "--secret", "s",
        "--github-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert (
        result.returncode == 1
        and "cannot reach the fake GitHub at http://127.0.0.1:9" in result.stderr
    )


COMMANDS = ["web", "worker", "reconciler", "beat", "replay", "doctor", "env"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS), ["replay", "comment"]])
def test_every_command_has_a_purpose_and_every_option_help(command: list[str]) -> None:
    from cli.main import build_parser, comment_parser

    parser = comment_parser() if command == ["replay", "comment"] else build_parser()
    if command and command != ["replay", "comment"]:
        parser = parser._subparsers._group_actions[0].choices[command[0]]  # type: ignore[union-attr,index]
    assert parser.description and "Shell:" not in parser.description
    for action in parser._actions:
        assert action.help, f"{command} {action.dest} has no help"
    shown = run_cli(*command, "--help")
    assert shown.returncode == 0 and shown.stdout.startswith("usage: catalyst-preview")


def test_web_binds_loopback_unless_told() -> None:
    from cli.main import build_parser

    assert build_parser().parse_args(["web"]).host == "127.0.0.1"


def test_every_command_reads_the_dev_settings_file(tmp_path: Path) -> None:
    settings = tmp_path / "dev.env"
    settings.write_text(
        "# written by dev.sh\n"
        "CATALYST_WEBHOOK_SECRET='it'\\''s'\n"
        "CATALYST_REDIS_URL='redis://127.0.0.1:9/0'\n"
    )
    shown = run_cli("env", env={"CATALYST_DEV_ENV": str(settings)})
    assert shown.returncode == 0
    assert "export CATALYST_WEBHOOK_SECRET='it'\"'\"'s'" in shown.stdout
    missing = run_cli("env", env={"CATALYST_DEV_ENV": str(tmp_path / "none")})
    assert missing.returncode == 1 and "is scripts/dev.sh running?" in missing.stderr
    # the environment wins over the file; the file fills in the rest
    doctor = run_cli(
        "doctor",
        env={"CATALYST_DEV_ENV": str(settings), "CATALYST_REDIS_URL": "redis://127.0.0.1:8/0"},
    )
    assert f"read {settings}" in doctor.stdout and "redis://127.0.0.1:8/0" in doctor.stdout
