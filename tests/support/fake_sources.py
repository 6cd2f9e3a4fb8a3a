"""A `SourceFetcher` serving files from a local directory: `<root>/<commit sha>/<path>`.

Keyed by commit so a test proves the exact SHA was asked for; it records every request.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from core.errors import NotFound
from reconciler.sourcerefs import SourceRef, clean_path


class LocalSourceFetcher:
    """Serves `<root>/<sha>/...`; a commit without a directory is NotFound."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[SourceRef, str]] = []

    def _commit(self, ref: SourceRef) -> Path:
        base = self.root / ref.commit_sha
        if not base.is_dir():
            raise NotFound(f"{ref.repository_url}@{ref.commit_sha[:7]}: commit not found")
        return base

    def read_file(self, ref: SourceRef, path: str) -> bytes | None:
        """The file's bytes or None."""
        self.requests.append((ref, path))
        target = self._commit(ref) / clean_path(path)
        return target.read_bytes() if target.is_file() else None

    def export(self, ref: SourceRef, path: str, dest: Path) -> Path:
        """Copy directory `path` of the commit to `dest`."""
        self.requests.append((ref, path))
        source = self._commit(ref) / clean_path(path)
        if not source.is_dir():
            raise NotFound(f"{path} not found at {ref.commit_sha[:7]}")
        shutil.copytree(source, dest)
        return dest
