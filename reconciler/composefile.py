"""Pure: translate a docker-compose file into builds and Kubernetes objects (no I/O).

`translate(compose, target)` maps each compose service to a Deployment (and a Service when it has
ports), `build:` services to `BuildSpec`s (one Kaniko build each), named volumes to PVCs,
healthchecks to readiness probes and `depends_on` to init containers that wait until the
dependency's Service answers (a Service only routes to ready pods, so this orders by readiness).
The exposed service (the template's `expose`, else the first with a port) gets Ingress `web`.
Keys we cannot honour are returned in `unsupported` (for a condition message), never dropped
silently.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core import naming, safeyaml
from core.errors import ConfigError
from core.model import BuildSpec, EnvVar, Resources

Manifest = dict[str, Any]

COMPOSE_FILENAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
SERVICE_LABEL = "catalyst.dev/compose-service"
WAIT_IMAGE = "busybox:1.36"
INGRESS_NAME = "web"
DEFAULT_RESOURCES: Manifest = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "512Mi"},
}
WAIT_RESOURCES: Manifest = {
    "requests": {"cpu": "10m", "memory": "16Mi"},
    "limits": {"cpu": "100m", "memory": "32Mi"},
}
TOP_LEVEL_KEYS = {"services", "volumes", "version", "name"}
SERVICE_KEYS = {
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "ports",
    "expose",
    "healthcheck",
    "depends_on",
    "volumes",
    "working_dir",
    "restart",
    "deploy",
    "container_name",
}
BUILD_KEYS = {"context", "dockerfile"}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class ComposeTarget:
    """Where and how the translated objects are deployed."""

    namespace: str
    labels: Mapping[str, str]
    source_ref: str
    base_path: str | None = None
    images: Mapping[str, str] = field(default_factory=dict)
    expose: str | None = None
    host: str = "localhost"
    ingress_class: str = "nginx"
    tls_secret: str | None = None
    ingress_annotations: Mapping[str, str] = field(default_factory=dict)
    env: tuple[EnvVar, ...] = ()
    resources: Resources | None = None
    pod_annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ComposeTranslation:
    """The result: builds to run, objects to apply, and keys that were not translated."""

    builds: list[BuildSpec]
    objects: list[Manifest]
    unsupported: list[str]
    exposed: str | None


@dataclass(frozen=True)
class PortSpec:
    """One container port a service listens on."""

    port: int
    protocol: str = "TCP"


# --- parsing -------------------------------------------------------------------------------------


def parse_compose(text: str | bytes, filename: str = "compose.yaml") -> Manifest:
    """The compose document as a dict; ConfigError for invalid or unsafe YAML, a non-mapping.

    Aliases are refused and sizes capped (`core.safeyaml`); the reconciler parses a PR's file
    in a bounded child process first (`reconciler.yamlchild`) and hands the result to
    `compose_document`.
    """
    return compose_document(safeyaml.load(text, what=filename), filename)


def compose_document(loaded: Any, filename: str = "compose.yaml") -> Manifest:
    """A parsed compose document checked for its top-level `services` mapping."""
    if not isinstance(loaded, dict) or not isinstance(loaded.get("services"), dict):
        raise ConfigError(f"{filename}: needs a top-level 'services' mapping")
    return loaded


def parse_duration(value: Any, where: str) -> int:
    """Compose duration (`30s`, `1m30s`, `500ms`, or a number of seconds) in whole seconds ≥ 1."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(1, math.ceil(value))
    text = str(value).strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"{where}: not a duration: {value!r}")
    seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    return max(1, math.ceil(seconds))


def _port_number(text: str, where: str) -> list[int]:
    low, _, high = text.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise ConfigError(f"{where}: not a port: {text!r}") from None
    if not 1 <= first <= last <= 65535 or last - first > 100:
        raise ConfigError(f"{where}: port out of range: {text!r}")
    return list(range(first, last + 1))


