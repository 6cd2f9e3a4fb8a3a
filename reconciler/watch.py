"""Runtime: list+watch informers, the watch cache reads, and the watcher that feeds the queue.

Each `Informer` lists a kind, then watches from the list's resourceVersion; a 410 (history
too old) relists, other failures back off and resume. Every reconciler replica keeps the caches
(so its reconciles read from memory); only the leader turns events and periodic resyncs into
reconcile work.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from core import naming
from core.clients.kube import Gone
from reconciler.cluster import Cluster, Manifest
from reconciler.feeder import Feeder
from reconciler.manifests import LABEL_JOB_TYPE, OWNER_ANNOTATION
from reconciler.reads import BUILD_JOBS, MANAGED, LiveReads

log = logging.getLogger(__name__)
Handler = Callable[[str, Manifest, Manifest | None], None]
ObjKey = tuple[str, str]


def obj_key(obj: Manifest) -> ObjKey:
    """(namespace, name) of an object ('' namespace for cluster-scoped ones)."""
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name"))


def _rv(obj: Manifest | None) -> int:
    value = str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "0")
    return int(value) if value.isdigit() else 0


class Informer:
    """A cache of one kind kept current by list+watch."""

    def __init__(
        self,
        cluster: Cluster,
        kind: str,
        *,
        label_selector: str | None = None,
        on_event: Handler | None = None,
        watch_timeout: int = 300,
    ) -> None:
        self.cluster, self.kind, self.selector = cluster, kind, label_selector
        self.on_event = on_event or (lambda _t, _o, _old: None)
        self.watch_timeout = watch_timeout
        self.store: dict[ObjKey, Manifest] = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.resource_version = ""
        self.relists = 0
        self._response: Any = None
        self._closed = False

    def items(self) -> list[Manifest]:
        """A snapshot of the cached objects."""
        with self.lock:
            return list(self.store.values())

    def get(self, namespace: str | None, name: str) -> Manifest | None:
        """A cached object."""
        with self.lock:
            return self.store.get((namespace or "", name))

    def remember(self, obj: Manifest) -> None:
        """Write-through of an object we just wrote (kept only if newer than the cached one)."""
        with self.lock:
            current = self.store.get(obj_key(obj))
            if current is None or _rv(obj) >= _rv(current):
                self.store[obj_key(obj)] = obj

    def relist(self) -> None:
        """LIST, replace the cache, report differences as events, remember the resourceVersion."""
        page = self.cluster.list_raw(self.kind, label_selector=self.selector)
        fresh = {obj_key(o): dict(o) for o in page.get("items") or []}
        with self.lock:
            old, self.store = self.store, dict(fresh)
        self.resource_version = str((page.get("metadata") or {}).get("resourceVersion") or "")
        self.relists += 1
        self.synced.set()
        for key, obj in old.items():
            if key not in fresh:
                self.on_event("DELETED", obj, obj)
        for key, obj in fresh.items():
            if old.get(key) != obj:
                self.on_event("MODIFIED" if key in old else "ADDED", obj, old.get(key))

    def watch_once(self) -> None:
        """One watch request from the current resourceVersion until the server closes it."""
        events = self.cluster.watch(
            self.kind,
            resource_version=self.resource_version,
            label_selector=self.selector,
            timeout_seconds=self.watch_timeout,
            on_open=self._opened,
        )
        for event in events:
            self.apply(event)

    def _opened(self, response: Any) -> None:
        self._response = response
        if self._closed:
            self.close()

    def close(self) -> None:
        """Break the current watch stream (used on shutdown; `run` then sees its stop flag)."""
        self._closed = True
        response = self._response
        if response is not None:
            try:
                response.shutdown()
            except Exception as exc:  # already closed or never opened
                log.debug("closing watch of %s: %s", self.kind, exc)

    def apply(self, event: Manifest) -> None:
        """Fold one watch event into the cache and report it."""
        type_, obj = str(event.get("type")), dict(event.get("object") or {})
        self.resource_version = str(obj.get("metadata", {}).get("resourceVersion") or "")
        if type_ == "BOOKMARK":
            return
        with self.lock:
            old = self.store.get(obj_key(obj))
            if type_ == "DELETED":
                self.store.pop(obj_key(obj), None)
            else:
                self.store[obj_key(obj)] = obj
        self.on_event(type_, obj, old)

    def run(self, stop: threading.Event) -> None:
        """List and watch until `stop` is set; relist on 410, back off on failures."""
        backoff = 0.2
        while not stop.is_set():
            try:
                if not self.synced.is_set() or not self.resource_version:
                    self.relist()
                self.watch_once()
                backoff = 0.2
            except Gone:
                log.info("watch of %s expired (410): relisting", self.kind)
                self.synced.clear()
            except Exception as exc:
                if stop.is_set():
                    return
                log.warning("watch of %s failed: %s", self.kind, exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)


class CachedReads(LiveReads):
    """Reads from the informers' caches when synced (Environments always live)."""

    def __init__(self, cluster: Cluster, informers: dict[str, Informer]) -> None:
        super().__init__(cluster)
        self.informers = informers

    def _synced(self, kind: str) -> Informer | None:
        informer = self.informers.get(kind)
        return informer if informer is not None and informer.synced.is_set() else None

    def project(self, namespace: str, name: str) -> Manifest | None:
        """The cached Project (live when the cache is not synced)."""
        informer = self._synced("Project")
        return informer.get(namespace, name) if informer else super().project(namespace, name)

    def namespace(self, name: str) -> Manifest | None:
        """The cached Namespace; a cache miss asks the server (it may lack our labels)."""
        informer = self._synced("Namespace")
        found = informer.get(None, name) if informer else None
        return found if found is not None else super().namespace(name)

    def build_jobs(self, namespace: str) -> list[Manifest]:
        """Cached build Jobs of a namespace."""
        informer = self._synced("Job")
        if informer is None:
            return super().build_jobs(namespace)
        return [j for j in informer.items() if _in(j, namespace) and _is_build(j)]

    def build_pods(self, namespace: str) -> list[Manifest]:
        """Cached pods of our build Jobs of a namespace (the Pod informer holds only those)."""
        informer = self._synced("Pod")
        if informer is None:
            return super().build_pods(namespace)
        return [p for p in informer.items() if _in(p, namespace)]

    def workloads(self, namespace: str) -> list[Manifest]:
        """Cached Deployments and StatefulSets of a namespace."""
        informers = [self._synced("Deployment"), self._synced("StatefulSet")]
        if any(i is None for i in informers):
            return super().workloads(namespace)
        return [w for i in informers if i for w in i.items() if _in(w, namespace)]

    def remember(self, obj: Manifest) -> None:
        """Write-through into the informer of the object's kind."""
        informer = self.informers.get(str(obj.get("kind")))
        if informer is not None:
            informer.remember(obj)


