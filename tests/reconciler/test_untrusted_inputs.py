"""Hostile inputs from a PR (issue 13): YAML aliases refused and sizes capped, in a bounded child
process; source tarballs streamed with a limit; build paths cleaned like the context path."""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import safeyaml
from core.errors import ConfigError, PermanentError
from reconciler import sources, yamlchild
from reconciler.composefile import parse_compose
from reconciler.modes.install import deploy_modes
from reconciler.sourcerefs import SourceRef
from reconciler.sources import GitHubTarballFetcher, spool
from tests.kubefake import KubeFake
from tests.reconciler.mode_support import project_with
from tests.reconciler.support import (
    ENV_NS,
    SHA1,
    FakeTokens,
    environment_obj,
    make_rig,
    project_obj,
    seed,
)
from tests.support.fake_sources import LocalSourceFetcher

# The 472-byte compose file: nine levels of nine aliases, 9^9 strings once expanded.
ALIAS_BOMB = "\n".join(
    [
        "services: {web: {image: nginx}}",
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{name}: &{name} [{','.join(['*' + prev] * 9)}]"
            for prev, name in itertools.pairwise("abcdefghi")
        ),
    ]
)


def test_the_alias_bomb_is_refused_before_it_expands() -> None:
    assert len(ALIAS_BOMB) < 600
    with pytest.raises(safeyaml.UnsafeYaml, match="aliases are not allowed"):
        parse_compose(ALIAS_BOMB)


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("x: " + "[" * 100 + "]" * 100, "nested deeper than 64"),
        ("x: '" + "a" * 300_000 + "'", "longer than 262144"),
        ("services: {}\n" + "# pad\n" * 200_000, "larger than 1048576 bytes"),
    ],
    ids=["depth", "value", "file"],
)
def test_yaml_limits(text: str, limit: str) -> None:
    with pytest.raises(safeyaml.UnsafeYaml, match=limit):
        safeyaml.load(text, what="compose.yaml")


def test_the_child_process_parses_and_refuses_like_the_loader() -> None:
    assert yamlchild.parse("services: {web: {image: nginx}}", what="c.yaml") == {
        "services": {"web": {"image": "nginx"}}
    }
    with pytest.raises(safeyaml.UnsafeYaml, match=r"c\.yaml: YAML aliases are not allowed"):
        yamlchild.parse(ALIAS_BOMB, what="c.yaml")
    with pytest.raises(ConfigError, match="invalid YAML"):
        yamlchild.parse("services: [", what="c.yaml")


def test_the_child_process_is_killed_at_its_memory_limit() -> None:
    many = "services:\n" + "".join(f"  s{i}: [{','.join(['1'] * 40)}]\n" for i in range(300))
    assert len(yamlchild.parse(many, what="big.yaml")["services"]) == 300
    with pytest.raises(safeyaml.UnsafeYaml, match="exceeded 16777216 bytes of memory"):
        yamlchild.parse(many + "\n", what="big.yaml", memory_bytes=16 * 1024 * 1024)


def test_an_alias_bomb_compose_file_fails_the_preview_and_the_reconciler_stays_small(
    kubefake: KubeFake, tmp_path: Path
) -> None:
    (tmp_path / SHA1).mkdir()
    (tmp_path / SHA1 / "compose.yaml").write_text(ALIAS_BOMB)
    seed(kubefake)
    kubefake.put_object(project_with({"type": "docker-compose", "sourceRef": "main"}))
    rig = make_rig(kubefake, modes=deploy_modes(LocalSourceFetcher(tmp_path)))
    kubefake.put_object(environment_obj())
    tracemalloc.start()
    try:
        rig.run_until(rig.phase_is("Failed"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (ready,) = [c for c in rig.status()["conditions"] if c["type"] == "Ready"]
    assert ready["reason"] == "UnsafeYaml" and "aliases are not allowed" in ready["message"]
    assert peak < 64 * 1024 * 1024


# --- tarballs ----------------------------------------------------------------------------------


def test_a_tarball_past_the_limit_is_refused_without_reading_the_rest() -> None:
    consumed = []

    def endless() -> Iterator[bytes]:
        for _ in itertools.count():
            consumed.append(1)
            yield b"x" * 65536

    with pytest.raises(PermanentError, match="larger than 1048576 bytes"):
        spool(endless(), limit=1024 * 1024, what="acme/shop@aaaaaaa")
    assert len(consumed) == 17  # 16 chunks fit, the 17th crosses the limit: nothing more read


def test_the_fetcher_streams_and_stops_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "MAX_TARBALL", 1024 * 1024)
    sent = []

    def body() -> Iterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b"\0" * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    client = httpx.Client(transport=httpx.MockTransport(handler))
    fetcher = GitHubTarballFetcher("https://api.github.com", FakeTokens(), client)
    with pytest.raises(PermanentError, match="larger than"):
        fetcher.read_file(SourceRef("https://github.com/acme/shop", SHA1, 42), "compose.yaml")
    assert len(sent) < 1000


# --- build paths -------------------------------------------------------------------------------


def dockerfile_rig(kubefake: KubeFake, dockerfile: str) -> Any:
    seed(kubefake)
    project = project_obj()
    project["spec"]["templates"]["development"]["builds"][0]["dockerfile"] = dockerfile
    kubefake.put_object(project)
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
    return rig


def test_a_dockerfile_leaving_the_repository_is_refused(kubefake: KubeFake) -> None:
    rig = dockerfile_rig(kubefake, "../../../etc/shadow")
    rig.run_until(rig.phase_is("Failed"))
    assert "leaves the repository" in rig.status()["message"]
    assert kubefake.list("jobs", ENV_NS) == []


def test_an_absolute_dockerfile_stays_inside_the_context(kubefake: KubeFake) -> None:
    rig = dockerfile_rig(kubefake, "/kaniko/.docker/config.json")
    rig.run_until(lambda: bool(kubefake.list("jobs", ENV_NS)))
    (job,) = kubefake.list("jobs", ENV_NS)
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--dockerfile=kaniko/.docker/config.json" in args
