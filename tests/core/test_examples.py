"""Every sample in crds/examples/ is valid for its CRD and for core.model, and loses nothing.

Round trip: the sample with the CRD's defaults applied (what the API server would store) equals
`Model.parse(sample).to_wire()`, so no field is dropped or renamed on the way through the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from core import model, naming
from tests.core.crdschema import (
    apply_defaults,
    example_paths,
    load_crd,
    load_yaml,
    openapi_schema,
    validation_errors,
)

MODELS: dict[str, type[model.Project] | type[model.Environment]] = {
    "Project": model.Project,
    "Environment": model.Environment,
}
EXAMPLES = example_paths()


def _schema(kind: str) -> dict[str, Any]:
    return openapi_schema(load_crd(kind))


def _parse(doc: dict[str, Any]) -> model.Project | model.Environment:
    return MODELS[doc["kind"]].model_validate(doc)


def _examples_of(kind: str) -> list[dict[str, Any]]:
    docs = [load_yaml(path) for path in EXAMPLES]
    return [doc for doc in docs if doc["kind"] == kind]


def test_there_are_samples_of_both_kinds() -> None:
    assert len(_examples_of("Project")) >= 6 and len(_examples_of("Environment")) >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_sample_validates_against_its_crd(path: Path) -> None:
    doc = load_yaml(path)
    assert doc["apiVersion"] == model.GROUP_VERSION
    assert validation_errors(_schema(doc["kind"]), doc) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_sample_round_trips_through_the_model(path: Path) -> None:
    doc = load_yaml(path)
    parsed = _parse(doc)
    assert parsed.to_wire() == apply_defaults(_schema(doc["kind"]), doc)
    assert _parse(parsed.to_wire()) == parsed


def _templates() -> list[model.Template]:
    projects = [model.Project.model_validate(d) for d in _examples_of("Project")]
    found = [p.template_for(t) for p in projects for t in ("development", "deployment")]
    return [t for t in found if t is not None]


def test_samples_cover_every_template_type_and_flavour() -> None:
    templates = _templates()
    assert {t.type for t in templates} == {"helm", "docker", "docker-compose", "prebuilt"}
    assert any(t.type == "helm" and t.builds and t.values for t in templates)
    assert any(t.type == "helm" and t.values_passthrough for t in templates)
    charts = [t.chart.repository for t in templates if t.chart]
    assert any(r.startswith("oci://") for r in charts) and any(
        r.startswith("https://") for r in charts
    )


def test_docker_sample_uses_the_whole_config_subset() -> None:
    (docker,) = [t for t in _templates() if t.type == "docker"]
    assert docker.builds and docker.config
    config = docker.config.to_wire()
    expected = {"ports", "env", "resources", "livenessProbe", "readinessProbe", "startupProbe"}
    assert expected | {"volumes", "volumeMounts", "initContainers", "services"} <= config.keys()
    assert any("secretKeyRef" in e.get("valueFrom", {}) for e in config["env"])
    assert {s["engine"] for s in config["services"]} == {"postgres", "redis"}


def test_samples_carry_policy_tracked_branches_and_quotas() -> None:
    projects = [model.Project.model_validate(d) for d in _examples_of("Project")]
    assert any(p.spec.previews.command_permissions and p.spec.previews.ttl for p in projects)
    assert any(p.spec.tracked_branches for p in projects)
    assert any(p.spec.resources and p.spec.resources.development for p in projects)


def test_environment_samples_live_in_the_project_namespace_with_labels() -> None:
    envs = [model.Environment.model_validate(d) for d in _examples_of("Environment")]
    by_name = {e.metadata.name: e for e in envs}
    preview = by_name[naming.environment_name(42)]
    assert preview.spec.type == "development" and preview.primary_source.pr_number == 42
    assert any(e.spec.type == "deployment" and e.status for e in envs)
    for env in envs:
        team = (env.metadata.labels or {})[naming.LABEL_TEAM]
        project = env.spec.project_ref.name
        assert env.metadata.namespace == naming.project_namespace(team, project)
        labels = naming.standard_labels(team, project, env.metadata.name)
        assert {k: v for k, v in labels.items() if k != naming.LABEL_MANAGED_BY}.items() <= (
            (env.metadata.labels or {}).items()
        )


# --- what the CRD refuses, the model refuses too -------------------------------------------------

PR_42 = "environment-pr-42.yaml"
BROKEN: dict[str, tuple[list[str | int], Any]] = {
    "unknown field": (["spec", "sourcez"], []),
    "bad enum": (["spec", "type"], "staging"),
    "short sha": (["spec", "sources", 0, "commitSha"], "abc123"),
    "pr number below 1": (["spec", "sources", 0, "prNumber"], 0),
    "repository without owner": (["spec", "github", "repository"], "web"),
    "no sources": (["spec", "sources"], []),
    "port out of range": (["spec", "config", "ports"], [{"containerPort": 70000}]),
}


def _broken(case: str) -> dict[str, Any]:
    doc = load_yaml(example_paths()[0].parent / PR_42)
    path, value = BROKEN[case]
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_crd_and_model_both_refuse(case: str) -> None:
    doc = _broken(case)
    assert validation_errors(_schema("Environment"), doc) != []
    with pytest.raises(ValidationError):
        model.Environment.model_validate(doc)


def test_missing_required_field_is_refused_by_both() -> None:
    doc = load_yaml(example_paths()[0].parent / PR_42)
    del doc["spec"]["projectRef"]
    assert any("projectRef" in e for e in validation_errors(_schema("Environment"), doc))
    with pytest.raises(ValidationError):
        model.Environment.model_validate(doc)


def test_free_form_fields_keep_unknown_content_and_nulls() -> None:
    # Helm uses explicit nulls to delete chart defaults, so they must survive the model.
    doc = load_yaml(example_paths()[0].parent / "project-helm.yaml")
    doc["spec"]["templates"]["development"]["values"]["anything"] = {"deep": [1, {"x": None}]}
    assert validation_errors(_schema("Project"), doc) == []
    wire = model.Project.model_validate(doc).to_wire()
    values = wire["spec"]["templates"]["development"]["values"]
    assert values["anything"] == {"deep": [1, {"x": None}]}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_sample_dockerfiles_are_relative_to_their_build_context(path: Path) -> None:
    """Kaniko resolves --dockerfile under the context sub-path: `path: worker` with
    `dockerfile: worker/Dockerfile` would read worker/worker/Dockerfile."""
    doc = load_yaml(path)
    templates = (doc.get("spec") or {}).get("templates") or {}
    for template in templates.values():
        for build in template.get("builds") or []:
            context = str(build.get("path") or ".").strip("/")
            dockerfile = str(build.get("dockerfile") or "Dockerfile")
            if context not in ("", "."):
                assert not dockerfile.startswith(f"{context}/"), (build["name"], dockerfile)
