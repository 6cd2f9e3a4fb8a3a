"""Pure: drift helpers: whether a desired object must be written over its live copy (no I/O)."""

from __future__ import annotations

from typing import Any

from reconciler.modes import Manifest

ObjectKey = tuple[str, str]  # (kind, name) inside the environment namespace


def is_subset(desired: Any, live: Any) -> bool:
    """True when every field of `desired` has the same value in `live` (server defaults ignored)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(is_subset(v, live.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        return all(is_subset(d, x) for d, x in zip(desired, live, strict=True))
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return desired == live
    return bool(desired == live) or (isinstance(live, str) and str(desired) == live)


def differs(desired: Manifest, live: Manifest | None) -> bool:
    """Whether `desired` must be written over `live`."""
    if live is None:
        return True
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
    return not is_subset(body, live)


def is_deleting(obj: Manifest | None) -> bool:
    """Whether an object carries a deletionTimestamp (or a Terminating namespace phase)."""
    if obj is None:
        return False
    terminating = (obj.get("status") or {}).get("phase") == "Terminating"
    return terminating or bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def key_of(obj: Manifest) -> ObjectKey:
    """(kind, name) of a manifest."""
    return str(obj["kind"]), str(obj["metadata"]["name"])