def parse_port(value: Any, where: str) -> list[PortSpec]:
    """Container ports of one `ports`/`expose` entry, in every short and the long form."""
    if isinstance(value, dict):
        if "target" not in value:
            raise ConfigError(f"{where}: long-form port needs 'target'")
        protocol = str(value.get("protocol") or "tcp").upper()
        return [PortSpec(p, protocol) for p in _port_number(str(value["target"]), where)]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{where}: not a port: {value!r}")
    text, _, proto = str(value).partition("/")
    # `[host_ip:][host:]container`: the container part is after the last colon (IPv6 safe).
    container = text.rsplit(":", 1)[-1]
    protocol = (proto or "tcp").upper()
    if protocol not in ("TCP", "UDP", "SCTP"):
        raise ConfigError(f"{where}: unknown protocol {proto!r}")
    return [PortSpec(p, protocol) for p in _port_number(container, where)]


def service_ports(name: str, svc: Manifest) -> list[PortSpec]:
    """Every distinct container port of a service (`ports` then `expose`), in file order."""
    found: list[PortSpec] = []
    for key in ("ports", "expose"):
        entries = svc.get(key) or []
        if not isinstance(entries, list):
            raise ConfigError(f"services.{name}.{key}: must be a list")
        for i, entry in enumerate(entries):
            for port in parse_port(entry, f"services.{name}.{key}[{i}]"):
                if port not in found:
                    found.append(port)
    return found


def parse_environment(name: str, value: Any, unsupported: list[str]) -> list[EnvVar]:
    """`environment` as a map or a `KEY=value` list; variables without a value are reported."""
    where = f"services.{name}.environment"
    if value is None:
        return []
    if isinstance(value, dict):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [_split_assignment(str(item)) for item in value]
    else:
        raise ConfigError(f"{where}: must be a mapping or a list of KEY=value")
    env: list[EnvVar] = []
    for key, raw in items:
        if raw is None:
            unsupported.append(f"{where}.{key} (no value: taken from the host shell)")
            continue
        env.append(EnvVar(name=key, value=_scalar(raw)))
    return env


