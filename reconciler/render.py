"""Shell: `catalyst-preview render` prints the manifests the reconciler would apply, no cluster.

    catalyst-preview render PROJECT.yaml [ENVIRONMENT.yaml | --pr N --sha SHA [--commit NAME=SHA]]
        [--type development|deployment] [--source NAME=DIR ...] [--settings-from-env]

(also `python -m reconciler.render`). Every manifest for one Environment is printed as
multi-document YAML on stdout; the Environment must belong to the Project (its projectRef).

The planner's own builders produce the objects (namespace, quota, limit range, network policies,
pull secret and service account, build Jobs with a placeholder git-token Secret, then the deploy
mode's objects), so what is printed is what a reconcile would write. Sources (compose files,
charts kept in the repository) are read from `--source NAME=DIR`, a checkout of the project's
source NAME at the Environment's commit. With `--pr`, the template's source is the PR's at
`--sha`; each other source of a multi-source Project that a build or the template reads needs
its commit from `--commit NAME=SHA` (repeatable; the workers resolve its branch head, the
renderer has no GitHub). A helm template is rendered with the real `helm
template` (helm from CATALYST_HELM_BIN, PATH, or `.tools/bin/helm` as scripts/bootstrap.sh
installs it); a chart from a chart repository or registry needs the network. When the chart cannot
be reached, the values file the reconciler would pass is printed as a YAML comment and a note goes
to stderr. Progress and notes go to stderr; bad input stops with exit code 2, every problem on its
own line.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import SecretStr, ValidationError

from core import naming
from core.errors import CatalystError, ConfigError, NotFound
from core.model import Environment, EnvironmentSource, Project
from core.previews import new_environment
from core.settings import Settings, SettingsError, load_settings
from reconciler import manifests
from reconciler.actions import CreateBuild
from reconciler.builds import build_sha, plan_builds
from reconciler.context import Blocked, Observed, build_context
from reconciler.helm import CliHelmRunner, Helm, resolve_helm_bin
from reconciler.infra import infra_objects, namespace_manifest, referenced_secrets
from reconciler.modes import Manifest, ModeContext, ModeSettings
from reconciler.modes.common import SourceMissing
from reconciler.modes.helm import HelmMode, values_document
from reconciler.modes.install import deploy_modes
from reconciler.modes.registry import ModeRegistry, mode_for
from reconciler.sourcerefs import SourceRef, clean_path, repository_of

TOKEN_PLACEHOLDER = "placeholder-minted-at-build-time"
PULL_SECRET_PLACEHOLDER = base64.b64encode(b'{"auths":{}}').decode()


class RenderError(Exception):
    """Input the renderer cannot use; the message is the one line printed."""


def note(message: str) -> None:
    """Progress and notes for the person at the terminal (stderr, never mixed into stdout)."""
    print(f"render: {message}", file=sys.stderr, flush=True)


# --- inputs --------------------------------------------------------------------------------------


def load_document(path: Path, what: str) -> dict[str, Any]:
    """The single YAML document in `path`."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise RenderError(f"cannot read {what} {path}: {exc}") from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise RenderError(f"{what} {path} must hold exactly one YAML mapping")
    return docs[0]


def load_project(path: Path) -> Project:
    """The Project CR in `path`."""
    raw = load_document(path, "project")
    try:
        project = Project.model_validate(raw)
    except ValidationError as exc:
        raise RenderError(f"project {path} is invalid: {every_error(exc)}") from None
    if not project.metadata.namespace:
        raise RenderError(f"project {path} needs metadata.namespace (its team)")
    return project


def every_error(exc: ValidationError) -> str:
    """Every validation error, one `field: message` line each, after a count."""
    lines = [
        f"  {'.'.join(str(p) for p in error['loc']) or '(document)'}: {error['msg']}"
        for error in exc.errors()
    ]
    return "\n".join([f"{exc.error_count()} error(s):", *lines])


def load_environment(path: Path) -> dict[str, Any]:
    """The raw Environment CR in `path`."""
    return load_document(path, "environment")


