"""`catalyst-preview render` on every sample Project: manifests valid against the Kubernetes 1.29
schemas (strict), the objects each template type deploys, and one-line errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from reconciler import render

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "crds" / "examples"
SOURCES = ROOT / "tests" / "fixtures" / "sources"
HELM_BIN = ROOT / ".tools" / "bin" / "helm"
SHA = "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
CLI = str(Path(sys.executable).parent / "catalyst-preview")
# Samples whose compose file or chart lives in their git repository: a local checkout of it.
SOURCE_ARGS = {
    "project-helm.yaml": ["--source", f"app={SOURCES / 'web'}"],
    "project-helm-passthrough.yaml": ["--source", f"charts={SOURCES / 'platform'}"],
    "project-docker-compose.yaml": ["--source", f"app={SOURCES / 'blog'}"],
}
BASE_KINDS = {"Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "ServiceAccount"}
Objects = dict[tuple[str, str], dict[str, Any]]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "CATALYST_HELM_BIN": str(HELM_BIN), "HOME": str(ROOT)}
    return subprocess.run(
        [CLI, "render", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def validated(stdout: str) -> Objects:
    """Every document, validated strictly against Kubernetes 1.29, keyed (kind, name)."""
    objects: Objects = {}
    for doc in yaml.safe_load_all(stdout):
        if doc is None:
            continue
        kubernetes_validate.validate(doc, "1.29", strict=True)
        objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def sample_projects() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("project-*.yaml"))


@pytest.mark.parametrize("sample", sample_projects())
def test_every_sample_project_renders_strictly_valid_manifests(sample: str) -> None:
    result = run_cli(
        str(EXAMPLES / sample), "--pr", "42", "--sha", SHA, *SOURCE_ARGS.get(sample, [])
    )
    assert result.returncode == 0, result.stderr
    objects = validated(result.stdout)
    assert BASE_KINDS <= {kind for kind, _ in objects}
    namespaces = {o["metadata"]["name"] for (kind, _), o in objects.items() if kind == "Namespace"}
    assert len(namespaces) == 1
    namespace = namespaces.pop()
    assert namespace.endswith("-pr-42")
    assert all(
        o["metadata"].get("namespace", namespace) == namespace
        for (kind, _), o in objects.items()
        if kind != "Namespace" and "helm.sh/chart" not in str(o)
    )
    EXPECTED[sample](objects, result)


def expect_docker(objects: Objects, result: subprocess.CompletedProcess[str]) -> None:
    assert {("StatefulSet", "db"), ("StatefulSet", "cache"), ("Ingress", "web")} <= set(objects)
    job = next(o for (kind, _), o in objects.items() if kind == "Job")
    token = next(o for (kind, n), o in objects.items() if kind == "Secret" and n.endswith("git"))
    assert token["data"]["GIT_PASSWORD"]  # a placeholder, never a minted token
    web = objects[("Deployment", "web")]["spec"]["template"]["spec"]
    env = {e["name"] for e in web["containers"][0]["env"]}
    assert {"DATABASE_URL", "REDIS_URL", "STRIPE_KEY"} <= env
    image = web["containers"][0]["image"]
    assert image.endswith(f"/acme/api/api:{SHA}")
    assert any(image in arg for arg in job["spec"]["template"]["spec"]["containers"][0]["args"])
    assert "api-secrets" in result.stderr  # copied from the project namespace at deploy time


def expect_prebuilt(objects: Objects, result: subprocess.CompletedProcess[str]) -> None:
    web = objects[("Deployment", "web")]["spec"]["template"]["spec"]["containers"][0]
    assert web["image"] == f"ghcr.io/acme/docs:{SHA}"
    assert not [k for k, _ in objects if k == "Job"]


def expect_helm(objects: Objects, result: subprocess.CompletedProcess[str]) -> None:
    jobs = sorted(n for k, n in objects if k == "Job")
    assert jobs == [f"build-web-{SHA[:7]}", f"build-worker-{SHA[:7]}"]
    web = objects[("Deployment", "web")]["spec"]["template"]["spec"]["containers"][0]
    assert web["image"].endswith(f"/acme/web/web:{SHA}")  # helm template with injected values
    assert objects[("Ingress", "web")]["spec"]["rules"][0]["host"].startswith("acme-web-pr-42.")


def expect_passthrough(objects: Objects, result: subprocess.CompletedProcess[str]) -> None:
    assert objects[("ConfigMap", "platform-settings")]["data"] == {"environment": "preview"}


def expect_chart_repo(objects: Objects, result: subprocess.CompletedProcess[str]) -> None:
    comment = [line for line in result.stdout.splitlines() if line.startswith("# ")]
    values = yaml.safe_load(comment[-1][2:])
    assert values["image"] == {"pullPolicy": "IfNotPresent"}
    assert values["global"]["images"]["api"]["tag"] == SHA
    assert "chart was not rendered" in result.stdout and "values file" in result.stderr


def expect_compose(objects: Objects, result: subprocess.CompletedProcess[str]) -> None:
    deployments = {n for k, n in objects if k == "Deployment"}
    assert deployments == {"frontend", "backend", "db"}
    assert ("PersistentVolumeClaim", "pgdata") in objects
    backend = objects[("Deployment", "backend")]["spec"]["template"]["spec"]["containers"][0]
    assert backend["image"].endswith(f"/acme/blog/backend:{SHA}")
    ingress = objects[("Ingress", "web")]["spec"]["rules"][0]["http"]["paths"][0]
    assert ingress["backend"]["service"]["name"] == "frontend"


EXPECTED = {
    "project-docker.yaml": expect_docker,
    "project-prebuilt.yaml": expect_prebuilt,
    "project-helm.yaml": expect_helm,
    "project-helm-passthrough.yaml": expect_passthrough,
    "project-helm-chart-repo.yaml": expect_chart_repo,
    "project-docker-compose.yaml": expect_compose,
}


@pytest.mark.parametrize("environment", ["environment-pr-42.yaml", "environment-production.yaml"])
def test_sample_environments_render_with_their_project(
    environment: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATALYST_HELM_BIN", str(HELM_BIN))
    argv = [str(EXAMPLES / "project-helm.yaml"), str(EXAMPLES / environment)]
    assert render.main([*argv, *SOURCE_ARGS["project-helm.yaml"]]) == 0
    objects = validated(capsys.readouterr().out)
    name = environment.removeprefix("environment-").removesuffix(".yaml")
    assert ("Namespace", f"acme-web-{name}") in objects
    quota = objects[("ResourceQuota", "default-quota")]["spec"]["hard"]
    assert quota["pods"] == ("40" if name == "production" else "20")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [str(EXAMPLES / "project-docker-compose.yaml"), "--pr", "1", "--sha", SHA],
            "--source app=DIR",
        ),
        ([str(EXAMPLES / "project-docker.yaml")], "--pr N --sha SHA"),
        ([str(EXAMPLES / "missing.yaml"), "--pr", "1", "--sha", SHA], "cannot read project"),
        (
            [str(EXAMPLES / "project-docker.yaml"), "--pr", "1", "--sha", SHA, "--source", "x"],
            "NAME=DIR",
        ),
        ([str(EXAMPLES / "environment-pr-42.yaml"), "--pr", "1", "--sha", SHA], "is invalid"),
    ],
)
def test_bad_input_stops_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render.main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("catalyst")]
    assert len(err) == 1 and message in err[0]


def test_a_chart_without_its_source_prints_the_values_and_says_what_to_pass(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert render.main([str(EXAMPLES / "project-helm.yaml"), "--pr", "1", "--sha", SHA]) == 0
    out, err = capsys.readouterr()
    validated(out)
    assert "pass --source app=DIR" in err
    assert '# {"replicaCount":1,' in out


def test_an_environment_of_another_project_is_refused_naming_both(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [str(EXAMPLES / "project-docker.yaml"), str(EXAMPLES / "environment-pr-42.yaml")]
    assert render.main(argv) == 2
    err = capsys.readouterr().err
    assert "belongs to project 'web'" in err and "not to 'api'" in err


def test_a_prebuilt_tracked_branch_without_ports_renders_a_deployment_alone() -> None:
    result = run_cli(
        str(EXAMPLES / "project-prebuilt.yaml"), "--pr", "7", "--sha", SHA, "--type", "deployment"
    )
    assert result.returncode == 0, result.stderr
    kinds = {kind for kind, _ in validated(result.stdout)}
    assert "Deployment" in kinds and not {"Service", "Ingress"} & kinds


def test_every_validation_error_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert render.main([str(EXAMPLES / "environment-pr-42.yaml"), "--pr", "1", "--sha", SHA]) == 2
    err = capsys.readouterr().err.splitlines()
    count = int(err[0].rsplit(": ", 1)[1].split()[0])
    assert count >= 2 and len([line for line in err[1:] if line.startswith("  ")]) == count


def test_helm_is_found_in_tools_bin_without_settings() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}  # no helm on PATH, no CATALYST_HELM_BIN
    result = subprocess.run(
        [CLI, "render", str(EXAMPLES / "project-helm.yaml"), "--pr", "1", "--sha", SHA,
         *SOURCE_ARGS["project-helm.yaml"]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "chart was not rendered" not in result.stdout and "Deployment" in result.stdout


def test_a_chart_from_a_repository_says_it_needs_the_network() -> None:
    result = run_cli(str(EXAMPLES / "project-helm-chart-repo.yaml"), "--pr", "1", "--sha", SHA)
    assert result.returncode == 0 and "needs network access" in result.stderr


def test_render_help_names_the_command_and_describes_every_option() -> None:
    result = run_cli("--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: catalyst-preview render")
    assert "without a cluster" in result.stdout and "(default: development)" in result.stdout


def two_source_project(tmp_path: Path) -> Path:
    """project-docker.yaml with a second source, acme/worker on `main`, and a build of it."""
    project = yaml.safe_load((EXAMPLES / "project-docker.yaml").read_text())
    project["spec"]["sources"].append(
        {"name": "worker", "repositoryUrl": "https://github.com/acme/worker", "branch": "main"}
    )
    project["spec"]["templates"]["development"]["builds"].append(
        {"name": "worker", "sourceRef": "worker"}
    )
    path = tmp_path / "project.yaml"
    path.write_text(yaml.safe_dump(project))
    return path


def test_a_second_source_renders_at_the_commit_given_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "0123456789abcdef0123456789abcdef01234567"
    argv = [str(two_source_project(tmp_path)), "--pr", "42", "--sha", SHA]
    assert render.main([*argv, "--commit", f"worker={other}"]) == 0
    objects = validated(capsys.readouterr().out)
    jobs = {n: o for (k, n), o in objects.items() if k == "Job"}
    assert sorted(jobs) == [f"build-api-{SHA[:7]}", f"build-worker-{other[:7]}"]
    args = jobs[f"build-worker-{other[:7]}"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--context=git://github.com/acme/worker.git#refs/heads/main#{other}" in args
    [destination] = [a for a in args if a.startswith("--destination=")]
    assert destination.endswith(f"/acme/api/worker:{other}")  # tagged with its own commit


def test_a_second_source_without_a_commit_stops_naming_it_and_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(two_source_project(tmp_path)), "--pr", "42", "--sha", SHA]
    assert render.main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("catalyst")]
    assert len(err) == 1 and "'worker' has no commit" in err[0] and "--commit" in err[0]
    assert render.main([*argv, "--commit", f"nope={SHA}"]) == 2
    assert "no source of that name" in capsys.readouterr().err
