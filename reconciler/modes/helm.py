"""Helm deploy mode: `helm upgrade --install` of a chart, managed or passthrough.

Pure parts build the values and the chart location; `apply` and `teardown` drive the helm CLI
through `io.helm` (a `reconciler.helm.Helm`) and fetch a chart kept in a project source at the
exact target commit through the `SourceFetcher` the mode was built with.

Managed values = template values, then `global.images.<build>.{repository,tag}`, the resolved
env as an `env` map (plain values) and as `global.catalyst.env` (full Kubernetes env list, with
`valueFrom` and managed-service connection variables), the standard labels as `global.labels`,
and the preview's host/URL/namespace/commit under `global.catalyst`. Passthrough
(`valuesPassthrough: true`) passes the template's values untouched and injects nothing.

A chart is never installed with the reconciler's rights: it is rendered offline (`helm
template`, so `lookup` sees nothing), every object is checked by `reconciler.confinement` (kinds,
namespace, ServiceAccounts, Ingress hosts), and the checked objects, as a chart of static files,
are installed, upgraded, rolled back and uninstalled as the namespace's deployer ServiceAccount
(`--kube-as-user`). A Project with `security.forkCharts: refuse` deploys no in-repo chart of a
fork.

The release description records the fingerprint of what was deployed: `apply` upgrades only
when the latest revision is not `deployed` from that same fingerprint, so passes that change
nothing make no new revision. A release left `pending-*` by a crash is rolled back (or
uninstalled when it never installed) before the upgrade.

Helm does not wait (no `--wait`): `apply` returns as soon as the API server accepted the
objects, with the revision and the Deployments/StatefulSets of its manifest for
`status.release`. Readiness is then judged level-triggered on the following passes from exactly
those workloads, with the rules every mode shares (`workloads_ready`; pods of the new revision
that cannot run fail it, see `reconciler.rollout`). A release without workloads is Ready once
helm created its objects. Why the keys live in the status: a reconcile that changed nothing must
not run helm (a subprocess per pass and preview), and they cannot change without a new
revision, which only `apply` makes; so they are taken from the install's own output (`helm
upgrade --output json` prints the manifest) and read with `helm get manifest` at most once per
revision, when a status write was lost after the upgrade.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core import naming, safeyaml
from core.errors import ConfigError, NotFound
from core.model import BuildSpec, ReleaseStatus
from reconciler import yamlchild
from reconciler.confinement import Boundary, confine, deployer_user
from reconciler.helm import (
    DESCRIPTION_PREFIX,
    PENDING_STATES,
    ChartSource,
    Helm,
    Release,
    ReleaseSpec,
    is_current,
)
from reconciler.modes import (
    Manifest,
    ModeContext,
    ModeIO,
    Readiness,
    WorkloadKey,
    fingerprint_of,
    workload_key,
)
from reconciler.modes.common import (
    managed_objects,
    services_ready,
    source_ref,
    template_source,
    with_service_env,
    workloads_ready,
)
from reconciler.sourcerefs import SourceFetcher, clean_path

HELM_TIMEOUT_SECONDS = 300
MAX_CHART_YAML_FILES = 64  # Chart.yaml and values files of a chart and its unpacked subcharts
RENDERED_CHART = """apiVersion: v2
name: catalyst-rendered
description: A preview's chart, rendered offline and checked by catalyst-preview.
version: 0.1.0
"""
# The checked objects are a file of the chart, not a template: nothing in them is templated again.
RENDERED_TEMPLATE = '{{ .Files.Get "rendered.yaml" }}\n'
WORKLOAD_KINDS = ("Deployment", "StatefulSet")  # what `workloads_ready` and rollout.py judge


class ForkChartRefused(ConfigError):
    """The Project does not deploy charts kept in a fork's repository."""

    reason = "ForkChartRefused"


def write_rendered_chart(directory: Path, objects: list[Manifest]) -> Path:
    """A chart whose only content is `objects` verbatim (JSON documents, which helm reads)."""
    (directory / "templates").mkdir(parents=True)
    (directory / "Chart.yaml").write_text(RENDERED_CHART, encoding="utf-8")
    (directory / "templates" / "rendered.yaml").write_text(RENDERED_TEMPLATE, encoding="utf-8")
    documents = (json.dumps(o, ensure_ascii=False, sort_keys=True) for o in objects)
    (directory / "rendered.yaml").write_text("\n---\n".join(documents) + "\n", encoding="utf-8")
    return directory


