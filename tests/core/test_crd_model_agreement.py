"""core.model and crds/*.yaml agree field by field: names, required sets, enums, defaults, limits.

Both sides are reduced to the same normal form by two independent walkers (one over pydantic field
annotations, one over the CRD's openAPIV3Schema) and compared recursively, so a field added,
renamed, retyped or re-defaulted on one side only is reported with its path.
"""

from __future__ import annotations

import copy
import enum
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, get_args, get_origin

import pytest
from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from core import model
from tests.core.crdschema import Schema, apply_defaults, load_crd, openapi_schema

Node = dict[str, Any]
SCALARS: dict[type, str] = {str: "string", int: "integer", bool: "boolean", float: "number"}
# CRD keywords with no counterpart in a pydantic annotation (documentation and list semantics).
CRD_ONLY = {
    "description",
    "format",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-validations",  # CEL: checked against the model by tests/core/test_crds.py
}
CRD_RENAMES = {"x-kubernetes-preserve-unknown-fields": "preserveUnknown"}
MODELS = {"Project": model.Project, "Environment": model.Environment}


# --- the model side ---------------------------------------------------------------------------


def model_node(annotation: Any, field: FieldInfo | None = None) -> Node:
    """The normal form of a pydantic field (annotation plus constraints and default)."""
    node = _type_node(_unwrap_optional(annotation))
    if field is not None:
        node.update(_constraints(field, node.get("type")))
        default = _model_default(field)
        if default is not None:
            node["default"] = default
    return node


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unions other than Optional have no CRD form: {annotation}")
        return args[0]
    return annotation


def _type_node(annotation: Any) -> Node:
    origin = get_origin(annotation)
    if origin is Literal:
        values = list(get_args(annotation))
        return {"type": SCALARS[type(values[0])], "enum": sorted(values)}
    if origin is list:
        return {"type": "array", "items": model_node(get_args(annotation)[0])}
    if origin is dict:
        return _map_node(get_args(annotation)[1])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"type": "string", "enum": sorted(e.value for e in annotation)}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return object_node(annotation)
    return {"type": SCALARS[annotation]}


def _map_node(value_type: Any) -> Node:
    if value_type is Any:
        return {"type": "object", "preserveUnknown": True}
    return {"type": "object", "additionalProperties": model_node(value_type)}


def object_node(cls: type[BaseModel]) -> Node:
    """The normal form of a model: its fields by wire name and its required set."""
    fields = {(f.alias or name): f for name, f in cls.model_fields.items()}
    node: Node = {"type": "object", "properties": {}}
    for alias, field in fields.items():
        node["properties"][alias] = model_node(field.annotation, field)
    required = sorted(alias for alias, field in fields.items() if field.is_required())
    if required:
        node["required"] = required
    return node


def _constraints(field: FieldInfo, type_name: str | None) -> Node:
    length = "Items" if type_name == "array" else "Length"
    out: Node = {}
    for meta in field.metadata:
        if isinstance(meta, Ge | Gt | Le | Lt):
            out.update(_bound(meta))
        elif isinstance(meta, MinLen):
            out[f"min{length}"] = meta.min_length
        elif isinstance(meta, MaxLen):
            out[f"max{length}"] = meta.max_length
        elif getattr(meta, "pattern", None) is not None:
            out["pattern"] = meta.pattern
    return out


def _bound(meta: Ge | Gt | Le | Lt) -> Node:
    if isinstance(meta, Ge):
        return {"minimum": meta.ge}
    if isinstance(meta, Le):
        return {"maximum": meta.le}
    if isinstance(meta, Gt):
        return {"minimum": meta.gt, "exclusiveMinimum": True}
    return {"maximum": meta.lt, "exclusiveMaximum": True}


def _model_default(field: FieldInfo) -> Any:
    """The field's default as it appears on the wire (None: no default)."""
    if field.is_required():
        return None
    value = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    return value.value if isinstance(value, enum.Enum) else value


# --- the CRD side -----------------------------------------------------------------------------


def crd_node(schema: Schema) -> Node:
    """The normal form of a CRD schema node; unknown keywords are kept so they show up as drift."""
    node: Node = {}
    for key, value in schema.items():
        if key in CRD_ONLY:
            continue
        node[CRD_RENAMES.get(key, key)] = _crd_value(key, value, schema)
    return node


def _crd_value(key: str, value: Any, schema: Schema) -> Any:
    if key == "properties":
        return {name: crd_node(sub) for name, sub in value.items()}
    if key in ("items", "additionalProperties") and isinstance(value, dict):
        return crd_node(value)
    if key in ("enum", "required"):
        return sorted(value)
    if key == "default":
        # An object default is filled with its nested defaults by the API server.
        return apply_defaults(schema, value)
    return value