def pr_environment(
    project: Project,
    pr: int,
    sha: str,
    env_type: Literal["development", "deployment"],
    commits: dict[str, str] | None = None,
) -> Environment:
    """The Environment the workers would create for pull request `pr` at commit `sha` (of the
    template's source), with `commits` (source name -> SHA) for the Project's other sources."""
    template = project.template_for(env_type)
    if template is None:
        raise RenderError(f"project has no {env_type!r} template")
    source = project.source_named(template.source_ref) or project.primary_source
    owner, repo = repository_of(source.repository_url)
    name = naming.preview_environment_name(project, f"{owner}/{repo}", pr)
    return new_environment(
        project=project,
        name=name,
        type=env_type,
        # the PR's head branch is not known here: the Environment's name stands in for it
        source=EnvironmentSource(name=source.name, commit_sha=sha, branch=name, pr_number=pr),
        repository=f"{owner}/{repo}",
        installation_id=project.spec.github_installation_id or 1,
        others=other_commits(project, source.name, commits or {}),
    )


def other_commits(project: Project, own: str, commits: dict[str, str]) -> list[EnvironmentSource]:
    """Entries for the Project's other sources given a commit (`--commit NAME=SHA`)."""
    unknown = sorted(set(commits) - {s.name for s in project.spec.sources})
    if unknown:
        raise RenderError(f"--commit {unknown[0]}: the project has no source of that name")
    return [
        EnvironmentSource(name=s.name, commit_sha=commits[s.name], branch=s.branch)
        for s in project.spec.sources
        if s.name != own and s.name in commits
    ]


def check_belongs(env: Environment, project: Project) -> Environment:
    """The Environment, when its projectRef names this Project (else the pairing is a mistake)."""
    wanted, named = project.metadata.name, env.spec.project_ref.name
    if named != wanted:
        raise RenderError(
            f"environment {env.metadata.name} belongs to project {named!r} (spec.projectRef), "
            f"not to {wanted!r}: pass that project's file, or --pr N --sha SHA for a preview "
            f"of {wanted!r}"
        )
    return env


def as_environment(raw: dict[str, Any], project: Project) -> Environment:
    """The Environment, labelled with the project's team when its labels lack one."""
    meta = raw.setdefault("metadata", {})
    labels = meta.setdefault("labels", {}) or {}
    labels.setdefault(naming.LABEL_TEAM, str(project.metadata.namespace))
    meta["labels"], meta["finalizers"] = labels, [naming.FINALIZER]
    try:
        return Environment.model_validate(raw)
    except ValidationError as exc:
        raise RenderError(f"environment is invalid: {every_error(exc)}") from None


# --- sources -------------------------------------------------------------------------------------


class DirectorySources:
    """A `SourceFetcher` over local checkouts: project source NAME -> DIR (`--source`)."""

    def __init__(self, project: Project, dirs: dict[str, Path]) -> None:
        by_url = {s.repository_url: s.name for s in project.spec.sources}
        self.names, self.dirs = by_url, dirs
        self.missing: set[str] = set()

    def _root(self, ref: SourceRef) -> Path:
        name = self.names.get(ref.repository_url, ref.repository_url)
        if name not in self.dirs:
            self.missing.add(name)
            raise NotFound(f"source {name!r} is needed: pass --source {name}=DIR (a checkout)")
        return self.dirs[name]

    def missing_hint(self) -> str:
        """How to give the sources that were asked for but not passed ('' when none)."""
        return " ".join(f"pass --source {n}=DIR;" for n in sorted(self.missing))

    def read_file(self, ref: SourceRef, path: str) -> bytes | None:
        """The file's bytes, or None when the checkout has no such file."""
        target = self._root(ref) / clean_path(path)
        note(f"reading {target}")
        return target.read_bytes() if target.is_file() else None

    def export(self, ref: SourceRef, path: str, dest: Path) -> Path:
        """Copy directory `path` of the checkout to `dest`."""
        source = self._root(ref) / clean_path(path)
        if not source.is_dir():
            raise NotFound(f"{source} is not a directory")
        shutil.copytree(source, dest)
        return dest


def parse_sources(values: Sequence[str]) -> dict[str, Path]:
    """`NAME=DIR` pairs; every DIR must exist."""
    dirs: dict[str, Path] = {}
    for value in values:
        name, sep, directory = value.partition("=")
        if not sep or not name or not directory:
            raise RenderError(f"--source {value!r}: expected NAME=DIR")
        if not Path(directory).is_dir():
            raise RenderError(f"--source {name}: {directory} is not a directory")
        dirs[name] = Path(directory)
    return dirs


