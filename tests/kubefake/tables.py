"""Server-side printing: ``meta.k8s.io/v1`` Table answers for ``Accept: ...;as=Table``.

kubectl asks every get, list and watch for a Table and prints the columns the server chose.
Like the real server, a custom resource gets ``Name`` and then its CRD's
``additionalPrinterColumns`` (``Age`` alone when it has none); built-in kinds get ``Name`` and
``Age`` (the real server's per-kind printers are not imitated). Column paths use the simple
JSONPath subset CRDs allow: ``.a.b``, ``[n]`` and ``[?(@.key=="value")]``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from .resources import ResourceType

Obj = dict[str, Any]
TABLE_VERSION = "meta.k8s.io/v1"
NAME_COLUMN: Obj = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
AGE_COLUMN: Obj = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_STEP = re.compile(
    r"\.(?P<field>[A-Za-z0-9_-]+)"
    r"|\[(?P<index>\d+)\]"
    r"""|\[\?\(@\.(?P<key>[A-Za-z0-9_.-]+)\s*==\s*["'](?P<value>[^"']*)["']\)\]"""
)


def wants_table(accept: str) -> bool:
    """True when any media range of the Accept header asks for ``as=Table``."""
    return any("as=table" in part.replace(" ", "").lower() for part in accept.split(","))


def printer_columns(rtype: ResourceType) -> list[Obj]:
    """The columns after Name, as the real server picks them."""
    return list(rtype.printer_columns) or [AGE_COLUMN]


def column_definitions(rtype: ResourceType) -> list[Obj]:
    """The Table's ``columnDefinitions``."""
    extra = [
        {
            "name": c["name"],
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": int(c.get("priority", 0)),
        }
        for c in printer_columns(rtype)
    ]
    return [NAME_COLUMN, *extra]


def table(rtype: ResourceType, objs: list[Obj], resource_version: str) -> Obj:
    """A Table of ``objs`` (each row carries the object's metadata, as kubectl expects)."""
    columns = printer_columns(rtype)
    return {
        "kind": "Table",
        "apiVersion": TABLE_VERSION,
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": column_definitions(rtype),
        "rows": [table_row(columns, obj) for obj in objs],
    }


def table_row(columns: list[Obj], obj: Obj) -> Obj:
    """One row: the name, one cell per column, and the object as PartialObjectMetadata."""
    cells = [obj.get("metadata", {}).get("name")]
    cells += [cell(c.get("type", "string"), first_match(obj, c["jsonPath"])) for c in columns]
    partial = {
        "kind": "PartialObjectMetadata",
        "apiVersion": TABLE_VERSION,
        "metadata": obj.get("metadata", {}),
    }
    return {"cells": cells, "object": partial}


def first_match(obj: Any, path: str) -> Any:
    """The first value `path` selects in `obj`, or None."""
    found = [obj]
    for step in _STEP.finditer(path.strip()):
        found = [v for current in found for v in _apply(step, current)]
    return found[0] if found else None


def _apply(step: re.Match[str], current: Any) -> list[Any]:
    if step["field"] is not None:
        return (
            [current[step["field"]]]
            if isinstance(current, dict) and step["field"] in current
            else []
        )
    if step["index"] is not None:
        index = int(step["index"])
        return [current[index]] if isinstance(current, list) and index < len(current) else []
    items = current if isinstance(current, list) else []
    return [i for i in items if str(first_match(i, "." + step["key"])) == step["value"]]


def cell(column_type: str, value: Any) -> Any:
    """A cell as the real server renders it: strings printed, dates as an age, None empty."""
    if value is None:
        return None
    if column_type == "date":
        return age(str(value))
    if column_type == "string":
        return value if isinstance(value, str) else json.dumps(value)
    return value


def age(timestamp: str, now: datetime | None = None) -> str:
    """A Kubernetes-style short age (``42s``, ``5m10s``, ``3h``, ``2d``) of an RFC 3339 time."""
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    return human_duration(seconds)


def human_duration(seconds: int) -> str:
    """Kubernetes' ``duration.HumanDuration`` for whole seconds."""
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d" if days < 365 * 2 else f"{days // 365}y"