# --- comparing --------------------------------------------------------------------------------


def differences(model_side: Node, crd_side: Node, path: str = "") -> Iterator[str]:
    """Every disagreement between two normal forms, with the dotted path where it is."""
    for key in sorted(model_side.keys() | crd_side.keys()):
        left, right = model_side.get(key), crd_side.get(key)
        if key == "properties":
            yield from _property_differences(left or {}, right or {}, path)
        elif key in ("items", "additionalProperties") and left and right:
            yield from differences(left, right, f"{path}{'[]' if key == 'items' else '{}'}")
        elif left != right:
            yield f"{path or '<root>'}: {key} is {left!r} in the model, {right!r} in the CRD"


def _property_differences(left: Node, right: Node, path: str) -> Iterator[str]:
    for name in sorted(left.keys() - right.keys()):
        yield f"{path}.{name}: in the model, missing from the CRD"
    for name in sorted(right.keys() - left.keys()):
        yield f"{path}.{name}: in the CRD, missing from the model"
    for name in sorted(left.keys() & right.keys()):
        yield from differences(left[name], right[name], f"{path}.{name}")


def resource_differences(cls: type[BaseModel], schema: Schema) -> list[str]:
    """Disagreements between a resource model and its CRD schema (spec and status in depth)."""
    found = []
    top_fields = {(f.alias or n) for n, f in cls.model_fields.items()}
    if top_fields != set(schema["properties"]):
        found.append(f"top-level fields {sorted(top_fields)} != {sorted(schema['properties'])}")
    # metadata is always present on a stored object, so the CRD need not require it.
    if schema.get("required") != ["spec"]:
        found.append(f"top-level required is {schema.get('required')}, expected ['spec']")
    for part in ("spec", "status"):
        annotation = cls.model_fields[part].annotation
        found += differences(model_node(annotation), crd_node(schema["properties"][part]), part)
    return found


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_model_and_crd_agree_field_by_field(kind: str) -> None:
    assert resource_differences(MODELS[kind], openapi_schema(load_crd(kind))) == []


def _schema(kind: str) -> Schema:
    return copy.deepcopy(openapi_schema(load_crd(kind)))


def _previews(schema: Schema) -> Schema:
    node: Schema = schema["properties"]["spec"]["properties"]["previews"]
    return node


def test_walker_reports_a_field_missing_from_the_crd() -> None:
    schema = _schema("Project")
    del _previews(schema)["properties"]["ttl"]
    found = resource_differences(model.Project, schema)
    assert found == ["spec.previews.ttl: in the model, missing from the CRD"]


def test_walker_reports_enum_default_and_required_drift() -> None:
    schema = _schema("Project")
    previews = _previews(schema)["properties"]
    previews["trigger"]["enum"].append("always")
    previews["forkPolicy"]["default"] = "never"
    _previews(schema)["required"] = ["enabled"]
    found = resource_differences(model.Project, schema)
    assert any(f.startswith("spec.previews.trigger: enum") for f in found)
    assert any(f.startswith("spec.previews.forkPolicy: default") for f in found)
    assert any(f.startswith("spec.previews: required") for f in found)


def test_walker_reports_free_form_drift_in_nested_lists() -> None:
    schema = _schema("Environment")
    config = schema["properties"]["spec"]["properties"]["config"]["properties"]
    value_from = config["env"]["items"]["properties"]["valueFrom"]
    value_from.pop("x-kubernetes-preserve-unknown-fields")
    value_from["unknownKeyword"] = 1
    found = resource_differences(model.Environment, schema)
    assert any(f.startswith("spec.config.env[].valueFrom: preserveUnknown") for f in found)
    assert any(f.startswith("spec.config.env[].valueFrom: unknownKeyword") for f in found)


def test_walker_reports_a_field_missing_from_the_model() -> None:
    class DriftedStatus(model.EnvironmentStatus):
        """A model that grew a field the CRD does not have."""

        preview_password: str | None = None

    class DriftedEnvironment(model.Environment):
        """An Environment using the drifted status."""

        status: DriftedStatus | None = None

    found = resource_differences(DriftedEnvironment, _schema("Environment"))
    assert found == ["status.previewPassword: in the model, missing from the CRD"]


def test_object_defaults_compare_after_nested_defaulting() -> None:
    node = crd_node(_previews(_schema("Project")))
    assert node["default"] == model.PreviewPolicy().to_wire()
