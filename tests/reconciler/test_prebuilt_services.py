"""Prebuilt mode (tag from the commit or an override) and managed services, unit and end to end
through the reconciler on the real control plane (real StatefulSet and Deployment controllers)."""

from __future__ import annotations

import base64
from typing import Any

import kubernetes_validate
import pytest

from core.errors import ConfigError
from core.model import ManagedService
from reconciler.modes import ModeIO
from reconciler.modes.prebuilt import PrebuiltMode, prebuilt_image
from reconciler.services import ServiceTarget, connection_env, service_objects
from tests.reconciler.mode_support import context, project_with
from tests.reconciler.support import SHA1, Live

PREBUILT: dict[str, Any] = {
    "type": "prebuilt",
    "image": "ghcr.io/acme/shop",
    "config": {
        "ports": [{"containerPort": 8080}],
        "env": [{"name": "MODE", "value": "preview"}],
        "services": [
            {"name": "postgres", "engine": "postgres", "storage": {"size": "2Gi"}},
            {"name": "cache", "engine": "redis"},
        ],
    },
}


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_prebuilt_tag_is_the_commit_sha() -> None:
    assert prebuilt_image(context(PREBUILT)) == f"ghcr.io/acme/shop:{SHA1}"
    assert PrebuiltMode().builds(context(PREBUILT)) == []


def test_prebuilt_tag_override_from_the_environment() -> None:
    assert prebuilt_image(context(PREBUILT, imageTag="v1.2.3")) == "ghcr.io/acme/shop:v1.2.3"


@pytest.mark.parametrize("image", ["", "ghcr.io/acme/shop:v1", "ghcr.io/acme/shop@sha256:00"])
def test_prebuilt_needs_a_bare_repository(image: str) -> None:
    with pytest.raises(ConfigError, match="prebuilt template"):
        prebuilt_image(context({**PREBUILT, "image": image}))


def test_prebuilt_without_a_port_is_a_deployment_alone() -> None:
    ctx = context({"type": "prebuilt", "image": "ghcr.io/acme/worker"})
    objects = by_key(PrebuiltMode().desired_objects(ctx))
    assert list(objects) == [("Deployment", "web")]
    kubernetes_validate.validate(objects[("Deployment", "web")], "1.29", strict=True)


def test_prebuilt_objects_validate_and_inject_connection_env() -> None:
    ctx = context(PREBUILT)
    objects = by_key(PrebuiltMode().desired_objects(ctx))
    for obj in objects.values():
        kubernetes_validate.validate(obj, "1.29", strict=True)
        assert obj["metadata"]["labels"] == dict(ctx.labels)
    env = objects[("Deployment", "web")]["spec"]["template"]["spec"]["containers"][0]["env"]
    names = {e["name"]: e for e in env}
    assert names["MODE"]["value"] == "preview"
    assert names["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "postgres-credentials",
        "key": "url",
    }
    assert names["REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "cache-credentials"
    assert {"POSTGRES_URL", "CACHE_URL"} <= set(names)


def test_stalled_rollout_reports_the_missing_image() -> None:
    ctx = context({**PREBUILT, "config": {"ports": [{"containerPort": 8080}]}})
    live = PrebuiltMode().desired_objects(ctx)[1]
    live["status"] = {
        "conditions": [
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "web-1" has timed out progressing.',
            }
        ]
    }
    state = PrebuiltMode().readiness(ctx, {("Deployment", "web"): live})
    assert not state.ready and state.reason == "ImageUnavailable"
    assert f"ghcr.io/acme/shop:{SHA1}" in state.message


def test_service_credentials_are_stable_per_environment_and_differ_across() -> None:
    services = [ManagedService(name="db", engine="postgres")]
    first = service_objects(ServiceTarget("ns-a", {}, "uid-1"), services)
    again = service_objects(ServiceTarget("ns-a", {}, "uid-1"), services)
    other = service_objects(ServiceTarget("ns-a", {}, "uid-2"), services)
    assert first == again and first[0]["data"] != other[0]["data"]
    url = base64.b64decode(first[0]["data"]["url"]).decode()
    password = base64.b64decode(first[0]["data"]["password"]).decode()
    assert url == f"postgresql://app:{password}@db:5432/app" and len(password) == 32


def test_user_env_wins_over_injected_connection_variables() -> None:
    ctx = context(
        {
            **PREBUILT,
            "config": {**PREBUILT["config"], "env": [{"name": "DATABASE_URL", "value": "mine"}]},
        }
    )
    deployment = by_key(PrebuiltMode().desired_objects(ctx))[("Deployment", "web")]
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e for e in env if e["name"] == "DATABASE_URL"] == [
        {"name": "DATABASE_URL", "value": "mine"}
    ]
    assert [v.name for v in connection_env(ctx.config.services or [])] == [
        "DATABASE_URL",
        "POSTGRES_URL",
        "REDIS_URL",
        "CACHE_URL",
    ]


def test_prebuilt_with_postgres_and_redis_becomes_ready_on_the_real_control_plane(
    live: Live,
) -> None:
    live.seed()
    live.kube.put_object(project_with(PREBUILT, names=live.names))
    rig = live.rig()
    rig.reconciler.mode_io = ModeIO(cluster=rig.cluster)
    live.kube.put_object(live.environment())
    rig.run_until(rig.phase_is("Ready"))
    ns = live.env_ns()
    for name in ("postgres", "cache"):
        sts: Any = live.kube.get("statefulsets", name, ns)
        assert sts["status"]["readyReplicas"] == 1  # the real StatefulSet controller's count
        assert live.kube.get("services", name, ns) is not None
        assert live.kube.get("secrets", f"{name}-credentials", ns) is not None
    claim = sts_claim(live, "postgres")
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    web: Any = live.kube.get("deployments", "web", ns)
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/acme/shop:{SHA1}"
    assert {"DATABASE_URL", "REDIS_URL"} <= {e["name"] for e in container["env"]}
    before = rig.status()["deployedHash"]
    rig.run()
    assert rig.status()["deployedHash"] == before


def sts_claim(live: Live, name: str) -> dict[str, Any]:
    sts: Any = live.kube.get("statefulsets", name, live.env_ns())
    return sts["spec"]["volumeClaimTemplates"][0]  # type: ignore[no-any-return]


def test_service_passwords_are_keyed_by_the_platform_secret_not_the_uid_alone() -> None:
    import dataclasses

    from reconciler.modes.common import service_target
    from reconciler.services import password

    ctx = context(PREBUILT)
    service = (ctx.config.services or [])[0]
    plain = password(service_target(ctx), service)
    keyed = dataclasses.replace(
        ctx, settings=dataclasses.replace(ctx.settings, service_password_key="k1")
    )
    other = dataclasses.replace(
        ctx, settings=dataclasses.replace(ctx.settings, service_password_key="k2")
    )
    first = password(service_target(keyed), service)
    assert first != plain and first != password(service_target(other), service)
    assert first == password(service_target(keyed), service)  # stable across passes
