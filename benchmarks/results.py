"""Saving a benchmark's report as its own section of benchmarks/RESULTS.md.

Each benchmark owns one top-level section (a `# ` heading that starts with its title); saving
replaces that section only, so one benchmark's run never drops the others' results.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def replace_section(document: str, title: str, section: str) -> str:
    """`document` with the section whose heading starts with `# {title}` replaced by `section`
    (appended when there is none yet); `section` starts with its own heading."""
    lines = document.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith(f"# {title}")), None)
    if start is None:
        return document + ("\n" if document else "") + section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("# ")), len(lines))
    rest = "".join(lines[end:])
    return "".join(lines[:start]) + section.rstrip("\n") + "\n" + ("\n" + rest if rest else "")


def save_section(title: str, section: str, *, path: Path = RESULTS) -> None:
    """Write `section` in place of the benchmark's previous one in RESULTS.md."""
    before = path.read_text() if path.exists() else ""
    path.write_text(replace_section(before, title, section))
