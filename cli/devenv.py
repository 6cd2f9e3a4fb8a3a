"""Shell helper: the settings file `scripts/dev.sh` writes for the local stack it runs.

dev.sh writes `KEY='value'` lines (shell-quoted, so `set -a; . ./.catalyst-dev.env` works too)
to `$CATALYST_DEV_ENV`, default `.catalyst-dev.env` in the repository, and removes it when it
stops. Every `catalyst-preview` command reads it first, so `doctor`, `replay` and friends talk
to the running stack with no copying of variables; a variable already in the environment wins.
`CATALYST_DEV_ENV=` (empty) turns the file off.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import MutableMapping
from pathlib import Path

FILE_NAME = ".catalyst-dev.env"
PATH_VARIABLE = "CATALYST_DEV_ENV"
REPO_ROOT = Path(__file__).resolve().parents[1]


def settings_file(environ: MutableMapping[str, str]) -> Path | None:
    """The dev settings file in use: `$CATALYST_DEV_ENV`, else `./` or the repository's."""
    if PATH_VARIABLE in environ:
        chosen = environ[PATH_VARIABLE]
        return Path(chosen) if chosen and Path(chosen).is_file() else None
    for folder in (Path.cwd(), REPO_ROOT):
        if (folder / FILE_NAME).is_file():
            return folder / FILE_NAME
    return None


def parse(text: str) -> dict[str, str]:
    """`KEY=value` lines (shell quoting, `#` comments) as a dict; other lines are ignored."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 1 and "=" in words[0]:
            key, _, value = words[0].partition("=")
            found[key.removeprefix("export ").strip()] = value
    return found


def load(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """Add the file's settings that the environment lacks; the file read, if any."""
    target = os.environ if environ is None else environ
    path = settings_file(target)
    if path is None:
        return None
    try:
        values = parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a half-written or unreadable file: behave as without it
    for key, value in values.items():
        target.setdefault(key, value)
    target.setdefault(PATH_VARIABLE, str(path))
    return path


def exports(path: Path) -> str:
    """The file as `export KEY='value'` lines, for `eval "$(catalyst-preview env)"`."""
    values = parse(path.read_text(encoding="utf-8"))
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in values.items())