# --- settings ------------------------------------------------------------------------------------


def render_settings(from_env: bool) -> Settings:
    """The process settings (`--settings-from-env`), else the documented defaults."""
    if not from_env:
        return Settings.model_construct(webhook_secret=SecretStr("unused-by-render"))
    try:
        return load_settings()
    except SettingsError as exc:
        raise RenderError(str(exc)) from None


def mode_settings(settings: Settings) -> ModeSettings:
    """The pure settings of the planner (the same subset the reconciler process uses)."""
    from reconciler.__main__ import mode_settings as process_mode_settings

    return process_mode_settings(settings)


# --- rendering -----------------------------------------------------------------------------------


def observed(
    env: Environment, project: Project, settings: ModeSettings, modes: ModeRegistry
) -> Observed:
    """What a reconcile would observe in a cluster holding only the team's pull secret."""
    pull = {
        "metadata": {"name": manifests.PULL_SECRET, "namespace": project.metadata.namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": PULL_SECRET_PLACEHOLDER},
    }
    return Observed(
        environment=env,
        project=project,
        settings=settings,
        team_pull_secret=pull,
        children_read=True,
        modes=modes,
    )


def build_objects(ctx: ModeContext, obs: Observed) -> tuple[list[Manifest], dict[str, str]]:
    """Each build's token Secret (placeholder) and Job, and the images they push."""
    mode = mode_for(ctx.template.type, obs.modes)
    objects: list[Manifest] = []
    for action in plan_builds(ctx, mode, obs).actions:
        if not isinstance(action, CreateBuild):
            continue
        meta = action.job["metadata"]
        if action.installation_id is not None:
            objects.append(
                manifests.git_token_secret(
                    meta["namespace"], meta["labels"], meta["name"], TOKEN_PLACEHOLDER
                )
            )
        objects.append(action.job)
    images = {
        b.name: manifests.image_ref(
            ctx.settings.registry, ctx.team, ctx.project.metadata.name, b.name, build_sha(ctx, b)
        )
        for b in mode.builds(ctx)
    }
    return objects, images


def render(obs: Observed, helm: Helm, sources: DirectorySources) -> Iterator[Manifest | str]:
    """Every manifest (or, for an unreachable chart, a YAML comment) in apply order."""
    try:
        ctx, mode = build_context(obs)
    except Blocked as exc:
        raise RenderError(f"{exc.reason}: {exc}") from None
    yield namespace_manifest(ctx)
    yield from infra_objects(ctx, obs)
    skipped = sorted(referenced_secrets(ctx.config))
    if skipped and not ctx.environment.primary_source.fork:
        note(f"app Secrets {', '.join(skipped)} are copied from {ctx.project.metadata.namespace}")
    note(f"planning builds for {naming.short_sha(ctx.commit_sha)}")
    builds, images = build_objects(ctx, obs)
    yield from builds
    deploy_ctx = dataclasses.replace(ctx, images=images)
    yield from mode.desired_objects(deploy_ctx)
    if isinstance(mode, HelmMode):
        yield from helm_objects(mode, deploy_ctx, helm, sources)


def helm_objects(
    mode: HelmMode, ctx: ModeContext, helm: Helm, sources: DirectorySources
) -> Iterator[Manifest | str]:
    """`helm template` of the release, or the values file as a comment when that fails."""
    release = naming.release_name(ctx.environment.metadata.name)
    values = values_document(ctx)
    with tempfile.TemporaryDirectory(prefix="catalyst-render-") as tmp:
        workdir = Path(tmp)
        values_file = workdir / "values.json"
        values_file.write_text(values, encoding="utf-8")
        try:
            chart = mode.chart(ctx, workdir)
            note(f"helm template {release} {chart.chart}")
            rendered = helm.template(release, ctx.namespace, chart, values_file)
        except CatalystError as exc:
            hint = sources.missing_hint()
            note(f"chart not rendered ({exc}); {hint}{network_hint(ctx)} printing the values file")
            yield values_comment(release, values)
            return
    for doc in yaml.safe_load_all(rendered):
        if isinstance(doc, dict):
            yield doc


def network_hint(ctx: ModeContext) -> str:
    """For a chart from a chart repository or registry: rendering it needs the network."""
    chart = ctx.template.chart
    if chart is None:
        return ""
    return f" the chart comes from {chart.repository}, which needs network access;"


def values_comment(release: str, values: str) -> str:
    """The values file the reconciler passes to `helm --values`, verbatim, as a YAML comment."""
    lines = values.splitlines() or [""]
    body = "\n".join(f"# {line}" for line in lines)
    return f"# values file of helm release {release} (the chart was not rendered):\n{body}\n"


def to_yaml(items: Sequence[Manifest | str]) -> str:
    """A multi-document YAML stream; comments stand alone between documents."""
    parts = []
    for item in items:
        if isinstance(item, str):
            parts.append(item)
        else:
            parts.append("---\n" + yaml.safe_dump(item, sort_keys=False))
    return "".join(parts)


# --- command line --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="catalyst-preview render",
        description="Print every manifest the reconciler would apply for one Environment of a "
        "Project, without a cluster (YAML on stdout, notes on stderr).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("project", type=Path, help="Project CR (YAML file)")
    parser.add_argument(
        "environment", type=Path, nargs="?", help="Environment CR of that project (YAML file)"
    )
    parser.add_argument("--pr", type=int, help="instead: the preview of this PR number")
    parser.add_argument("--sha", help="commit SHA of the PR head (with --pr)")
    parser.add_argument(
        "--commit",
        action="append",
        default=[],
        metavar="NAME=SHA",
        help="with --pr: the commit of another source of a multi-source project",
    )
    parser.add_argument(
        "--type",
        default="development",
        choices=("development", "deployment"),
        help="which template --pr renders",
    )
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="a checkout of project source NAME at the commit (compose files, in-repo charts)",
    )
    parser.add_argument(
        "--settings-from-env",
        action="store_true",
        help="use the CATALYST_* settings (registry, domain, ...) instead of the defaults",
    )
    return parser.parse_args(argv)


