"""Shared test data for the kubefake tests: a catalyst-like Environment CRD and helpers."""

from __future__ import annotations

from typing import Any

from kubernetes import client, config, dynamic, watch

from tests.kubefake import KubeFake

GROUP, VERSION, PLURAL = "catalyst.catalyst.dev", "v1alpha1", "environments"


def environment_crd(plural: str = PLURAL, kind: str = "Environment") -> dict[str, Any]:
    """A namespaced CRD with a status subresource, defaults and an open ``values`` map."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": plural,
                "singular": kind.lower(),
                "kind": kind,
                "shortNames": [kind.lower()[:3]],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": _schema()},
                }
            ],
        },
    }


def _schema() -> dict[str, Any]:
    spec = {
        "type": "object",
        "required": ["repo", "pr"],
        "properties": {
            "repo": {"type": "string", "minLength": 1},
            "pr": {"type": "integer", "minimum": 1},
            "sha": {"type": "string", "nullable": True},
            "replicas": {"type": "integer", "default": 1},
            "port": {"x-kubernetes-int-or-string": True},
            "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "hosts": {"type": "array", "items": {"type": "string"}},
        },
    }
    status = {
        "type": "object",
        "properties": {
            "phase": {"type": "string", "enum": ["Pending", "Ready", "Failed"]},
            "observedGeneration": {"type": "integer"},
        },
    }
    return {
        "type": "object",
        "properties": {"spec": spec, "status": status},
    }


def environment(name: str, namespace: str = "default", pr: Any = 1, **spec: Any) -> dict[str, Any]:
    """An Environment object body."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Environment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"repo": "o/r", "pr": pr, **spec},
    }


def make_namespace(kf: KubeFake, name: str) -> None:
    """Create namespace ``name`` through the real client."""
    api = client.CoreV1Api(kf.api_client())
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))


def custom(kf: KubeFake) -> Any:
    """A ``CustomObjectsApi`` for ``kf``."""
    return client.CustomObjectsApi(kf.api_client())


def core(kf: KubeFake) -> Any:
    """A ``CoreV1Api`` for ``kf``."""
    return client.CoreV1Api(kf.api_client())


def typed(api_class: Any, kf: KubeFake) -> Any:
    """A typed API (``client.AppsV1Api`` ...) for ``kf``, as ``Any`` for terse tests."""
    return api_class(kf.api_client())


def new_watch() -> Any:
    """A ``kubernetes.watch.Watch`` (the watch module is untyped)."""
    return watch.Watch()  # type: ignore[no-untyped-call]


def new_dynamic(kf: KubeFake) -> Any:
    """A ``kubernetes.dynamic.DynamicClient`` for ``kf`` (uses discovery)."""
    return dynamic.DynamicClient(kf.api_client())  # type: ignore[no-untyped-call]


def load_kube_config(config_file: str, client_configuration: Any) -> None:
    """``kubernetes.config.load_kube_config`` (untyped) into ``client_configuration``."""
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=config_file, client_configuration=client_configuration
    )
