"""Pure: a project source at one exact commit, the fetcher interface the deploy modes read it
through, and the repository path rules (no I/O; the fetcher itself is `reconciler.sources`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.errors import ConfigError


@dataclass(frozen=True)
class SourceRef:
    """One repository at one commit, and the installation whose token may read it."""

    repository_url: str
    commit_sha: str
    installation_id: int | None = None


class SourceFetcher(Protocol):
    """Reads files of a source at an exact commit."""

    def read_file(self, ref: SourceRef, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist at that commit."""
        ...

    def export(self, ref: SourceRef, path: str, dest: Path) -> Path:
        """Copy directory `path` into `dest`; returns the copy. NotFound when absent."""
        ...


def clean_path(path: str | None) -> str:
    """A repository-relative path without `.`/empty parts; ConfigError when it escapes."""
    parts = [p for p in (path or "").replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ConfigError(f"path {path!r} leaves the repository")
    return "/".join(parts)


def repository_of(url: str) -> tuple[str, str]:
    """(owner, name) of a GitHub repository URL (https, ssh or `owner/name`)."""
    tail = url.strip().removesuffix("/").removesuffix(".git")
    tail = tail.split("github.com", 1)[-1].lstrip(":/") if "github.com" in tail else tail
    parts = tail.split("/")
    if len(parts) < 2 or not parts[-2] or not parts[-1]:
        raise ConfigError(f"not a GitHub repository URL: {url!r}")
    return parts[-2], parts[-1]