def environment_of(ns: argparse.Namespace, project: Project) -> Environment:
    """The Environment from its file or from `--pr`/`--sha`."""
    if ns.environment is not None:
        return check_belongs(as_environment(load_environment(ns.environment), project), project)
    if ns.pr is None or not ns.sha:
        raise RenderError("give an ENVIRONMENT.yaml or --pr N --sha SHA")
    if ns.pr < 1 or len(ns.sha) < 7:
        raise RenderError("--pr must be positive and --sha a commit SHA")
    commits = parse_commits(ns.commit)
    env = pr_environment(project, ns.pr, ns.sha, ns.type, commits)
    return as_environment(env.model_dump(by_alias=True, exclude_none=True), project)


def parse_commits(values: Sequence[str]) -> dict[str, str]:
    """`NAME=SHA` pairs (`--commit`)."""
    commits: dict[str, str] = {}
    for value in values:
        name, sep, sha = value.partition("=")
        if not sep or not name or not sha:
            raise RenderError(f"--commit {value!r}: expected NAME=SHA")
        commits[name] = sha
    return commits


def find_helm(configured: str) -> str:
    """The configured helm; a bare `helm` not on PATH falls back to `.tools/bin/helm`."""
    if os.sep in configured or shutil.which(configured):
        return resolve_helm_bin(configured)
    bundled = Path(__file__).resolve().parents[1] / ".tools" / "bin" / configured
    return str(bundled) if bundled.is_file() else configured


def run(argv: Sequence[str] | None = None) -> str:
    """The rendered YAML stream for the command line `argv`."""
    ns = parse_args(argv)
    settings = render_settings(ns.settings_from_env)
    project = load_project(ns.project)
    env = environment_of(ns, project)
    sources = DirectorySources(project, parse_sources(ns.source))
    helm_bin = find_helm(os.environ.get("CATALYST_HELM_BIN") or settings.helm_bin)
    helm = Helm(CliHelmRunner(), helm_bin)
    obs = observed(env, project, mode_settings(settings), deploy_modes(sources))
    try:
        return to_yaml(list(render(obs, helm, sources)))
    except SourceMissing as exc:
        raise RenderError(f"{exc}; pass --commit NAME=SHA for it") from None
    except ConfigError as exc:
        raise RenderError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Print the manifests; 2 with one line on stderr for unusable input."""
    try:
        sys.stdout.write(run(argv))
    except RenderError as exc:
        print(f"catalyst-preview render: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
