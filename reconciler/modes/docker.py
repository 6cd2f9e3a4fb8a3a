"""Pure: the `docker` deploy mode: one Deployment, Service and Ingress named `web` (no I/O).

The image comes from the template's first build (or `config.image` when nothing is built); the
container is configured from the resolved config; the Ingress serves
`<env-namespace>.<CATALYST_PREVIEW_DOMAIN>` through the configured class and TLS secret.
Managed services (`config.services`) run beside it, their connection variables injected into
the container env, exactly as in the prebuilt mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import ConfigError
from core.model import BuildSpec, EnvironmentConfig
from reconciler.modes import (
    Manifest,
    ModeContext,
    ModeIO,
    Readiness,
    WorkloadKey,
    deployment_rolled_out,
    fingerprint_of,
)
from reconciler.modes.common import managed_objects, services_ready, with_service_env

NAME = "web"
REDEPLOY_ANNOTATION = "catalyst.dev/redeploy-nonce"
COMMIT_ANNOTATION = "catalyst.dev/commit"
_CONTAINER_FIELDS = (
    "command",
    "args",
    "working_dir",
    "ports",
    "env",
    "resources",
    "liveness_probe",
    "readiness_probe",
    "startup_probe",
    "volume_mounts",
)


def app_image(ctx: ModeContext) -> str:
    """The image to run: the first build's, else `config.image`; ConfigError when neither."""
    builds = ctx.template.builds or []
    if builds:
        image = ctx.images.get(builds[0].name)
        if image is None:
            raise ConfigError(f"build {builds[0].name!r} has no image yet")
        return image
    if ctx.config.image:
        return ctx.config.image
    raise ConfigError("docker template needs a build or config.image")


def container(config: EnvironmentConfig, image: str) -> Manifest:
    """The `web` container from the curated config fields."""
    dumped = config.model_dump(by_alias=True, exclude_none=True, mode="json")
    out: Manifest = {"name": NAME, "image": image}
    for field_name in _CONTAINER_FIELDS:
        alias = EnvironmentConfig.model_fields[field_name].alias or field_name
        if alias in dumped:
            out[alias] = dumped[alias]
    return out


def _init_containers(config: EnvironmentConfig, image: str) -> list[Manifest]:
    out = []
    for init in config.init_containers or []:
        dumped = init.model_dump(by_alias=True, exclude_none=True, mode="json")
        out.append({**dumped, "image": dumped.get("image", image)})
    return out


def _pod_annotations(ctx: ModeContext) -> dict[str, str]:
    annotations = {COMMIT_ANNOTATION: ctx.commit_sha}
    if ctx.redeploy_nonce:
        annotations[REDEPLOY_ANNOTATION] = ctx.redeploy_nonce
    return annotations


def _pod_spec(ctx: ModeContext, image: str) -> Manifest:
    spec: Manifest = {"containers": [container(ctx.config, image)]}
    inits = _init_containers(ctx.config, image)
    if inits:
        spec["initContainers"] = inits
    if ctx.config.volumes:
        spec["volumes"] = [
            {"name": v.name, "persistentVolumeClaim": {"claimName": v.name}}
            for v in ctx.config.volumes
        ]
    return spec


def deployment(ctx: ModeContext, image: str) -> Manifest:
    """Deployment `web`, one replica, pod template annotated with the commit and redeploy nonce."""
    selector = {"app": NAME}
    pod_labels = {**ctx.labels, **selector}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": ctx.namespace, "labels": dict(ctx.labels)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": _pod_annotations(ctx)},
                "spec": _pod_spec(ctx, image),
            },
        },
    }


def target_port(config: EnvironmentConfig) -> int:
    """The first container port; ConfigError without one (the Service needs it)."""
    if not config.ports:
        raise ConfigError("docker template config needs at least one port")
    return config.ports[0].container_port


def service(ctx: ModeContext) -> Manifest:
    """Service `web` on port 80 to the first container port."""
    port = {"name": "http", "port": 80, "targetPort": target_port(ctx.config), "protocol": "TCP"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": ctx.namespace, "labels": dict(ctx.labels)},
        "spec": {"selector": {"app": NAME}, "ports": [port]},
    }


def ingress(ctx: ModeContext) -> Manifest:
    """Ingress `web` for the preview host, class and TLS secret from settings."""
    backend = {"service": {"name": NAME, "port": {"number": 80}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    spec: Manifest = {
        "ingressClassName": ctx.settings.ingress_class,
        "rules": [{"host": ctx.host, "http": {"paths": [path]}}],
    }
    if ctx.settings.ingress_tls_secret:
        spec["tls"] = [{"hosts": [ctx.host], "secretName": ctx.settings.ingress_tls_secret}]
    metadata: Manifest = {"name": NAME, "namespace": ctx.namespace, "labels": dict(ctx.labels)}
    if ctx.settings.ingress_annotations:
        metadata["annotations"] = ctx.settings.ingress_annotations
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": spec,
    }


def volume_claims(ctx: ModeContext) -> list[Manifest]:
    """One PersistentVolumeClaim per config volume."""
    claims = []
    for volume in ctx.config.volumes or []:
        spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": volume.storage.size}},
        }
        if volume.storage.storage_class_name:
            spec["storageClassName"] = volume.storage.storage_class_name
        meta = {"name": volume.name, "namespace": ctx.namespace, "labels": dict(ctx.labels)}
        claims.append(
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}
        )
    return claims


class DockerMode:
    """Deploy one container image as Deployment + Service + Ingress `web`."""

    def builds(self, ctx: ModeContext) -> list[BuildSpec]:
        """The template's builds (the first one is the application image)."""
        return list(ctx.template.builds or [])

    def desired_objects(self, ctx: ModeContext) -> list[Manifest]:
        """Managed services, PVCs, Deployment, Service and Ingress."""
        image, app = app_image(ctx), with_service_env(ctx)
        return [
            *managed_objects(ctx),
            *volume_claims(app),
            deployment(app, image),
            service(app),
            ingress(app),
        ]

    def apply(self, ctx: ModeContext, io: ModeIO) -> None:
        """Nothing imperative: everything is in `desired_objects`."""

    def readiness(self, ctx: ModeContext, workloads: Mapping[WorkloadKey, Manifest]) -> Readiness:
        """Managed services ready, then Deployment `web` rolled out on the new image."""
        waiting = services_ready(ctx, workloads)
        if waiting is not None:
            return waiting
        return deployment_rolled_out(workloads.get(("Deployment", NAME)), app_image(ctx))

    def teardown(self, ctx: ModeContext, io: ModeIO) -> None:
        """Nothing: deleting the namespace removes every object."""

    def fingerprint(self, ctx: ModeContext) -> str:
        """Hash of the desired objects."""
        return fingerprint_of(self.desired_objects(ctx))