def _split_assignment(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    return key, (value if sep else None)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def command_list(value: Any, where: str) -> list[str]:
    """A compose command/entrypoint (string: shell words, or list) as an argv list."""
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ConfigError(f"{where}: must be a string or a list")


# --- healthcheck, dependencies, volumes ---------------------------------------------------------


def healthcheck_probe(name: str, check: Any) -> Manifest | None:
    """The readiness probe of a compose healthcheck (None when disabled or absent)."""
    if not isinstance(check, dict) or check.get("disable"):
        return None
    where = f"services.{name}.healthcheck"
    test = check.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not isinstance(test, list) or not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        argv = [str(t) for t in test[1:]]
    elif test[0] == "CMD-SHELL":
        argv = ["/bin/sh", "-c", " ".join(str(t) for t in test[1:])]
    else:
        raise ConfigError(f"{where}.test: must start with CMD, CMD-SHELL or NONE")
    probe: Manifest = {"exec": {"command": argv}}
    for key, field_name in (("interval", "periodSeconds"), ("timeout", "timeoutSeconds")):
        if key in check:
            probe[field_name] = parse_duration(check[key], f"{where}.{key}")
    if "start_period" in check:
        probe["initialDelaySeconds"] = parse_duration(
            check["start_period"], f"{where}.start_period"
        )
    if "retries" in check:
        probe["failureThreshold"] = max(1, int(check["retries"]))
    return probe


def dependencies(name: str, value: Any, unsupported: list[str]) -> list[str]:
    """Services `name` waits for (list or map form); unwaitable conditions are reported."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    if not isinstance(value, dict):
        raise ConfigError(f"services.{name}.depends_on: must be a list or a mapping")
    deps = []
    for dep, opts in value.items():
        condition = (opts or {}).get("condition", "service_started")
        if condition == "service_completed_successfully":
            unsupported.append(f"services.{name}.depends_on.{dep}.condition={condition}")
        deps.append(str(dep))
    return deps


@dataclass(frozen=True)
class Mount:
    """One volume mount of a service: a named volume (PVC) or an anonymous one (emptyDir)."""

    volume: str
    path: str
    read_only: bool = False
    claim: str | None = None


def parse_mounts(name: str, value: Any, named: set[str], unsupported: list[str]) -> list[Mount]:
    """Named volumes become PVC mounts, anonymous ones emptyDirs; bind mounts are reported."""
    mounts: list[Mount] = []
    for i, entry in enumerate(value or []):
        where = f"services.{name}.volumes[{i}]"
        source, target, read_only = _mount_parts(entry, where)
        if source is None:
            mounts.append(Mount(f"anon-{i}", target, read_only))
        elif source in named:
            claim = naming.hashed_name(source)
            mounts.append(Mount(claim, target, read_only, claim))
        else:
            unsupported.append(f"{where} (bind mount {source}; not available in a cluster)")
    return mounts


def _mount_parts(entry: Any, where: str) -> tuple[str | None, str, bool]:
    if isinstance(entry, dict):
        if entry.get("type", "volume") != "volume" or "target" not in entry:
            return "<" + str(entry.get("type")) + ">", str(entry.get("target", "")), False
        return entry.get("source"), str(entry["target"]), bool(entry.get("read_only"))
    if not isinstance(entry, str):
        raise ConfigError(f"{where}: must be a string or a mapping")
    parts = entry.split(":")
    if len(parts) == 1:
        return None, parts[0], False
    return parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")


# --- objects -------------------------------------------------------------------------------------


@dataclass
class ServiceSpec:
    """One compose service, parsed."""

    key: str
    name: str
    image: str | None
    build: BuildSpec | None
    ports: list[PortSpec]
    env: list[EnvVar]
    command: list[str] | None
    args: list[str] | None
    working_dir: str | None
    probe: Manifest | None
    depends_on: list[str]
    mounts: list[Mount]
    resources: Manifest


def _meta(target: ComposeTarget, name: str) -> Manifest:
    return {"name": name, "namespace": target.namespace, "labels": dict(target.labels)}


def _build_of(key: str, name: str, value: Any, target: ComposeTarget, unsup: list[str]) -> Any:
    if value is None:
        return None
    build = {"context": value} if isinstance(value, str) else value
    if not isinstance(build, dict):
        raise ConfigError(f"services.{key}.build: must be a path or a mapping")
    unsup.extend(f"services.{key}.build.{k}" for k in build if k not in BUILD_KEYS)
    context = str(build.get("context") or ".")
    return BuildSpec(
        name=name,
        source_ref=target.source_ref,
        path=join_path(target.base_path, context),
        dockerfile=str(build.get("dockerfile") or "Dockerfile"),
    )


def join_path(base: str | None, context: str) -> str | None:
    """`base/context` normalised (no `.`, no leading `./`); None for the repository root."""
    parts = [p for p in f"{base or ''}/{context}".split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ConfigError(f"build context {context!r} leaves the source")
    return "/".join(parts) or None


def _resources(key: str, svc: Manifest, target: ComposeTarget) -> Manifest:
    deploy = svc.get("deploy") or {}
    res = deploy.get("resources") if isinstance(deploy, dict) else None
    base = (
        target.resources.model_dump(exclude_none=True)
        if target.resources
        else {k: dict(v) for k, v in DEFAULT_RESOURCES.items()}
    )
    if not isinstance(res, dict):
        return base
    for compose_key, k8s_key in (("limits", "limits"), ("reservations", "requests")):
        block = res.get(compose_key) or {}
        if "cpus" in block:
            base.setdefault(k8s_key, {})["cpu"] = str(block["cpus"])
        if "memory" in block:
            base.setdefault(k8s_key, {})["memory"] = _memory(str(block["memory"]))
    return base


def _memory(value: str) -> str:
    """Compose memory (`512m`, `1g`, `1024k`, bytes) as a Kubernetes quantity."""
    match = re.fullmatch(r"(\d+)\s*([bkmg]?)b?", value.strip().lower())
    if not match:
        raise ConfigError(f"deploy.resources memory: not a size: {value!r}")
    unit = {"": "", "b": "", "k": "Ki", "m": "Mi", "g": "Gi"}[match.group(2)]
    return f"{match.group(1)}{unit}"


def parse_service(
    key: str, svc: Any, named: set[str], target: ComposeTarget, unsup: list[str]
) -> ServiceSpec:
    """One compose service as a ServiceSpec (unknown keys appended to `unsup`)."""
    if not isinstance(svc, dict):
        raise ConfigError(f"services.{key}: must be a mapping")
    unsup.extend(f"services.{key}.{k}" for k in svc if k not in SERVICE_KEYS)
    name = naming.hashed_name(key)
    where = f"services.{key}"
    build = _build_of(key, name, svc.get("build"), target, unsup)
    if build is None and not svc.get("image"):
        raise ConfigError(f"{where}: needs 'image' or 'build'")
    return ServiceSpec(
        key=key,
        name=name,
        image=str(svc["image"]) if svc.get("image") else None,
        build=build,
        ports=service_ports(key, svc),
        env=parse_environment(key, svc.get("environment"), unsup),
        command=command_list(svc["entrypoint"], f"{where}.entrypoint")
        if svc.get("entrypoint") is not None
        else None,
        args=command_list(svc["command"], f"{where}.command")
        if svc.get("command") is not None
        else None,
        working_dir=str(svc["working_dir"]) if svc.get("working_dir") else None,
        probe=healthcheck_probe(key, svc.get("healthcheck")),
        depends_on=dependencies(key, svc.get("depends_on"), unsup),
        mounts=parse_mounts(key, svc.get("volumes"), named, unsup),
        resources=_resources(key, svc, target),
    )


def _image(spec: ServiceSpec, target: ComposeTarget) -> str:
    if spec.build is not None:
        image = target.images.get(spec.build.name)
        if image is None:
            raise ConfigError(f"service {spec.key!r}: build {spec.build.name!r} has no image yet")
        return image
    return str(spec.image)


def _merged_env(spec: ServiceSpec, target: ComposeTarget) -> list[Manifest]:
    merged = {v.name: v for v in spec.env}
    merged.update({v.name: v for v in target.env})
    return [v.model_dump(by_alias=True, exclude_none=True) for v in merged.values()]


def _container(spec: ServiceSpec, target: ComposeTarget) -> Manifest:
    out: Manifest = {"name": spec.name, "image": _image(spec, target)}
    if spec.command is not None:
        out["command"] = spec.command
    if spec.args is not None:
        out["args"] = spec.args
    if spec.working_dir:
        out["workingDir"] = spec.working_dir
    if spec.ports:
        out["ports"] = [{"containerPort": p.port, "protocol": p.protocol} for p in spec.ports]
    env = _merged_env(spec, target)
    if env:
        out["env"] = env
    if spec.probe:
        out["readinessProbe"] = spec.probe
    if spec.mounts:
        out["volumeMounts"] = [_volume_mount(m) for m in spec.mounts]
    out["resources"] = spec.resources
    return out


def _volume_mount(mount: Mount) -> Manifest:
    out: Manifest = {"name": mount.volume, "mountPath": mount.path}
    if mount.read_only:
        out["readOnly"] = True
    return out


def _pod_volumes(spec: ServiceSpec) -> list[Manifest]:
    volumes: list[Manifest] = []
    for mount in spec.mounts:
        if any(v["name"] == mount.volume for v in volumes):
            continue
        if mount.claim:
            volumes.append(
                {"name": mount.volume, "persistentVolumeClaim": {"claimName": mount.claim}}
            )
        else:
            volumes.append({"name": mount.volume, "emptyDir": {}})
    return volumes


def wait_container(dep: ServiceSpec) -> Manifest:
    """Init container that blocks until `dep`'s Service accepts connections (i.e. it is ready)."""
    port = dep.ports[0].port
    script = f"until nc -z -w 2 {dep.name} {port}; do echo waiting for {dep.name}; sleep 2; done"
    return {
        "name": naming.hashed_name("wait", dep.name),
        "image": WAIT_IMAGE,
        "command": ["/bin/sh", "-c", script],
        "resources": {k: dict(v) for k, v in WAIT_RESOURCES.items()},
    }


def _init_containers(
    spec: ServiceSpec, by_key: Mapping[str, ServiceSpec], unsup: list[str]
) -> list[Manifest]:
    inits = []
    for dep_key in spec.depends_on:
        dep = by_key.get(dep_key)
        if dep is None:
            raise ConfigError(f"services.{spec.key}.depends_on: unknown service {dep_key!r}")
        if not dep.ports or dep.ports[0].protocol != "TCP":
            unsup.append(f"services.{spec.key}.depends_on.{dep_key} (no TCP port to wait on)")
            continue
        inits.append(wait_container(dep))
    return inits


def deployment(
    spec: ServiceSpec, target: ComposeTarget, by_key: Mapping[str, ServiceSpec], unsup: list[str]
) -> Manifest:
    """Deployment `<service>`: one replica, one container, init containers for depends_on."""
    selector = {SERVICE_LABEL: spec.name}
    pod_spec: Manifest = {"containers": [_container(spec, target)]}
    inits = _init_containers(spec, by_key, unsup)
    if inits:
        pod_spec["initContainers"] = inits
    volumes = _pod_volumes(spec)
    if volumes:
        pod_spec["volumes"] = volumes
    pod_meta: Manifest = {"labels": {**target.labels, **selector}}
    if target.pod_annotations:
        pod_meta["annotations"] = dict(target.pod_annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(target, spec.name),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {"metadata": pod_meta, "spec": pod_spec},
        },
    }


