"""Kubernetes verbs over the store: what each create/get/list/update/patch/delete does.

:class:`Api` is transport-free: the HTTP routes (:mod:`.routes`) parse a request and call
one method here; tests reach the same logic through the ``KubeFake`` helpers. Each write
runs under the store lock from read to commit, so concurrent writers see real
optimistic-concurrency behaviour (409 on a stale resourceVersion).
"""

from __future__ import annotations

from typing import Any

from . import objects as o
from . import patching
from .crds import check_crd, crd_key, established_status
from .errors import ApiError, conflict, not_found
from .podexec import ExecRecord
from .resources import CRD_KEY, NAMESPACE_KEY, Registry, ResourceType
from .store import Store
from .validation import Validator

Obj = dict[str, Any]


class Api:
    """The resource verbs of one fake server."""

    def __init__(self, registry: Registry, store: Store, validator: Validator) -> None:
        self.registry = registry
        self.store = store
        self.validator = validator
        self.namespace_controller = False
        # Container logs served at pods/<name>/log, by (namespace, pod name).
        self.pod_logs: dict[tuple[str, str], str] = {}
        self.exec_log: list[ExecRecord] = []

    # --- pod logs ------------------------------------------------------------------

    def pod_log(self, namespace: str, name: str, tail_lines: int | None) -> str:
        """GET pods/<name>/log: the stored text, its last ``tail_lines`` lines when given."""
        pods = self.registry.lookup("", "v1", "pods")
        assert pods is not None
        self.store.get(pods, namespace, name)  # 404 for a missing pod
        text = self.pod_logs.get((namespace, name), "")
        if tail_lines is None:
            return text
        lines = text.splitlines(keepends=True)
        return "".join(lines[-tail_lines:] if tail_lines > 0 else [])

    # --- create --------------------------------------------------------------------

    def create(self, rtype: ResourceType, namespace: str | None, body: Obj) -> Obj:
        """POST: a new object with uid, creationTimestamp, generation and resourceVersion."""
        obj = self.validator.check(rtype, o.prepare_create(rtype, body, namespace))
        with self.store.lock:
            crd_types = self._crd_types(rtype, obj)
            if crd_types:
                obj["status"] = established_status(obj)
            stored = self.store.create(rtype, obj)
            for crd_type in crd_types:
                self.registry.add(crd_type)
        return stored

    def _crd_types(self, rtype: ResourceType, obj: Obj) -> list[ResourceType]:
        return check_crd(rtype, obj) if rtype.key == CRD_KEY else []

    # --- update / patch ------------------------------------------------------------

    def replace(
        self, rtype: ResourceType, namespace: str | None, name: str, body: Obj, sub: str | None
    ) -> Obj:
        """PUT of the object or its ``/status``."""
        with self.store.lock:
            old = self.store.get(rtype, namespace, name)
            o.check_identity(rtype, old, body)
            if sub is None:
                o.require_rv_for_custom(rtype, body)
            return self._write(rtype, old, body, sub)

    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        request: tuple[str, bytes, str | None],
        sub: str | None,
    ) -> tuple[Obj, bool]:
        """PATCH; ``request`` is (content type, raw body, fieldManager). Returns (obj, created)."""
        content_type, raw, manager = request
        kind = patching.patch_kind(content_type)
        if kind == patching.STRATEGIC and rtype.custom:
            raise ApiError(415, "strategic merge patch is not supported for custom resources")
        body = patching.parse_body(kind, raw)
        with self.store.lock:
            found = self.store.entry(rtype.key, namespace, name)
            if found is None:
                return self._apply_create(rtype, namespace, name, kind, body, manager), True
            patched = patching.apply_patch(kind, found.obj, body)
            o.check_identity(rtype, found.obj, patched)
            return self._write(rtype, found.obj, patched, sub), False

    def _apply_create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        kind: str,
        body: Any,
        manager: str | None,
    ) -> Obj:
        if kind != patching.APPLY:
            raise not_found(rtype.plural, rtype.group, name)
        if not manager:
            raise ApiError(422, "fieldManager: Required value: is required for apply patch")
        if not isinstance(body, dict) or o.name_of(body) not in ("", name):
            raise ApiError(400, "the name of the object does not match the name on the URL")
        return self.create(rtype, namespace, {**body, "metadata": {**o.meta(body), "name": name}})

    def _write(self, rtype: ResourceType, old: Obj, body: Obj, sub: str | None) -> Obj:
        o.check_precondition(rtype, old, body)
        new = o.merge_update(rtype, old, body, sub)
        o.bump_generation(rtype, old, new)
        new = self.validator.check(rtype, new)
        if rtype.key != CRD_KEY:
            return self.store.update(rtype, old, new)
        return self._write_crd(rtype, old, new)

    def _write_crd(self, rtype: ResourceType, old: Obj, new: Obj) -> Obj:
        types = check_crd(rtype, new)
        stored = self.store.update(rtype, old, new)
        if self.store.entry(rtype.key, None, o.name_of(old)) is None:
            self._forget_crd(old)
            return stored
        self.registry.remove_key(crd_key(old))
        for crd_type in types:
            self.registry.add(crd_type)
        return stored

    # --- delete --------------------------------------------------------------------

    def delete(
        self, rtype: ResourceType, namespace: str | None, name: str, options: Obj
    ) -> tuple[Obj, bool]:
        """DELETE; returns (object, removed now). Finalizers defer removal."""
        with self.store.lock:
            obj = self.store.get(rtype, namespace, name)
            _check_delete_preconditions(rtype, obj, options)
            if rtype.key == NAMESPACE_KEY:
                return self._delete_namespace(rtype, obj)
            result = self.store.delete(rtype, obj)
            if rtype.key == CRD_KEY and result[1]:
                self._forget_crd(obj)
            return result

    def _delete_namespace(self, rtype: ResourceType, obj: Obj) -> tuple[Obj, bool]:
        if self.namespace_controller:
            if o.is_deleting(obj):
                return obj, False
            terminating = {**o.mark_deleting(obj), "status": {"phase": "Terminating"}}
            return self.store.commit(rtype.key, terminating, obj), False
        self.store.purge_namespace(o.name_of(obj))
        return self.store.delete(rtype, obj)

    def _forget_crd(self, crd: Obj) -> None:
        self.registry.remove_key(crd_key(crd))
        self.store.drop_key(crd_key(crd))


def _check_delete_preconditions(rtype: ResourceType, obj: Obj, options: Obj) -> None:
    pre = options.get("preconditions") or {}
    uid, rv = pre.get("uid"), pre.get("resourceVersion")
    if (uid and uid != o.meta(obj).get("uid")) or (rv and rv != o.meta(obj).get("resourceVersion")):
        raise conflict(rtype.plural, rtype.group, o.name_of(obj))
