"""docker-compose and helm modes end to end through the reconciler on the real control plane
(the real helm binary installing into the real API server), plus the tarball source fetcher
against a mocked GitHub."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.errors import ConfigError, NotFound
from reconciler.helm import CliHelmRunner, Helm
from reconciler.modes import ModeIO
from reconciler.modes.install import deploy_modes
from reconciler.sourcerefs import SourceRef
from reconciler.sources import GitHubTarballFetcher
from tests.reconciler.mode_support import CHARTS, HELM_BIN, project_with
from tests.reconciler.support import SHA1, SHA2, FakeTokens, Live, Rig, environment_obj
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
    live: Live, tmp_path: Path
) -> None:
    write(tmp_path, SHA1, "app/docker-compose.yml", COMPOSE)
    fetcher = LocalSourceFetcher(tmp_path)
    live.seed()
    template = {"type": "docker-compose", "sourceRef": "main", "path": "app"}
    live.kube.put_object(project_with(template, names=live.names))
    rig = live.rig(modes=deploy_modes(fetcher))
    live.kube.put_object(live.environment())
    rig.run_until(rig.phase_is("Ready"))
    status = rig.status()
    ns, team = live.env_ns(), live.names.team
    assert "services.web.privileged" in status["message"]
    assert status["images"] == {"web": f"registry.local:5000/{team}/shop/web:{SHA1}"}
    web: Any = live.kube.get("deployments", "web", ns)
    pod = web["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"registry.local:5000/{team}/shop/web:{SHA1}"
    assert [c["name"] for c in pod["initContainers"]] == ["wait-db"]
    assert web["status"]["availableReplicas"] == 1  # its real rollout, init container included
    assert live.kube.get("persistentvolumeclaims", "pgdata", ns) is not None
    ingress: Any = live.kube.get("ingresses", "web", ns)
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "web", "port": {"number": 3000}}
    assert {sha for ref, _ in fetcher.requests for sha in [ref.commit_sha]} == {SHA1}


def test_compose_file_missing_fails_with_a_clear_reason(live: Live, tmp_path: Path) -> None:
    write(tmp_path, SHA1, "README.md", "no compose here")
    live.seed()
    live.kube.put_object(
        project_with({"type": "docker-compose", "sourceRef": "main"}, names=live.names)
    )
    rig = live.rig(modes=deploy_modes(LocalSourceFetcher(tmp_path)))
    live.kube.put_object(live.environment())
    rig.run_until(rig.phase_is("Failed"))
    assert "no compose file (compose.yaml, compose.yml" in rig.status()["message"]


def helm_rig(
    live: Live, tmp_path: Path, chart: str = "app", values: dict[str, Any] | None = None
) -> tuple[Rig, Helm]:
    """A helm preview of tests/charts/`chart`, installed by the real helm on the real server."""
    for sha in (SHA1, SHA2):
        shutil.copytree(CHARTS / chart, tmp_path / sha / "chart")
    live.seed()
    template = {
        "type": "helm",
        "sourceRef": "main",
        "path": "chart",
        "builds": [{"name": "web", "sourceRef": "main"}],
        "values": {"replicas": 1, **(values or {})},
    }
    live.kube.put_object(project_with(template, names=live.names))
    rig = live.rig(modes=deploy_modes(LocalSourceFetcher(tmp_path)))
    helm = Helm(CliHelmRunner({"KUBECONFIG": str(live.plane.kubeconfig)}), HELM_BIN, timeout=120)
    rig.reconciler.mode_io = ModeIO(cluster=rig.cluster, helm=helm)
    return rig, helm


def test_helm_preview_installs_once_and_uninstalls_on_teardown(live: Live, tmp_path: Path) -> None:
    rig, helm = helm_rig(live, tmp_path)
    ns = live.env_ns()
    live.kube.put_object(live.environment())
    rig.run_until(rig.phase_is("Ready"))
    for _ in range(3):
        rig.run()
    # Re-applied with nothing changed: still one revision, deployed.
    assert [r.status for r in helm.history("pr-1", ns)] == ["deployed"]
    web: Any = live.kube.get("deployments", "web", ns)
    assert web["status"]["availableReplicas"] >= 1
    live.set_spec(sources=environment_obj(SHA2, names=live.names)["spec"]["sources"])
    rig.run_until(lambda: rig.status().get("commitSha") == SHA2)
    assert [r.status for r in helm.history("pr-1", ns)] == ["superseded", "deployed"]
    live.kube.delete("environments", "pr-1", live.names.project_ns)
    rig.run_until(lambda: rig.env() is None)
    assert helm.history("pr-1", ns) == []
    assert live.kube.get("namespaces", ns) is None


def test_helm_chart_error_shows_as_failed(live: Live, tmp_path: Path) -> None:
    rig, helm = helm_rig(live, tmp_path, chart="broken")
    live.kube.put_object(live.environment())
    rig.run_until(rig.phase_is("Failed"))
    assert "shout" in rig.status()["message"]
    assert helm.history("pr-1", live.env_ns()) == []


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