def service(spec: ServiceSpec, target: ComposeTarget) -> Manifest:
    """Service `<service>`: every container port, on the same port number."""
    ports = [
        {"name": f"{p.protocol.lower()}-{p.port}", "port": p.port, "targetPort": p.port}
        | {"protocol": p.protocol}
        for p in spec.ports
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(target, spec.name),
        "spec": {"selector": {SERVICE_LABEL: spec.name}, "ports": ports},
    }


def ingress(spec: ServiceSpec, target: ComposeTarget) -> Manifest:
    """Ingress `web` for the preview host to the exposed service's first port."""
    backend = {"service": {"name": spec.name, "port": {"number": spec.ports[0].port}}}
    rule = {"host": target.host, "http": {"paths": [_root_path(backend)]}}
    body: Manifest = {"ingressClassName": target.ingress_class, "rules": [rule]}
    if target.tls_secret:
        body["tls"] = [{"hosts": [target.host], "secretName": target.tls_secret}]
    metadata = _meta(target, INGRESS_NAME)
    if target.ingress_annotations:
        metadata["annotations"] = dict(target.ingress_annotations)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": body,
    }


def _root_path(backend: Manifest) -> Manifest:
    return {"path": "/", "pathType": "Prefix", "backend": backend}


def volume_claim(name: str, target: ComposeTarget) -> Manifest:
    """PVC for a named compose volume (1Gi, ReadWriteOnce)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(target, naming.hashed_name(name)),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def exposed_service(specs: list[ServiceSpec], expose: str | None) -> ServiceSpec | None:
    """The template's `expose` service, else the first service with a port."""
    if expose is not None:
        chosen = next((s for s in specs if expose in (s.key, s.name)), None)
        if chosen is None or not chosen.ports:
            raise ConfigError(f"expose: {expose!r} is not a compose service with a port")
        return chosen
    return next((s for s in specs if s.ports and s.ports[0].protocol == "TCP"), None)


