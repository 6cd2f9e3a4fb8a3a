"""Test support: read our CRDs, check their structural rules, validate and default objects.

The API server validates custom resources against the CRD's openAPIV3Schema with structural rules
that plain JSON Schema lacks: an object with `properties` drops (prunes) unknown fields unless it
says `x-kubernetes-preserve-unknown-fields`, and `default`s are filled in top-down. Here unknown
fields are rejected instead of pruned (`additionalProperties: false`), which is stricter: a sample
with a typo fails instead of silently losing the field.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "crds"
EXAMPLES_DIR = CRD_DIR / "examples"
CRD_FILES = {"Project": CRD_DIR / "projects.yaml", "Environment": CRD_DIR / "environments.yaml"}

Schema = dict[str, Any]
PRESERVE = "x-kubernetes-preserve-unknown-fields"


def load_yaml(path: Path) -> dict[str, Any]:
    """The single YAML document in `path`, which must be a mapping."""
    loaded = yaml.safe_load(path.read_text())
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected one YAML mapping")
    return loaded


def load_crd(kind: str) -> dict[str, Any]:
    """The CustomResourceDefinition of `kind` (Project or Environment)."""
    return load_yaml(CRD_FILES[kind])


def openapi_schema(crd: dict[str, Any]) -> Schema:
    """The openAPIV3Schema of the CRD's only (storage) version."""
    (version,) = crd["spec"]["versions"]
    schema: Schema = version["schema"]["openAPIV3Schema"]
    return schema


def to_jsonschema(schema: Schema) -> Schema:
    """A JSON Schema equivalent of a structural schema, unknown fields rejected unless preserved."""
    out: Schema = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if "properties" in schema:
        out["properties"] = {k: to_jsonschema(v) for k, v in schema["properties"].items()}
        if not schema.get(PRESERVE):
            out["additionalProperties"] = False
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = to_jsonschema(schema["additionalProperties"])
    if "items" in schema:
        out["items"] = to_jsonschema(schema["items"])
    return out


def validation_errors(schema: Schema, obj: Any) -> list[str]:
    """Every way `obj` fails the structural `schema`, as `path: message` lines."""
    validator = jsonschema.Draft202012Validator(to_jsonschema(schema))
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(obj)
    ]


def apply_defaults(schema: Schema, obj: Any) -> Any:
    """A copy of `obj` with the schema's defaults filled in, top-down, as the API server does."""
    if isinstance(obj, list) and "items" in schema:
        return [apply_defaults(schema["items"], item) for item in obj]
    if not isinstance(obj, dict):
        return copy.deepcopy(obj)
    if isinstance(schema.get("additionalProperties"), dict):
        return {k: apply_defaults(schema["additionalProperties"], v) for k, v in obj.items()}
    return _default_properties(schema.get("properties", {}), obj)


def _default_properties(properties: dict[str, Schema], obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    for name, sub in properties.items():
        if name not in out and "default" in sub:
            out[name] = copy.deepcopy(sub["default"])
        if name in out:
            out[name] = apply_defaults(sub, out[name])
    return out


def walk(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node with its dotted path (`[]` for array items, `{}` for map values)."""
    yield path or "<root>", schema
    for name, sub in schema.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]")


def structural_problems(schema: Schema) -> list[str]:
    """Violations of the structural-schema rules the API server enforces on a CRD."""
    problems: list[str] = []
    for path, node in walk(schema):
        problems.extend(f"{path}: {p}" for p in _node_problems(node))
    return problems


def _node_problems(node: Schema) -> Iterator[str]:
    if "type" not in node:
        yield "every node needs a type"
    if "properties" in node and "additionalProperties" in node:
        yield "properties and additionalProperties are mutually exclusive"
    if node.get("type") == "array" and "items" not in node:
        yield "arrays need items"
    if "default" in node:
        yield from (f"default invalid: {e}" for e in validation_errors(node, node["default"]))
    yield from _list_map_problems(node)


def _list_map_problems(node: Schema) -> Iterator[str]:
    if node.get("x-kubernetes-list-type") != "map":
        return
    item = node.get("items", {})
    for key in node.get("x-kubernetes-list-map-keys", []):
        spec = item.get("properties", {}).get(key)
        if spec is None or (key not in item.get("required", []) and "default" not in spec):
            yield f"list-map key {key!r} must be a required or defaulted item property"


def example_paths() -> list[Path]:
    """Every sample manifest under crds/examples/."""
    return sorted(EXAMPLES_DIR.glob("*.yaml"))
