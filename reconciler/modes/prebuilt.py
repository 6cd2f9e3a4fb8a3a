"""Pure: the `prebuilt` deploy mode: run an image built elsewhere, tagged by commit (no I/O).

Nothing is built. The image is the template's `image` repository with the tag taken from the
Environment's `imageTag` when set, else the target commit SHA; it is deployed exactly like the
`docker` mode (Deployment, Service and Ingress `web`), plus any managed services; a template
whose config lists no port (a worker, a queue consumer) gets the Deployment alone. A tag that
does not exist shows up when the rollout stalls: readiness reports it failed (`ImageUnavailable`),
so the Environment turns Failed until a new commit or redeploy rolls out something else.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.errors import ConfigError
from core.model import BuildSpec
from reconciler.modes import (
    Manifest,
    ModeContext,
    ModeIO,
    Readiness,
    WorkloadKey,
    deployment_rolled_out,
    docker,
    fingerprint_of,
)
from reconciler.modes.common import managed_objects, services_ready, with_service_env

_PULL_FAILURES = (
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ProgressDeadlineExceeded",
)


def image_repository(ctx: ModeContext) -> str:
    """The template's image repository; ConfigError when missing or already tagged."""
    repository = (ctx.template.image or "").strip()
    if not repository:
        raise ConfigError("prebuilt template needs `image` (a repository, e.g. ghcr.io/org/app)")
    last = repository.rsplit("/", 1)[-1]
    if "@" in repository or ":" in last:
        raise ConfigError(f"prebuilt template image {repository!r} must not carry a tag or digest")
    return repository


def image_tag(ctx: ModeContext) -> str:
    """The Environment's explicit `imageTag`, else the full target commit SHA."""
    return ctx.environment.spec.image_tag or ctx.commit_sha


def prebuilt_image(ctx: ModeContext) -> str:
    """`<repository>:<tag>`."""
    return f"{image_repository(ctx)}:{image_tag(ctx)}"


def stalled_reason(deployment: Manifest | None) -> str | None:
    """The Deployment's failure message when its current rollout reports one (deadline exceeded).

    A condition left from an older generation (before a new tag was applied) does not count.
    """
    status = (deployment or {}).get("status") or {}
    generation = ((deployment or {}).get("metadata") or {}).get("generation")
    if generation is not None and int(status.get("observedGeneration") or 0) < int(generation):
        return None
    for cond in status.get("conditions") or []:
        text = f"{cond.get('reason', '')} {cond.get('message', '')}"
        if cond.get("status") == "False" and any(m in text for m in _PULL_FAILURES):
            return str(cond.get("message") or cond.get("reason"))
    return None


class PrebuiltMode:
    """Deploy `<template.image>:<sha or imageTag>` like the docker mode, with no build."""

    def builds(self, ctx: ModeContext) -> list[BuildSpec]:
        """Nothing to build."""
        return []

    def desired_objects(self, ctx: ModeContext) -> list[Manifest]:
        """Managed services, PVCs, Deployment, and Service and Ingress `web` when it has a port."""
        app = with_service_env(ctx)
        image = prebuilt_image(ctx)
        exposed = [docker.service(app), docker.ingress(app)] if app.config.ports else []
        return [
            *managed_objects(ctx),
            *docker.volume_claims(app),
            docker.deployment(app, image),
            *exposed,
        ]

    def apply(self, ctx: ModeContext, io: ModeIO) -> None:
        """Nothing imperative."""

    def readiness(self, ctx: ModeContext, workloads: Mapping[WorkloadKey, Manifest]) -> Readiness:
        """Services ready, then `web` rolled out on the image (a stalled pull is reported)."""
        waiting = services_ready(ctx, workloads)
        if waiting is not None:
            return waiting
        live = workloads.get(("Deployment", docker.NAME))
        image = prebuilt_image(ctx)
        stalled = stalled_reason(live)
        if stalled is not None:
            message = f"image {image} could not be started (does the tag exist?): {stalled}"
            return Readiness(False, "ImageUnavailable", message, failed=True)
        return deployment_rolled_out(live, image)

    def teardown(self, ctx: ModeContext, io: ModeIO) -> None:
        """Nothing: deleting the namespace removes every object."""

    def fingerprint(self, ctx: ModeContext) -> str:
        """Hash of the desired objects."""
        return fingerprint_of(self.desired_objects(ctx))
