"""The `docker-compose` deploy mode: a compose file from the source, translated to objects.

The compose file (the template's `path` when it names a `.yaml`/`.yml` file, else the first of
`compose.yaml`, `compose.yml`, `docker-compose.yml`, `docker-compose.yaml` in that directory)
is read at the exact target commit through the mode's `SourceFetcher` and cached per commit, so
one pass reads it at most once. The pure translation is `reconciler.composefile`; compose keys it
could not translate are named in the `Deployed` condition and in the status message.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from core.errors import ConfigError, NotFound
from core.model import BuildSpec
from reconciler import yamlchild
from reconciler.composefile import (
    COMPOSE_FILENAMES,
    ComposeTarget,
    ComposeTranslation,
    compose_builds,
    compose_document,
    translate,
)
from reconciler.modes import Manifest, ModeContext, ModeIO, Readiness, WorkloadKey, fingerprint_of
from reconciler.modes.common import (
    managed_objects,
    services_ready,
    source_ref,
    template_source,
    with_service_env,
    workloads_ready,
)
from reconciler.modes.docker import COMMIT_ANNOTATION, REDEPLOY_ANNOTATION
from reconciler.sourcerefs import SourceFetcher, SourceRef, clean_path

CACHE_SIZE = 64


class ComposeMode:
    """Deploy a docker-compose application as Deployments, Services, PVCs and Ingress `web`."""

    def __init__(self, fetcher: SourceFetcher) -> None:
        self.fetcher = fetcher
        self._cache: OrderedDict[tuple[SourceRef, str], dict[str, Any]] = OrderedDict()

    def compose_document(self, ctx: ModeContext) -> dict[str, Any]:
        """The parsed compose file at the target commit (cached per source, commit and path)."""
        ref, base = source_ref(ctx), clean_path(ctx.template.path)
        key = (ref, base)
        if key not in self._cache:
            self._cache[key] = self._read(ref, base)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return self._cache[key]

    def _read(self, ref: SourceRef, base: str) -> dict[str, Any]:
        for path in compose_candidates(base):
            try:
                data = self.fetcher.read_file(ref, path)
            except NotFound as exc:
                raise ConfigError(str(exc)) from None
            if data is not None:
                return compose_document(yamlchild.parse(data, what=path), path)
        names = base if is_compose_file(base) else ", ".join(COMPOSE_FILENAMES)
        where = f"{ref.repository_url}@{ref.commit_sha[:7]}"
        raise ConfigError(f"no compose file ({names}) in {base or '/'} of {where}")

    def target(self, ctx: ModeContext) -> ComposeTarget:
        """Where the translation deploys to, from the mode context."""
        app = with_service_env(ctx)
        source, _ = template_source(ctx)
        annotations = {COMMIT_ANNOTATION: ctx.commit_sha}
        if ctx.redeploy_nonce:
            annotations[REDEPLOY_ANNOTATION] = ctx.redeploy_nonce
        return ComposeTarget(
            namespace=ctx.namespace,
            labels=ctx.labels,
            source_ref=source.name,
            base_path=compose_directory(ctx.template.path) or None,
            images=ctx.images,
            expose=ctx.template.expose,
            host=ctx.host,
            ingress_class=ctx.settings.ingress_class,
            tls_secret=ctx.settings.ingress_tls_secret,
            ingress_annotations=ctx.settings.ingress_annotations,
            env=tuple(app.config.env or ()),
            resources=ctx.config.resources,
            pod_annotations=annotations,
        )

    def translation(self, ctx: ModeContext) -> ComposeTranslation:
        """The full translation (needs every build's image)."""
        return translate(self.compose_document(ctx), self.target(ctx))

    def builds(self, ctx: ModeContext) -> list[BuildSpec]:
        """One build per compose service with `build:`."""
        return compose_builds(self.compose_document(ctx), self.target(ctx))

    def desired_objects(self, ctx: ModeContext) -> list[Manifest]:
        """Managed services plus the translated PVCs, Deployments, Services and Ingress."""
        return [*managed_objects(ctx), *self.translation(ctx).objects]

    def apply(self, ctx: ModeContext, io: ModeIO) -> None:
        """Nothing imperative."""

    def readiness(self, ctx: ModeContext, workloads: Mapping[WorkloadKey, Manifest]) -> Readiness:
        """Every service rolled out; untranslated compose keys are named in the message."""
        translation = self.translation(ctx)
        state = services_ready(ctx, workloads) or _compose_ready(translation, workloads)
        if not translation.unsupported:
            return state
        warning = "not translated: " + "; ".join(translation.unsupported)
        return dataclasses.replace(
            state, message=f"{state.message}; {warning}", warnings=(*state.warnings, warning)
        )

    def teardown(self, ctx: ModeContext, io: ModeIO) -> None:
        """Nothing: deleting the namespace removes every object."""

    def fingerprint(self, ctx: ModeContext) -> str:
        """Hash of the desired objects."""
        return fingerprint_of(self.desired_objects(ctx))


def is_compose_file(path: str) -> bool:
    """Whether a template `path` names the compose file itself rather than its directory."""
    return path.endswith((".yaml", ".yml"))


def compose_candidates(base: str) -> list[str]:
    """The paths to try, in order: `base` itself when it is a file, else the standard names."""
    if is_compose_file(base):
        return [base]
    return [f"{base}/{name}" if base else name for name in COMPOSE_FILENAMES]


def compose_directory(path: str | None) -> str:
    """The directory build contexts are relative to: the compose file's own directory."""
    base = clean_path(path)
    return posixpath.dirname(base) if is_compose_file(base) else base


def _compose_ready(
    translation: ComposeTranslation, workloads: Mapping[WorkloadKey, Manifest]
) -> Readiness:
    wanted = [
        ("Deployment", o["metadata"]["name"])
        for o in translation.objects
        if o["kind"] == "Deployment"
    ]
    missing = [name for kind, name in wanted if (kind, name) not in workloads]
    if missing:
        return Readiness(False, "WorkloadMissing", f"Deployment {missing[0]} not created yet")
    return workloads_ready({k: workloads[k] for k in wanted})
