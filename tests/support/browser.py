"""Test support: headless Chromium (Debian's) driven by playwright-core, from pytest.

`Browser` starts `node tests/support/browser_driver.cjs`, which launches `/usr/bin/chromium`
with a fresh `--user-data-dir` and the flags the suite always uses, and answers one JSON command
per line. Every wait is Playwright's own (a condition with a deadline), never a fixed sleep.
`missing()` says why the browser tests cannot run here (no chromium, node or playwright-core;
`scripts/get-playwright.sh`, called by bootstrap, installs them).
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT_CORE = ROOT / ".tools" / "node_modules" / "playwright-core"
DRIVER = Path(__file__).with_name("browser_driver.cjs")
WAIT_MS = 20_000


class BrowserError(AssertionError):
    """A browser command failed (the message is Playwright's)."""


def missing() -> str | None:
    """Why the browser tests cannot run, or None."""
    if not CHROMIUM.exists():
        return "no /usr/bin/chromium (run scripts/get-playwright.sh)"
    if shutil.which("node") is None:
        return "no node on PATH"
    if not (PLAYWRIGHT_CORE / "package.json").exists():
        return "no playwright-core in .tools/node_modules (run scripts/get-playwright.sh)"
    return None


class Browser:
    """One Chromium with one page (use as a context manager)."""

    def __init__(self) -> None:
        self._profile = tempfile.mkdtemp(prefix="catalyst-chromium-")
        self._ids = itertools.count(1)
        self._proc = subprocess.Popen(
            ["node", str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={"PLAYWRIGHT_CORE": str(PLAYWRIGHT_CORE), "PATH": "/usr/bin:/bin"},
        )
        self.call("launch", userDataDir=self._profile, executablePath=str(CHROMIUM))

    def call(self, op: str, **args: Any) -> Any:
        """Run one command; BrowserError when Playwright reports a failure."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        ident = next(self._ids)
        self._proc.stdin.write(json.dumps({"id": ident, "op": op, **args}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise BrowserError(f"browser driver exited during {op}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise BrowserError(f"{op} {args}: {answer['error']}")
        return answer["value"]

    def goto(self, url: str) -> int | None:
        """Open `url`; the HTTP status of the document."""
        return self.call("goto", url=url)["status"]  # type: ignore[no-any-return]

    def wait_text(self, selector: str, text: str, *, timeout_ms: int = WAIT_MS) -> None:
        """Wait until the element's text contains `text`."""
        self.call("waitText", selector=selector, text=text, timeout=timeout_ms)

    def text(self, selector: str) -> str:
        """The element's text content."""
        return str(self.call("text", selector=selector) or "")

    def screenshot(self, path: Path) -> Path:
        """A full-page PNG at `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.call("screenshot", path=str(path))
        return path

    def close(self) -> None:
        """Close the browser and the driver; remove the profile."""
        try:
            self.call("close")
        finally:
            if self._proc.stdin:
                self._proc.stdin.close()
            self._proc.wait(timeout=30)
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
