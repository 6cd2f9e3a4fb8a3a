"""Pure object bookkeeping: metadata on create, merging updates, generation, finalizers.

Nothing here touches the store or takes a lock; :mod:`.store` calls these functions while
holding its lock. Stored objects are never mutated in place: every function returns new
dicts, so readers may serialise stored objects without copying them.
"""

from __future__ import annotations

import copy
import datetime as dt
import secrets
import string
import uuid
from typing import Any

from .errors import ApiError, conflict
from .resources import ResourceType

Obj = dict[str, Any]

_SERVER_OWNED = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "resourceVersion")
_SUFFIX_CHARS = string.ascii_lowercase + string.digits


def now() -> str:
    """RFC 3339 timestamp with seconds precision, like the API server writes."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(obj: Obj) -> dict[str, Any]:
    """``obj["metadata"]`` (empty dict if missing)."""
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def name_of(obj: Obj) -> str:
    """``metadata.name`` or ``""``."""
    return str(meta(obj).get("name") or "")


def _generated_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_SUFFIX_CHARS) for _ in range(5))


def _check_namespace(rtype: ResourceType, body_ns: Any, url_ns: str | None) -> None:
    if rtype.namespaced and body_ns and body_ns != url_ns:
        raise ApiError(
            400,
            "the namespace of the provided object does not match the namespace sent on the request",
        )


def _initial_status(rtype: ResourceType, body: Obj) -> Any:
    if rtype.key == ("", "namespaces"):
        return {"phase": "Active"}
    if rtype.status_subresource:
        return None
    return body.get("status")


def prepare_create(rtype: ResourceType, body: Obj, url_ns: str | None) -> Obj:
    """A new object's full content, minus ``resourceVersion`` (set on commit)."""
    obj = copy.deepcopy(body)
    md = dict(meta(obj))
    _check_namespace(rtype, md.get("namespace"), url_ns)
    if not md.get("name") and md.get("generateName"):
        md["name"] = _generated_name(str(md["generateName"]))
    for key in _SERVER_OWNED:
        md.pop(key, None)
    md.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
    if rtype.namespaced:
        md["namespace"] = url_ns
    obj.update(apiVersion=rtype.api_version, kind=rtype.kind, metadata=md)
    _set_status(obj, _initial_status(rtype, body))
    return obj


def _set_status(obj: Obj, status: Any) -> None:
    if status is None:
        obj.pop("status", None)
    else:
        obj["status"] = status


def check_precondition(rtype: ResourceType, old: Obj, body: Obj) -> None:
    """409 when ``body`` carries a resourceVersion other than the stored one."""
    wanted = meta(body).get("resourceVersion")
    if wanted and str(wanted) != meta(old).get("resourceVersion"):
        raise conflict(rtype.plural, rtype.group, name_of(old))


def require_rv_for_custom(rtype: ResourceType, body: Obj) -> None:
    """Custom resources refuse unconditional PUT (422), as the real server does."""
    if rtype.custom and not meta(body).get("resourceVersion"):
        raise ApiError(
            422,
            f'{rtype.kind}.{rtype.group} "{name_of(body)}" is invalid: metadata.resourceVersion: '
            "Invalid value: 0x0: must be specified for an update",
            reason="Invalid",
        )


def check_identity(rtype: ResourceType, old: Obj, body: Obj) -> None:
    """400 when the body names another object than the URL."""
    if name_of(body) and name_of(body) != name_of(old):
        raise ApiError(
            400, "the name of the object does not match the name on the URL", reason="BadRequest"
        )
    _check_namespace(rtype, meta(body).get("namespace"), meta(old).get("namespace"))


def merge_update(rtype: ResourceType, old: Obj, body: Obj, subresource: str | None) -> Obj:
    """The object to store after PUT/PATCH of the main resource or ``/status``."""
    if subresource == "status":
        new = dict(old)
        _set_status(new, copy.deepcopy(body.get("status")))
        return new
    new = copy.deepcopy(body)
    md = dict(meta(new))
    for key in _SERVER_OWNED:
        md.pop(key, None)
        if key in meta(old):
            md[key] = meta(old)[key]
    md["name"] = name_of(old)
    if rtype.namespaced:
        md["namespace"] = meta(old).get("namespace")
    new.update(apiVersion=old.get("apiVersion"), kind=old.get("kind"), metadata=md)
    if rtype.status_subresource:
        _set_status(new, old.get("status"))
    return new


def _content(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def bump_generation(rtype: ResourceType, old: Obj, new: Obj) -> None:
    """Increment ``metadata.generation`` when anything but metadata/status changed."""
    changed = _content(old) != _content(new)
    if not rtype.status_subresource:
        changed = changed or old.get("status") != new.get("status")
    if changed:
        new["metadata"] = {**meta(new), "generation": int(meta(old).get("generation", 1)) + 1}


def unchanged(old: Obj, new: Obj) -> bool:
    """True when ``new`` equals ``old`` apart from resourceVersion (a no-op write)."""
    a = {**meta(old), "resourceVersion": None}
    b = {**meta(new), "resourceVersion": None}
    return a == b and _content(old) == _content(new) and old.get("status") == new.get("status")


def finalizers(obj: Obj) -> list[str]:
    """``metadata.finalizers`` (empty list if none)."""
    return list(meta(obj).get("finalizers") or [])


def is_deleting(obj: Obj) -> bool:
    """Whether ``metadata.deletionTimestamp`` is set."""
    return bool(meta(obj).get("deletionTimestamp"))


def mark_deleting(obj: Obj) -> Obj:
    """A copy with ``deletionTimestamp`` (and ``deletionGracePeriodSeconds``) set."""
    md = {**meta(obj), "deletionTimestamp": now(), "deletionGracePeriodSeconds": 0}
    return {**obj, "metadata": md}


def with_rv(obj: Obj, rv: int) -> Obj:
    """A shallow copy with a new ``metadata.resourceVersion``."""
    return {**obj, "metadata": {**meta(obj), "resourceVersion": str(rv)}}


def render(rtype: ResourceType, obj: Obj) -> Obj:
    """``obj`` as served at ``rtype``'s version (CRD versions share storage)."""
    if obj.get("apiVersion") == rtype.api_version:
        return obj
    return {**obj, "apiVersion": rtype.api_version}
