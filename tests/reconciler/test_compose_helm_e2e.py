"""docker-compose and helm modes end to end through the reconciler against the fake API server,
plus the tarball source fetcher against a mocked GitHub."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.errors import ConfigError, NotFound
from reconciler.helm import Helm
from reconciler.modes import ModeIO
from reconciler.modes.install import install_modes
from reconciler.sourcerefs import SourceRef
from reconciler.sources import GitHubTarballFetcher
from tests.kubefake import KubeFake
from tests.reconciler.mode_support import CHARTS, project_with
from tests.reconciler.support import (
    ENV_NS,
    PROJECT_NS,
    SHA1,
    SHA2,
    FakeTokens,
    environment_obj,
    make_rig,
    seed,
)
from tests.support.fake_helm import FakeHelm
from tests.support.fake_sources import LocalSourceFetcher

COMPOSE = """
services:
  web:
    build: {context: ./web, dockerfile: Dockerfile.prod}
    ports: ["127.0.0.1:3000:3000"]
    environment: [DATABASE_HOST=db]
    depends_on: [db]
    privileged: true
  db:
    image: postgres:16
    ports: ["5432"]
    volumes: [pgdata:/var/lib/postgresql/data]
volumes:
  pgdata: {}
"""


def write(root: Path, sha: str, path: str, text: str) -> None:
    target = root / sha / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def test_compose_preview_builds_deploys_and_reports_unsupported_keys(
    kubefake: KubeFake, tmp_path: Path
) -> None:
    write(tmp_path, SHA1, "app/docker-compose.yml", COMPOSE)
    fetcher = LocalSourceFetcher(tmp_path)
    install_modes(fetcher)
    seed(kubefake)
    kubefake.put_object(
        project_with({"type": "docker-compose", "sourceRef": "main", "path": "app"})
    )
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
    rig.run_until(rig.phase_is("Ready"))
    status = rig.status()
    assert "services.web.privileged" in status["message"]
    assert status["images"] == {"web": f"registry.local:5000/acme/shop/web:{SHA1}"}
    web: Any = kubefake.get("deployments", "web", ENV_NS)
    pod = web["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"registry.local:5000/acme/shop/web:{SHA1}"
    assert [c["name"] for c in pod["initContainers"]] == ["wait-db"]
    assert kubefake.get("persistentvolumeclaims", "pgdata", ENV_NS) is not None
    ingress: Any = kubefake.get("ingresses", "web", ENV_NS)
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "web", "port": {"number": 3000}}
    assert {sha for ref, _ in fetcher.requests for sha in [ref.commit_sha]} == {SHA1}


def test_compose_file_missing_fails_with_a_clear_reason(kubefake: KubeFake, tmp_path: Path) -> None:
    write(tmp_path, SHA1, "README.md", "no compose here")
    install_modes(LocalSourceFetcher(tmp_path))
    seed(kubefake)
    kubefake.put_object(project_with({"type": "docker-compose", "sourceRef": "main"}))
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
    rig.run_until(rig.phase_is("Failed"))
    assert "no compose file (compose.yaml, compose.yml" in rig.status()["message"]


def helm_rig(kubefake: KubeFake, tmp_path: Path) -> tuple[Any, FakeHelm]:
    for sha in (SHA1, SHA2):
        shutil.copytree(CHARTS / "app", tmp_path / sha / "chart")
    install_modes(LocalSourceFetcher(tmp_path))
    seed(kubefake)
    template = {
        "type": "helm",
        "sourceRef": "main",
        "path": "chart",
        "builds": [{"name": "web", "sourceRef": "main"}],
        "values": {"replicas": 1},
    }
    kubefake.put_object(project_with(template))
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    rig = make_rig(kubefake)
    fake = FakeHelm()
    rig.reconciler.mode_io = ModeIO(cluster=rig.cluster, helm=Helm(fake, "helm"))
    return rig, fake


def test_helm_preview_installs_once_and_uninstalls_on_teardown(
    kubefake: KubeFake, tmp_path: Path
) -> None:
    rig, fake = helm_rig(kubefake, tmp_path)
    kubefake.put_object(environment_obj())
    rig.run_until(rig.phase_is("Ready"))
    for _ in range(3):
        rig.run()
    assert len(fake.upgrades()) == 1
    assert [r.status for r in fake.releases[(ENV_NS, "pr-1")]] == ["deployed"]
    kubefake.put_object(environment_obj(SHA2))
    rig.run_until(lambda: rig.status().get("commitSha") == SHA2)
    assert len(fake.upgrades()) == 2
    kubefake.delete("environments", "pr-1", PROJECT_NS)
    rig.run_until(lambda: rig.env() is None)
    assert fake.releases == {}


def test_helm_chart_error_shows_as_failed(kubefake: KubeFake, tmp_path: Path) -> None:
    rig, fake = helm_rig(kubefake, tmp_path)
    fake.outcomes = ["chart-error"]
    kubefake.put_object(environment_obj())
    rig.run_until(rig.phase_is("Failed"))
    assert "global.images.web is required" in rig.status()["message"]


# --- tarball fetcher -----------------------------------------------------------------------------


def tarball(files: dict[str, bytes], prefix: str = "acme-shop-aaaaaaa/") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(prefix + name if not name.startswith("/") else name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def fetcher_for(body: bytes, seen: list[httpx.Request], status: int = 200) -> GitHubTarballFetcher:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    return GitHubTarballFetcher("https://api.github.com", FakeTokens(), client)


REF = SourceRef("https://github.com/acme/shop.git", SHA1, 42)


def test_tarball_fetch_is_pinned_to_the_sha_and_authenticated(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    files = {"compose.yaml": b"services: {}\n", "chart/Chart.yaml": b"name: x\n"}
    fetcher = fetcher_for(tarball(files), seen)
    assert fetcher.read_file(REF, "compose.yaml") == b"services: {}\n"
    assert fetcher.read_file(REF, "missing.yaml") is None
    out = fetcher.export(REF, "chart", tmp_path / "c")
    assert (out / "Chart.yaml").read_bytes() == b"name: x\n"
    assert len(seen) == 1  # one download per commit
    assert seen[0].url.path == f"/repos/acme/shop/tarball/{SHA1}"
    assert seen[0].headers["Authorization"] == "Bearer ghs_token1"


def test_tarball_members_escaping_the_target_are_refused(tmp_path: Path) -> None:
    fetcher = fetcher_for(tarball({"chart/../../evil": b"x"}), [])
    with pytest.raises(Exception, match="leaves"):
        fetcher.export(REF, "", tmp_path / "c")
    assert not (tmp_path / "evil").exists()


def test_tarball_errors_map_to_core_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="not found"):
        fetcher_for(b"", [], 404).read_file(REF, "x")
    with pytest.raises(ConfigError, match="leaves the repository"):
        fetcher_for(tarball({}), []).read_file(REF, "../x")
