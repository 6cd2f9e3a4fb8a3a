"""Adapter: fetch files of a project source at one exact commit (charts, compose files).

`GitHubTarballFetcher` (the `reconciler.sourcerefs.SourceFetcher` the deploy modes use) downloads
GitHub's tarball of the commit (`GET /repos/{owner}/{repo}/tarball/{sha}`) with a short-lived
installation token, so private repositories work and the content is exactly that SHA, never a
moving branch. It extracts safely (no absolute paths, `..` or links leaving the target) and keeps
the most recent tarball, since one pass reads a compose file and its neighbours from the same
commit. The download is streamed into a spooled temporary file with a size limit (never buffered
whole before the check), and the unpacked size and file count are capped.
Tests use a fake that serves a local directory.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import httpx

from core.errors import NotFound, PermanentError, TemporaryError
from reconciler.sourcerefs import SourceRef, clean_path, repository_of
from reconciler.tokens import TokenSource

MAX_TARBALL = 200 * 1024 * 1024
MAX_UNPACKED = 1024 * 1024 * 1024
MAX_MEMBERS = 200_000
SPOOL_IN_MEMORY = 8 * 1024 * 1024


class TarballSource:
    """The members of one commit's tarball, addressed by repository-relative path.

    The unpacked size is capped too (a small gzip can expand enormously).
    """

    def __init__(self, data: bytes | IO[bytes]) -> None:
        fileobj = io.BytesIO(data) if isinstance(data, bytes) else data
        self.archive = tarfile.open(fileobj=fileobj, mode="r:*")
        self.members = {self._relative(m.name): m for m in self._bounded_members()}

    def _bounded_members(self) -> Iterator[tarfile.TarInfo]:
        total = 0
        for count, member in enumerate(self.archive, start=1):
            total += member.size
            if total > MAX_UNPACKED or count > MAX_MEMBERS:
                raise PermanentError(
                    f"source archive unpacks to more than {MAX_UNPACKED} bytes "
                    f"or {MAX_MEMBERS} files"
                )
            yield member

    @staticmethod
    def _relative(name: str) -> str:
        # GitHub prefixes every member with `<owner>-<repo>-<sha>/`.
        return name.split("/", 1)[1] if "/" in name else ""

    def read(self, path: str) -> bytes | None:
        """A regular file's bytes (None when missing or not a file)."""
        member = self.members.get(clean_path(path))
        if member is None or not member.isfile():
            return None
        handle = self.archive.extractfile(member)
        return handle.read() if handle else None

    def export(self, path: str, dest: Path) -> Path:
        """Write the regular files and directories under `path` into `dest` (links skipped)."""
        prefix = clean_path(path)
        root = dest.resolve()
        found = False
        for rel, member in self.members.items():
            if prefix and rel != prefix and not rel.startswith(prefix + "/"):
                continue
            inner = posixpath.relpath(rel, prefix) if prefix else rel
            target = (root / inner).resolve()
            if target != root and root not in target.parents:
                raise PermanentError(f"archive member {rel!r} leaves the target directory")
            found = found or member.isdir() or member.isfile()
            self._write(member, target)
        if not found:
            raise NotFound(f"{prefix or '/'} not found in the source")
        return root

    def _write(self, member: tarfile.TarInfo, target: Path) -> None:
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            target.parent.mkdir(parents=True, exist_ok=True)
            handle = self.archive.extractfile(member)
            target.write_bytes(handle.read() if handle else b"")


def spool(chunks: Iterable[bytes], *, limit: int, what: str) -> IO[bytes]:
    """`chunks` in a rewound temporary file (in memory while small); PermanentError past `limit`."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            out.close()
            raise PermanentError(f"{what}: source archive larger than {limit} bytes")
        out.write(chunk)
    out.seek(0)
    return out


class GitHubTarballFetcher:
    """Reads sources through GitHub's tarball API with an installation token."""

    def __init__(
        self,
        api_url: str,
        tokens: TokenSource,
        client: httpx.Client | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.tokens = tokens
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=True)
        self._cached: tuple[SourceRef, TarballSource] | None = None

    def _tarball(self, ref: SourceRef) -> TarballSource:
        if self._cached is not None and self._cached[0] == ref:
            return self._cached[1]
        if self._cached is not None:
            self._cached[1].archive.close()
            self._cached = None
        source = TarballSource(self._download(ref))
        self._cached = (ref, source)
        return source

    def _download(self, ref: SourceRef) -> IO[bytes]:
        """The tarball streamed into a spooled file (disk past 8 MiB), never past MAX_TARBALL."""
        owner, name = repository_of(ref.repository_url)
        url = f"{self.api_url}/repos/{owner}/{name}/tarball/{ref.commit_sha}"
        headers = {"Accept": "application/vnd.github+json"}
        if ref.installation_id is not None:
            token = self.tokens.installation_token(ref.installation_id, f"{owner}/{name}")
            headers["Authorization"] = f"Bearer {token}"
        what = f"{owner}/{name}@{ref.commit_sha[:7]}"
        try:
            with self.client.stream("GET", url, headers=headers, follow_redirects=True) as response:
                self._check(response, what)
                return spool(response.iter_bytes(), limit=MAX_TARBALL, what=what)
        except httpx.HTTPError as exc:
            raise TemporaryError(f"fetching {what}: {exc}") from exc

    @staticmethod
    def _check(response: httpx.Response, what: str) -> None:
        if response.status_code == 404:
            raise NotFound(f"{what}: repository or commit not found (or not readable by the App)")
        if response.status_code in (401, 403, 429) or response.status_code >= 500:
            raise TemporaryError(f"{what}: GitHub answered {response.status_code}")
        if response.status_code != 200:
            raise PermanentError(f"{what}: GitHub answered {response.status_code}")
        if int(response.headers.get("content-length") or 0) > MAX_TARBALL:
            raise PermanentError(f"{what}: source archive larger than {MAX_TARBALL} bytes")

    def read_file(self, ref: SourceRef, path: str) -> bytes | None:
        """The file at `path` in the commit, or None."""
        return self._tarball(ref).read(path)

    def export(self, ref: SourceRef, path: str, dest: Path) -> Path:
        """Directory `path` of the commit copied into `dest`."""
        return self._tarball(ref).export(path, dest)