def rendered_objects(rendered: str, ctx: ModeContext) -> list[Manifest]:
    """The objects of a `helm template` stream, confined to the preview (Refused otherwise)."""
    docs = safeyaml.load_all(rendered, what="rendered chart", limits=safeyaml.RENDERED_LIMITS)
    stray = [d for d in docs if not isinstance(d, dict)]
    if stray:
        raise ConfigError(f"rendered chart holds a non-object document: {str(stray[0])[:80]!r}")
    return confine(docs, Boundary(ctx.namespace, ctx.host))


def split_image(ref: str) -> dict[str, str]:
    """`repository`/`tag` of an image ref, split at the last colon (a port is not a tag)."""
    if "@" in ref:
        repository, digest = ref.split("@", 1)
        return {"repository": repository, "tag": "", "digest": digest}
    head, sep, tail = ref.rpartition(":")
    if not sep or "/" in tail:
        return {"repository": ref, "tag": "latest"}
    return {"repository": head, "tag": tail}


def deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overlay` merged in (maps merge recursively, anything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def catalyst_values(ctx: ModeContext) -> dict[str, Any]:
    """What we tell a chart about the preview under `global.catalyst`."""
    app = with_service_env(ctx)
    values: dict[str, Any] = {
        "host": ctx.host,
        "url": f"https://{ctx.host}/",
        "namespace": ctx.namespace,
        "environment": ctx.environment.metadata.name,
        "commitSha": ctx.commit_sha,
        "ingressClass": ctx.settings.ingress_class,
        "env": [v.model_dump(by_alias=True, exclude_none=True) for v in app.config.env or []],
    }
    if ctx.settings.ingress_tls_secret:
        values["tlsSecret"] = ctx.settings.ingress_tls_secret
    if ctx.settings.cert_issuer:
        values["certIssuer"] = ctx.settings.cert_issuer
    return values


def injected_values(ctx: ModeContext) -> dict[str, Any]:
    """Only what catalyst-preview adds on top of the template's values."""
    plain_env = {v.name: v.value for v in ctx.config.env or [] if v.value is not None}
    overlay: dict[str, Any] = {
        "global": {
            "images": {name: split_image(ref) for name, ref in sorted(ctx.images.items())},
            "labels": dict(ctx.labels),
            "catalyst": catalyst_values(ctx),
        }
    }
    if plain_env:
        overlay["env"] = plain_env
    return overlay


def helm_values(ctx: ModeContext) -> dict[str, Any]:
    """The values of the release: the template's alone (passthrough) or with ours merged in."""
    base = copy.deepcopy(ctx.template.values or {})
    if ctx.template.values_passthrough:
        return base
    return deep_merge(base, injected_values(ctx))


def values_document(ctx: ModeContext) -> str:
    """The values file (JSON, which helm reads as YAML), byte-stable for equal values."""
    return json.dumps(helm_values(ctx), ensure_ascii=False, separators=(",", ":"))


def remote_chart(ctx: ModeContext) -> ChartSource | None:
    """The chart of `template.chart` (https repository or OCI), None for a chart in a source."""
    ref = ctx.template.chart
    if ref is None:
        return None
    if ref.repository.startswith("oci://"):
        chart = f"{ref.repository.rstrip('/')}/{ref.name}" if ref.name else ref.repository
        return ChartSource(chart, version=ref.version)
    if not ref.name:
        raise ConfigError("chart.name is required for a chart repository (only oci:// omits it)")
    if not ref.repository.startswith(("https://", "http://")):
        raise ConfigError(f"chart.repository {ref.repository!r} must be https:// or oci://")
    return ChartSource(ref.name, repo=ref.repository, version=ref.version)


def chart_identity(ctx: ModeContext) -> dict[str, Any]:
    """What identifies the chart: its reference, or the source, commit and path it lives at."""
    remote = remote_chart(ctx)
    if remote is not None:
        return {"chart": remote.chart, "repo": remote.repo, "version": remote.version}
    source, env_source = template_source(ctx)
    return {
        "repository": source.repository_url,
        "commit": env_source.commit_sha,
        "path": clean_path(ctx.template.path),
    }


def chart_yaml_files(chart_dir: Path) -> list[Path]:
    """The YAML files helm itself parses in a chart tree: Chart.yaml and the values files."""
    wanted = {"chart.yaml", "values.yaml", "values.yml"}
    found = [p for p in sorted(chart_dir.rglob("*")) if p.is_file() and p.name.lower() in wanted]
    if len(found) > MAX_CHART_YAML_FILES:
        raise ConfigError(f"the chart holds more than {MAX_CHART_YAML_FILES} values files")
    return found


def check_chart_yaml(chart_dir: Path) -> None:
    """Refuse a PR's chart whose Chart.yaml or values files are unsafe YAML, before helm reads them.

    The same rules as compose files (aliases refused; file, value and depth capped) in the same
    bounded child process: helm would expand an alias bomb in its own memory, beside the
    reconciler. Packaged subcharts (`charts/*.tgz`) are helm's to unpack and stay unchecked.
    """
    for path in chart_yaml_files(chart_dir):
        yamlchild.parse(path.read_bytes(), what=f"chart {path.relative_to(chart_dir)}")


class HelmMode:
    """Deploy a Helm chart as release `<environment name>` in the environment namespace."""

    def __init__(self, fetcher: SourceFetcher | None, timeout_seconds: int = HELM_TIMEOUT_SECONDS):
        self.fetcher = fetcher
        self.timeout_seconds = timeout_seconds

    def builds(self, ctx: ModeContext) -> list[BuildSpec]:
        """The template's builds; their images go to `global.images.<build>`."""
        return list(ctx.template.builds or [])

    def desired_objects(self, ctx: ModeContext) -> list[Manifest]:
        """Managed services only; the chart's objects belong to helm."""
        return managed_objects(ctx)

    def fingerprint(self, ctx: ModeContext) -> str:
        """Hash of chart identity, values, release and redeploy nonce."""
        return fingerprint_of(
            chart_identity(ctx),
            values_document(ctx),
            naming.release_name(ctx.environment.metadata.name),
            ctx.redeploy_nonce,
            self.timeout_seconds,
            managed_objects(ctx),
        )

    def apply(self, ctx: ModeContext, io: ModeIO) -> ReleaseStatus:
        """Repair a pending release, then render, check and upgrade as the deployer.

        Nothing is written when this exact state is already deployed. Returns at once (no
        `--wait`) with the deployed revision and its workloads, for `status.release`.
        """
        helm = _helm_of(io).impersonating(deployer_user(ctx.namespace))
        release, fingerprint = (
            naming.release_name(ctx.environment.metadata.name),
            self.fingerprint(ctx),
        )
        revisions = helm.history(release, ctx.namespace)
        if revisions and revisions[-1].status in PENDING_STATES:
            helm.repair_pending(release, ctx.namespace)
        elif is_current(revisions, fingerprint):
            revision = revisions[-1].revision
            known = recorded_release(ctx)
            if known is not None and known.revision == revision:
                return known
            return release_status(release, helm.manifest(release, ctx.namespace, revision))
        return release_status(release, self._upgrade(ctx, helm, release, fingerprint))

    def _upgrade(self, ctx: ModeContext, helm: Helm, release: str, fingerprint: str) -> Release:
        """Render offline, confine, and `upgrade --install` the checked objects."""
        with tempfile.TemporaryDirectory(prefix="catalyst-chart-") as tmp:
            workdir = Path(tmp)
            values_file = workdir / "values.json"
            values_file.write_text(values_document(ctx), encoding="utf-8")
            rendered = helm.template(release, ctx.namespace, self.chart(ctx, workdir), values_file)
            static = write_rendered_chart(workdir / "rendered", rendered_objects(rendered, ctx))
            spec = ReleaseSpec(
                release=release,
                namespace=ctx.namespace,
                chart=ChartSource(str(static)),
                values_file=values_file,
                timeout_seconds=self.timeout_seconds,
                description=DESCRIPTION_PREFIX + fingerprint,
                labels=dict(ctx.labels),
            )
            return helm.upgrade_install(spec)

    def chart(self, ctx: ModeContext, workdir: Path) -> ChartSource:
        """The remote chart, or the chart directory fetched from the source at the commit."""
        remote = remote_chart(ctx)
        if remote is not None:
            return remote
        if self.fetcher is None:
            raise ConfigError("helm mode has no source fetcher configured")
        fork = ctx.environment.primary_source.fork
        if fork and ctx.project.spec.security.fork_charts == "refuse":
            raise ForkChartRefused(
                "this project does not deploy a chart from a fork's repository "
                "(spec.security.forkCharts: refuse); use a chart repository (template.chart)"
            )
        ref, path = source_ref(ctx), clean_path(ctx.template.path)
        try:
            chart_dir = self.fetcher.export(ref, path, workdir / "chart")
        except NotFound:
            raise ConfigError(
                f"chart not found at {path or '/'} in {ref.repository_url}@{ref.commit_sha[:7]}"
            ) from None
        if not (chart_dir / "Chart.yaml").is_file():
            raise ConfigError(f"{path or '/'} at {ref.commit_sha[:7]} has no Chart.yaml")
        check_chart_yaml(chart_dir)
        return ChartSource(str(chart_dir))

    def readiness(self, ctx: ModeContext, workloads: Mapping[WorkloadKey, Manifest]) -> Readiness:
        """Managed services ready, then every workload of the deployed release rolled out.

        Never in the pass that upgrades: what it observed predates the upgrade (a release with
        no workload is then Ready on the next pass, its objects created by helm).
        """
        if ctx.applying:
            release = naming.release_name(ctx.environment.metadata.name)
            message = f"helm release {release} applied; waiting for its workloads"
            return Readiness(False, "ReleaseApplied", message, stale=True)
        waiting = services_ready(ctx, workloads)
        if waiting is not None:
            return waiting
        recorded = recorded_release(ctx)
        if recorded is None:  # installed by a version that waited (`--wait`) and kept no record
            return workloads_ready(workloads)
        return release_ready(recorded, workloads)

    def teardown(self, ctx: ModeContext, io: ModeIO) -> None:
        """`helm uninstall` (a missing release is fine)."""
        helm = _helm_of(io).impersonating(deployer_user(ctx.namespace))
        helm.uninstall(naming.release_name(ctx.environment.metadata.name), ctx.namespace)


def workload_keys(manifest: str) -> list[str]:
    """`Kind/name` of every Deployment and StatefulSet of a release manifest, sorted."""
    docs = safeyaml.load_all(manifest, what="release manifest", limits=safeyaml.RENDERED_LIMITS)
    return sorted(
        {
            f"{d['kind']}/{(d.get('metadata') or {})['name']}"
            for d in docs
            if isinstance(d, dict)
            and d.get("kind") in WORKLOAD_KINDS
            and (d.get("metadata") or {}).get("name")
        }
    )


def release_status(name: str, release: Release) -> ReleaseStatus:
    """What `status.release` keeps of a revision helm printed."""
    return ReleaseStatus(
        name=name, revision=release.revision, workloads=workload_keys(release.manifest)
    )


def recorded_release(ctx: ModeContext) -> ReleaseStatus | None:
    """The release revision the status recorded for this Environment (None: none yet)."""
    status = ctx.environment.status
    recorded = status.release if status else None
    name = naming.release_name(ctx.environment.metadata.name)
    if recorded is None or recorded.name != name or recorded.workloads is None:
        return None
    return recorded


def release_ready(release: ReleaseStatus, workloads: Mapping[WorkloadKey, Manifest]) -> Readiness:
    """Every workload of the release exists and is rolled out (Ready at once without any)."""
    keys = [workload_key(k) for k in release.workloads or []]
    missing = [k for k in keys if k not in workloads]
    if missing:
        kind, name = missing[0]
        return Readiness(
            False,
            "WorkloadMissing",
            f"{kind} {name} of helm release {release.name} is gone; "
            "comment `/catalyst redeploy` to install it again",
        )
    state = workloads_ready({k: workloads[k] for k in keys})
    if not state.ready:
        return state
    where = f"helm release {release.name} revision {release.revision}"
    return Readiness(True, "RolloutComplete", f"{where}: {len(keys)} workload(s) available")


def _helm_of(io: ModeIO) -> Helm:
    if not isinstance(io.helm, Helm):
        raise ConfigError("helm mode needs a Helm client in ModeIO.helm")
    return io.helm
