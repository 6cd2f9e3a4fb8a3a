"""Compose → Kubernetes translation: a table of compose files, each result strictly validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import kubernetes_validate
import pytest

from core.errors import ConfigError
from core.model import EnvVar
from reconciler.composefile import (
    COMPOSE_FILENAMES,
    ComposeTarget,
    ComposeTranslation,
    parse_compose,
    parse_duration,
    translate,
)

LABELS = {"app.kubernetes.io/managed-by": "catalyst-preview", "catalyst.dev/team": "acme"}
IMAGES = {"web": "reg.local/acme/shop/web:abc", "api": "reg.local/acme/shop/api:abc"}


def target(**overrides: Any) -> ComposeTarget:
    base: dict[str, Any] = {
        "namespace": "acme-shop-pr-1",
        "labels": LABELS,
        "source_ref": "app",
        "base_path": "app",
        "images": IMAGES,
        "host": "acme-shop-pr-1.preview.example.com",
    }
    return ComposeTarget(**{**base, **overrides})


def objects_by(result: ComposeTranslation) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in result.objects}


def container(result: ComposeTranslation, name: str) -> dict[str, Any]:
    dep = objects_by(result)[("Deployment", name)]
    return dep["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def service_ports(result: ComposeTranslation, name: str) -> list[tuple[int, str]]:
    svc = objects_by(result)[("Service", name)]
    return [(p["port"], p["protocol"]) for p in svc["spec"]["ports"]]


@dataclass
class Case:
    name: str
    yaml: str
    check: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "port_single",
        "services:\n  web:\n    image: nginx:1.27\n    ports: ['80']\n",
        {"ports": {"web": [(80, "TCP")]}, "exposed": "web"},
    ),
    Case(
        "port_host_container",
        "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n",
        {"ports": {"web": [(80, "TCP")]}},
    ),
    Case(
        "port_host_ip",
        "services:\n  web:\n    image: nginx\n    ports: ['127.0.0.1:8001:8000']\n",
        {"ports": {"web": [(8000, "TCP")]}},
    ),
    Case(
        "port_ranges",
        "services:\n  web:\n    image: nginx\n"
        "    ports: ['9090-9091:8080-8081', '127.0.0.1:5000-5001:6000-6001']\n",
        {"ports": {"web": [(8080, "TCP"), (8081, "TCP"), (6000, "TCP"), (6001, "TCP")]}},
    ),
    Case(
        "port_udp_ipv6_int_long",
        "services:\n  dns:\n    image: coredns\n    ports:\n      - '53:53/udp'\n"
        "      - '::1:9153:9153'\n"
        "      - 8080\n      - {target: 7000, published: '7001', protocol: tcp}\n",
        {"ports": {"dns": [(53, "UDP"), (9153, "TCP"), (8080, "TCP"), (7000, "TCP")]}},
    ),
    Case(
        "expose_only",
        "services:\n  api:\n    image: api\n    expose: ['3000']\n",
        {"ports": {"api": [(3000, "TCP")]}, "exposed": "api"},
    ),
    Case(
        "environment_map",
        "services:\n  web:\n    image: nginx\n    environment:\n      DEBUG: true\n"
        "      PORT: 8080\n      NAME: shop\n",
        {"env": {"web": {"DEBUG": "true", "PORT": "8080", "NAME": "shop"}}},
    ),
    Case(
        "environment_list",
        "services:\n  web:\n    image: nginx\n"
        "    environment: ['A=1', 'B=x=y', 'EMPTY=', 'FROM_SHELL']\n",
        {
            "env": {"web": {"A": "1", "B": "x=y", "EMPTY": ""}},
            "unsupported": [
                "services.web.environment.FROM_SHELL (no value: taken from the host shell)"
            ],
        },
    ),
    Case(
        "build_string",
        "services:\n  web:\n    build: ./frontend\n    ports: ['3000:3000']\n",
        {"builds": [("web", "app/frontend", "Dockerfile")], "image": {"web": IMAGES["web"]}},
    ),
    Case(
        "build_context_dockerfile",
        "services:\n  api:\n    build:\n      context: ./backend\n"
        "      dockerfile: docker/Prod.Dockerfile\n"
        "      args: {X: '1'}\n    ports: ['8000']\n",
        {
            "builds": [("api", "app/backend", "docker/Prod.Dockerfile")],
            "unsupported": ["services.api.build.args"],
        },
    ),
    Case(
        "command_entrypoint",
        "services:\n  worker:\n    image: python:3.12\n    entrypoint: ['python', '-u']\n"
        "    command: \"worker.py --queue 'high prio'\"\n    working_dir: /srv\n",
        {"command": {"worker": (["python", "-u"], ["worker.py", "--queue", "high prio"], "/srv")}},
    ),
    Case(
        "healthcheck_cmd",
        "services:\n  web:\n    image: nginx\n    ports: ['80']\n    healthcheck:\n"
        "      test: ['CMD', 'curl', '-f', 'http://localhost/']\n      interval: 1m30s\n"
        "      timeout: 10s\n      retries: 3\n      start_period: 500ms\n",
        {
            "probe": {
                "web": {
                    "exec": {"command": ["curl", "-f", "http://localhost/"]},
                    "periodSeconds": 90,
                    "timeoutSeconds": 10,
                    "failureThreshold": 3,
                    "initialDelaySeconds": 1,
                }
            }
        },
    ),
    Case(
        "healthcheck_shell_and_disabled",
        "services:\n  db:\n    image: postgres:16\n    ports: ['5432']\n    healthcheck:\n"
        "      test: pg_isready -U postgres\n  cache:\n    image: redis\n"
        "    healthcheck: {disable: true}\n",
        {
            "probe": {
                "db": {"exec": {"command": ["/bin/sh", "-c", "pg_isready -U postgres"]}},
                "cache": None,
            }
        },
    ),
    Case(
        "depends_on_list_and_map",
        "services:\n  web:\n    image: web\n    ports: ['80']\n    depends_on: [api]\n"
        "  api:\n    image: api\n    ports: ['8000']\n    depends_on:\n"
        "      db: {condition: service_healthy}\n"
        "      migrate: {condition: service_completed_successfully}\n"
        "  db:\n    image: postgres\n    ports: ['5432']\n  migrate:\n    image: api\n",
        {
            "waits": {"web": ["wait-api"], "api": ["wait-db"]},
            "unsupported": [
                "services.api.depends_on.migrate.condition=service_completed_successfully",
                "services.api.depends_on.migrate (no TCP port to wait on)",
            ],
        },
    ),
    Case(
        "named_volumes",
        "services:\n  db:\n    image: postgres\n    volumes: ['db_data:/var/lib/postgresql/data', "
        "'/tmp/scratch', {type: volume, source: backups, target: /backups, read_only: true}]\n"
        "volumes:\n  db_data: {}\n  backups: {}\n",
        {
            "pvcs": ["backups", "db-data"],
            "mounts": {"db": ["/var/lib/postgresql/data", "/tmp/scratch", "/backups"]},
        },
    ),
    Case(
        "unsupported_keys",
        "version: '3.9'\nservices:\n  web:\n    image: nginx\n    privileged: true\n"
        "    env_file: .env\n"
        "    volumes: ['./src:/usr/share/nginx/html']\nnetworks:\n  front: {}\nsecrets:\n"
        "  s: {file: x}\n"
        "x-common: &c {a: 1}\n",
        {
            "unsupported": [
                "networks",
                "secrets",
                "services.web.privileged",
                "services.web.env_file",
                "services.web.volumes[0] (bind mount ./src; not available in a cluster)",
            ]
        },
    ),
    Case(
        "service_name_sanitized_and_expose_override",
        "services:\n  Web_App:\n    image: nginx\n    ports: ['80']\n  admin:\n"
        "    image: adminer\n    ports: ['8080']\n",
        {"exposed": "admin", "target": {"expose": "admin"}, "ports": {"web-app": [(80, "TCP")]}},
    ),
    Case(
        "deploy_resources_and_env_overlay",
        "services:\n  web:\n    image: nginx\n    environment: {A: compose, B: keep}\n    deploy:\n"
        "      resources:\n        limits: {cpus: '0.5', memory: 256m}\n"
        "        reservations: {memory: 1g}\n",
        {
            "target": {"env": (EnvVar(name="A", value="override"),)},
            "env": {"web": {"A": "override", "B": "keep"}},
            "resources": {
                "web": {
                    "requests": {"cpu": "50m", "memory": "1Gi"},
                    "limits": {"cpu": "0.5", "memory": "256Mi"},
                }
            },
        },
    ),
]


def _check(result: ComposeTranslation, check: dict[str, Any]) -> None:
    for name, ports in check.get("ports", {}).items():
        assert service_ports(result, name) == ports
        assert [p["containerPort"] for p in container(result, name)["ports"]] == [
            p for p, _ in ports
        ]
    for name, env in check.get("env", {}).items():
        assert {e["name"]: e["value"] for e in container(result, name)["env"]} == env
    if "exposed" in check:
        assert result.exposed == check["exposed"]
    for name, image in check.get("image", {}).items():
        assert container(result, name)["image"] == image
    if "builds" in check:
        assert [(b.name, b.path, b.dockerfile) for b in result.builds] == check["builds"]
    assert sorted(result.unsupported) == sorted(check.get("unsupported", []))
    for name, (cmd, args, wd) in check.get("command", {}).items():
        got = container(result, name)
        assert (got["command"], got["args"], got["workingDir"]) == (cmd, args, wd)
    for name, probe in check.get("probe", {}).items():
        assert container(result, name).get("readinessProbe") == probe
    for name, waits in check.get("waits", {}).items():
        pod = objects_by(result)[("Deployment", name)]["spec"]["template"]["spec"]
        assert [c["name"] for c in pod.get("initContainers", [])] == waits
    if "pvcs" in check:
        kinds = objects_by(result)
        assert sorted(n for k, n in kinds if k == "PersistentVolumeClaim") == check["pvcs"]
    for name, paths in check.get("mounts", {}).items():
        assert [m["mountPath"] for m in container(result, name)["volumeMounts"]] == paths
    for name, resources in check.get("resources", {}).items():
        assert container(result, name)["resources"] == resources


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_compose_table(case: Case) -> None:
    result = translate(parse_compose(case.yaml), target(**case.check.get("target", {})))
    _check(result, case.check)
    for obj in result.objects:
        kubernetes_validate.validate(obj, "1.29", strict=True)
        assert obj["metadata"]["labels"] == LABELS
        assert obj["metadata"]["namespace"] == "acme-shop-pr-1"
    for dep in (o for o in result.objects if o["kind"] == "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        for c in [*pod["containers"], *pod.get("initContainers", [])]:
            assert c["resources"]["limits"] and c["resources"]["requests"]


def test_table_has_at_least_fifteen_files() -> None:
    assert len(CASES) >= 15


def test_exposed_service_gets_the_ingress_on_its_first_port() -> None:
    result = translate(parse_compose(CASES[-2].yaml), target(expose="admin", tls_secret="tls"))
    ing = objects_by(result)[("Ingress", "web")]
    rule = ing["spec"]["rules"][0]
    assert rule["host"] == "acme-shop-pr-1.preview.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"] == {
        "name": "admin",
        "port": {"number": 8080},
    }
    assert ing["spec"]["tls"] == [
        {"hosts": ["acme-shop-pr-1.preview.example.com"], "secretName": "tls"}
    ]


def test_no_port_means_no_ingress_and_no_service() -> None:
    result = translate(parse_compose("services:\n  w:\n    image: busybox\n"), target())
    assert [o["kind"] for o in result.objects] == ["Deployment"]
    assert result.exposed is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: [", "invalid YAML"),
        ("- a\n", "top-level 'services'"),
        ("services:\n  w: {}\n", "needs 'image' or 'build'"),
        ("services:\n  w:\n    image: x\n    ports: ['http']\n", "not a port"),
        ("services:\n  w:\n    image: x\n    ports: ['70000']\n", "out of range"),
        ("services:\n  w:\n    image: x\n    depends_on: [ghost]\n", "unknown service 'ghost'"),
        ("services:\n  w:\n    build: ../outside\n", "leaves the source"),
        ("services:\n  a_b:\n    image: x\n  a-b:\n    image: y\n", "map to one name"),
        ('services:\n  w:\n    image: x\n    command: "unterminated \'"\n', "services.w.command"),
        ("services:\n  w:\n    image: x\n    healthcheck: {test: [x], interval: soon}\n", "CMD"),
    ],
)
def test_bad_compose_gives_a_clear_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        translate(parse_compose(text), target())


def test_build_without_image_yet_is_a_config_error() -> None:
    doc = parse_compose("services:\n  web:\n    build: .\n")
    with pytest.raises(ConfigError, match="has no image yet"):
        translate(doc, target(images={}))


def test_compose_filenames_in_lookup_order() -> None:
    assert COMPOSE_FILENAMES == (
        "compose.yaml",
        "compose.yml",
        "docker-compose.yml",
        "docker-compose.yaml",
    )


@pytest.mark.parametrize(
    ("value", "seconds"), [("30s", 30), ("1m30s", 90), ("1h", 3600), ("250ms", 1), (5, 5)]
)
def test_durations(value: object, seconds: int) -> None:
    assert parse_duration(value, "x") == seconds


def test_bad_duration() -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration("10 parsecs", "healthcheck.interval")