def _in(obj: Manifest, namespace: str) -> bool:
    return bool((obj.get("metadata") or {}).get("namespace") == namespace)


def _is_build(obj: Manifest) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_JOB_TYPE) == "build"


def _phase(pod: Manifest | None) -> Any:
    return ((pod or {}).get("status") or {}).get("phase")


def _without_status(obj: Manifest | None) -> Any:
    if obj is None:
        return None
    meta = {
        k: v
        for k, v in (obj.get("metadata") or {}).items()
        if k not in ("resourceVersion", "managedFields")
    }
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


class Watcher:
    """Informers for our kinds; when leader, turns their events and resyncs into queue work."""

    def __init__(
        self,
        cluster: Cluster,
        feeder: Feeder,
        *,
        is_leader: Callable[[], bool],
        resync_seconds: float = 600.0,
        watch_timeout: int = 300,
    ) -> None:
        self.feeder, self.is_leader, self.resync_seconds = feeder, is_leader, resync_seconds
        specs: list[tuple[str, str | None, Handler]] = [
            ("Environment", None, self._on_environment),
            ("Project", None, self._on_project),
            ("Namespace", MANAGED, self._on_namespace),
            ("Job", MANAGED, self._on_child),
            ("Deployment", MANAGED, self._on_child),
            ("StatefulSet", MANAGED, self._on_child),
            # build pods only: one that succeeded finishes its build before its Job says so
            ("Pod", BUILD_JOBS, self._on_build_pod),
        ]
        self.informers = {
            kind: Informer(
                cluster, kind, label_selector=sel, on_event=handler, watch_timeout=watch_timeout
            )
            for kind, sel, handler in specs
        }
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.resyncs = 0

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start one thread per informer and the resync loop."""
        for kind, informer in self.informers.items():
            self._spawn(f"informer-{kind}", functools.partial(informer.run, self.stop_event))
        self._spawn("resync", self._resync_loop)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every thread: break the watch streams and wait for the threads to end."""
        self.stop_event.set()
        for informer in self.informers.values():
            informer.close()
        for thread in self.threads:
            thread.join(timeout=timeout)

    def wait_synced(self, timeout: float) -> bool:
        """Whether every informer finished its first list within `timeout`."""
        return all(i.synced.wait(timeout) for i in self.informers.values())

    def _resync_loop(self) -> None:
        was_leader = False
        next_resync = 0.0
        clock = 0.0
        while not self.stop_event.wait(0.2):
            clock += 0.2
            leader = self.is_leader()
            if leader and self.wait_synced(0) and (not was_leader or clock >= next_resync):
                if not was_leader:
                    self._forget_queued()  # markers of tasks lost with the old leader
                self.resync()
                next_resync = clock + self.resync_seconds
            was_leader = leader

    def _forget_queued(self) -> None:
        try:
            self.feeder.gate.clear_queued()
        except Exception as exc:
            log.warning("could not clear queued markers: %s", exc)

    def resync(self) -> int:
        """Queue every cached Environment and Project; returns how many keys were queued."""
        self.resyncs += 1
        queued = 0
        for project in self.informers["Project"].items():
            queued += self._feed_project(*obj_key(project))
        for env in self.informers["Environment"].items():
            queued += self._feed_env(*obj_key(env))
        return queued

    # --- events ----------------------------------------------------------------------------

    def _feed_env(self, namespace: str, name: str) -> bool:
        try:
            return self.feeder.environment(namespace, name)
        except Exception as exc:  # never let a broker hiccup kill the watch thread
            log.warning("could not queue %s/%s: %s", namespace, name, exc)
            return False

    def _feed_project(self, namespace: str, name: str) -> bool:
        try:
            return self.feeder.project(namespace, name)
        except Exception as exc:
            log.warning("could not queue project %s/%s: %s", namespace, name, exc)
            return False

    def _on_environment(self, type_: str, obj: Manifest, old: Manifest | None) -> None:
        if not self.is_leader() or type_ == "DELETED":
            return
        if type_ == "MODIFIED" and _without_status(obj) == _without_status(old):
            return  # our own status write: nothing new to do
        self._feed_env(*obj_key(obj))

    def _on_project(self, type_: str, obj: Manifest, old: Manifest | None) -> None:
        if not self.is_leader() or type_ == "DELETED":
            return
        self._feed_project(*obj_key(obj))
        if _without_status(obj) == _without_status(old):
            return
        team, name = obj_key(obj)
        for env in self.informers["Environment"].items():
            labels = (env.get("metadata") or {}).get("labels") or {}
            ref = ((env.get("spec") or {}).get("projectRef") or {}).get("name")
            if ref == name and naming.team_namespace(labels.get(naming.LABEL_TEAM, "")) == team:
                self._feed_env(*obj_key(env))

    def _on_namespace(self, type_: str, obj: Manifest, old: Manifest | None) -> None:
        if self.is_leader():
            self._feed_owner(obj)

    def _on_child(self, type_: str, obj: Manifest, old: Manifest | None) -> None:
        if not self.is_leader():
            return
        namespace = self.informers["Namespace"].get(None, obj_key(obj)[0])
        if namespace is not None:
            self._feed_owner(namespace)

    def _on_build_pod(self, type_: str, obj: Manifest, old: Manifest | None) -> None:
        # Only a pod that has just succeeded changes what the reconcile of its build decides
        # (a failed one waits for its Job's word, whose own event feeds the Environment).
        succeeded_now = _phase(obj) == "Succeeded" and _phase(old) != "Succeeded"
        if type_ != "DELETED" and succeeded_now:
            self._on_child(type_, obj, old)

    def _feed_owner(self, namespace: Manifest) -> None:
        meta = namespace.get("metadata") or {}
        owner = (meta.get("annotations") or {}).get(OWNER_ANNOTATION, "")
        kind = (meta.get("labels") or {}).get(naming.LABEL_NAMESPACE_TYPE)
        ns, _, name = owner.partition("/")
        if not name:
            return
        if kind == "project":
            self._feed_project(ns, name)
        else:
            self._feed_env(ns, name)