def _named_volumes(compose: Manifest) -> set[str]:
    volumes = compose.get("volumes") or {}
    if not isinstance(volumes, dict):
        raise ConfigError("volumes: must be a mapping")
    return {str(k) for k in volumes}


def _unique(specs: list[ServiceSpec]) -> None:
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"services {seen[spec.name]!r} and {spec.key!r} map to one name")
        seen[spec.name] = spec.key


def parse_services(compose: Manifest, target: ComposeTarget, unsup: list[str]) -> list[ServiceSpec]:
    """Every service of the document, with top-level keys we ignore reported."""
    unsup.extend(k for k in compose if k not in TOP_LEVEL_KEYS and not str(k).startswith("x-"))
    named = _named_volumes(compose)
    specs = [parse_service(str(k), v, named, target, unsup) for k, v in compose["services"].items()]
    if not specs:
        raise ConfigError("services: at least one service is needed")
    _unique(specs)
    return specs


def compose_builds(compose: Manifest, target: ComposeTarget) -> list[BuildSpec]:
    """Only the builds (callable before any image exists)."""
    specs = parse_services(compose, target, [])
    return [s.build for s in specs if s.build is not None]


def translate(compose: Manifest, target: ComposeTarget) -> ComposeTranslation:
    """Builds, objects (PVCs, Deployments, Services, Ingress) and unsupported keys."""
    unsup: list[str] = []
    specs = parse_services(compose, target, unsup)
    by_key = {s.key: s for s in specs}
    objects = [volume_claim(v, target) for v in sorted(_named_volumes(compose))]
    for spec in specs:
        objects.append(deployment(spec, target, by_key, unsup))
        if spec.ports:
            objects.append(service(spec, target))
    exposed = exposed_service(specs, target.expose)
    if exposed is not None:
        objects.append(ingress(exposed, target))
    builds = [s.build for s in specs if s.build is not None]
    return ComposeTranslation(builds, objects, unsup, exposed.key if exposed else None)
