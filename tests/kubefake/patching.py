"""PATCH bodies: JSON merge patch, JSON patch, strategic merge patch and apply.

* ``application/merge-patch+json``: RFC 7386.
* ``application/json-patch+json``: RFC 6902 via ``jsonpatch``.
* ``application/strategic-merge-patch+json``: a merge patch in which lists of objects
  with a known merge key (containers/env/volumes/... by ``name``, volumeMounts by
  ``mountPath``, ports by ``containerPort``/``port``) are merged item by item, and
  ``$patch: delete`` removes an item. Custom resources answer 415, like the real server.
* ``application/apply-patch+yaml`` (server-side apply): treated as *create-or-merge-patch*
  (YAML or JSON body, ``fieldManager`` required). No managedFields, no field ownership
  and no apply conflicts.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import yaml

from .errors import ApiError

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"

MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "imagePullSecrets": ("name",),
    "volumeMounts": ("mountPath",),
    "ports": ("containerPort", "port"),
    "conditions": ("type",),
}


def patch_kind(content_type: str) -> str:
    """Normalise a Content-Type header to one of the four patch kinds (or 415)."""
    base = content_type.split(";", 1)[0].strip().lower()
    if base in (MERGE, JSON_PATCH, STRATEGIC, APPLY):
        return base
    raise ApiError(415, f"the body of the request was in an unknown format: {base}")


def parse_body(kind: str, raw: bytes) -> Any:
    """Decode a patch body (apply bodies may be YAML)."""
    try:
        return yaml.safe_load(raw) if kind == APPLY else json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise ApiError(400, f"error decoding patch: {exc}") from exc


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch; returns a new value, inputs are not modified."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 JSON patch; a failing ``test`` or bad path gives 422."""
    if not isinstance(ops, list):
        raise ApiError(400, "json patch must be a list of operations")
    try:
        result = jsonpatch.apply_patch(target, ops, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise ApiError(
            422, f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    if not isinstance(result, dict):
        raise ApiError(422, "json patch result is not an object")
    return result


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge patch for the common built-in list fields."""
    if isinstance(patch, list) and isinstance(target, list) and field in MERGE_KEYS:
        return _merge_list(target, patch, MERGE_KEYS[field])
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge(result.get(key), value, key)
    return result


def _merge_key(items: list[Any], candidates: tuple[str, ...]) -> str | None:
    for key in candidates:
        if all(isinstance(i, dict) and key in i for i in items):
            return key
    return None


def _merge_list(target: list[Any], patch: list[Any], candidates: tuple[str, ...]) -> list[Any]:
    key = _merge_key(target + patch, candidates)
    if key is None:
        return copy.deepcopy(patch)
    result = list(target)
    for item in patch:
        index = next((i for i, old in enumerate(result) if old[key] == item[key]), None)
        _apply_item(result, index, item)
    return result


def _apply_item(result: list[Any], index: int | None, item: dict[str, Any]) -> None:
    if item.get("$patch") == "delete":
        if index is not None:
            del result[index]
    elif index is None:
        result.append(strategic_merge({}, item))
    else:
        result[index] = strategic_merge(result[index], item)


def apply_patch(kind: str, target: dict[str, Any], body: Any) -> dict[str, Any]:
    """Apply a decoded patch body of ``kind`` to ``target``."""
    if kind == JSON_PATCH:
        return json_patch(target, body)
    if not isinstance(body, dict):
        raise ApiError(400, "patch body must be a JSON object")
    if kind == STRATEGIC:
        result = strategic_merge(target, body)
    else:
        result = merge_patch(target, body)
    assert isinstance(result, dict)
    return result
