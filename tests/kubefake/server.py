"""``KubeFake``: the fake API server on a loopback port, plus test helpers.

The server runs uvicorn on its own event loop in a daemon thread. The listening socket is
bound here with ``IPPROTO_TCP`` so asyncio sets ``TCP_NODELAY`` (a protocol-0 socket makes
every keep-alive request on loopback stall ~40 ms on delayed ACKs).

Typical use::

    with KubeFake(crds=["crds/"]) as kf:
        api = kubernetes.client.CoreV1Api(kf.api_client())
        kf.controllers.enable("jobs")
        kf.faults.add(status=409, verb="patch", resource="environments", times=2)
        ...
        assert len(kf.writes("environments")) == 1
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import kubernetes.client
import yaml

from tests.support.serving import ThreadedServer

from .api import Api
from .app import KubeApp, build_app
from .controllers import Controllers
from .crds import load_crd_documents
from .faults import Fault, Faults
from .objects import meta, name_of, prepare_create
from .requestlog import Request, RequestLog
from .resources import CRD_KEY, Registry, ResourceType
from .routes import Settings
from .selectors import label_matcher
from .store import Store
from .validation import Validator

Obj = dict[str, Any]


def kubeconfig_dict(url: str, name: str = "kubefake") -> Obj:
    """A kubeconfig pointing at ``url`` (plain HTTP, dummy bearer token)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": url}}],
        "users": [{"name": name, "user": {"token": "kubefake"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }


def write_kubeconfig(url: str, path: str | Path) -> Path:
    """Write a kubeconfig for ``url`` to ``path`` and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig_dict(url), sort_keys=False))
    return target


class KubeFake:
    """A fake Kubernetes API server for tests (use as a context manager).

    ``crds``: CRD dicts, YAML files or directories to serve. ``namespaces``: created up front
    (like a real cluster's ``default``). ``validate``: schema checks (422) on writes.
    ``history_size``: watch events kept; resuming from older gives 410. ``controllers``:
    simulated controllers to enable (``"jobs"``, ``"deployments"``, ``"namespaces"``).
    ``watch_timeout``: server-side watch length when the client sends no timeoutSeconds.
    """

    def __init__(
        self,
        crds: Iterable[str | Path | Obj] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        validate: bool = True,
        kube_version: str = "1.29",
        history_size: int = 5000,
        controllers: Iterable[str] = (),
        watch_timeout: float = 1800.0,
        controller_interval: float = 0.02,
        namespaces: Iterable[str] = ("default",),
    ) -> None:
        self.registry = Registry()
        self.store = Store(history_size)
        self.validator = Validator(validate, kube_version)
        self.api = Api(self.registry, self.store, self.validator)
        self.faults = Faults()
        self.log = RequestLog()
        self.controllers = Controllers(self.api, controller_interval)
        self.settings = Settings(kube_version, host, watch_timeout)
        self._host, self._port = host, port
        self._http: ThreadedServer | None = None
        self._clients: list[Any] = []
        for namespace in namespaces:
            self.put_object(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
        self.register_crds(crds)
        if controllers:
            self.controllers.enable(*controllers)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> KubeFake:
        """Bind, start uvicorn in a daemon thread and wait until it serves."""
        app = build_app(KubeApp(self.api, self.settings, self.faults, self.log))
        self._http = ThreadedServer(app, host=self._host, port=self._port, name="kubefake")
        self._port = self._http.port
        self.settings.address = f"{self._host}:{self._port}"
        self._http.start()
        self.controllers.start()
        return self

    def stop(self) -> None:
        """Close watches and clients, stop uvicorn and the controllers."""
        self.controllers.stop()
        self.store.close_watches()
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self._http is not None:
            self._http.stop()
            self._http = None

    def __enter__(self) -> KubeFake:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- connecting ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self._host}:{self._port}"

    def kube_config(self) -> Any:
        """A ``kubernetes.client.Configuration`` for this server."""
        config = kubernetes.client.Configuration()
        config.host = self.url
        config.api_key = {"authorization": "kubefake"}
        config.api_key_prefix = {"authorization": "Bearer"}
        return config

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` for this server (closed on :meth:`stop`)."""
        client = kubernetes.client.ApiClient(self.kube_config())
        self._clients.append(client)
        return client

    def write_kubeconfig(self, path: str | Path) -> Path:
        """Write a kubeconfig file for this server; returns its path."""
        return write_kubeconfig(self.url, path)

    # --- CRDs ------------------------------------------------------------------------------

    def register_crds(self, sources: Iterable[str | Path | Obj]) -> list[ResourceType]:
        """Register CRDs from dicts, YAML files or directories of YAML files."""
        registered: list[ResourceType] = []
        for source in sources:
            docs = [source] if isinstance(source, dict) else load_crd_documents([source])
            for doc in docs:
                registered.extend(self.register_crd(doc))
        return registered

    def register_crd(self, crd: Obj) -> list[ResourceType]:
        """Serve an ``apiextensions.k8s.io/v1`` CRD (stored like a POSTed one)."""
        crd_type = self.registry.for_key(CRD_KEY)
        assert crd_type is not None
        existing = self.store.entry(CRD_KEY, None, name_of(crd))
        if existing is not None:
            self.store.remove(CRD_KEY, existing.obj)
        self.api.create(crd_type, None, crd)
        spec = crd["spec"]
        return [t for t in self.registry.all() if t.key == (spec["group"], spec["names"]["plural"])]

    # --- direct store access -----------------------------------------------------------------

    def resource(self, name: str) -> ResourceType:
        """Resolve ``"deployments"``, ``"Deployment"``, ``"environments.catalyst.catalyst.dev"``."""
        return self.registry.resolve(name)

    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj | None:
        """A deep copy of the stored object, or ``None``."""
        entry = self.store.entry(self.resource(resource).key, namespace, name)
        return None if entry is None else copy.deepcopy(entry.obj)

    def list(
        self, resource: str, namespace: str | None = None, label_selector: str | None = None
    ) -> builtins.list[Obj]:
        """Deep copies of the stored objects."""
        key = self.resource(resource).key
        entries, _ = self.store.select(key, namespace, label_matcher(label_selector))
        return [copy.deepcopy(e.obj) for e in entries]

    def put_object(self, obj: Obj) -> Obj:
        """Create or overwrite ``obj`` directly: no validation, no resourceVersion check."""
        rtype = self.registry.for_api_version(obj["apiVersion"], obj["kind"])
        if rtype is None:
            raise KeyError(f"no resource for {obj['apiVersion']} {obj['kind']}")
        with self.store.lock:
            current = self.store.entry(rtype.key, meta(obj).get("namespace"), name_of(obj))
            if current is None:
                return copy.deepcopy(self._insert(rtype, obj))
            new = copy.deepcopy(obj)
            new["metadata"] = {**meta(current.obj), **meta(new)}
            return copy.deepcopy(self.store.commit(rtype.key, new, current.obj))

    def _insert(self, rtype: ResourceType, obj: Obj) -> Obj:
        new = prepare_create(rtype, obj, meta(obj).get("namespace"))
        if "status" in obj:
            new["status"] = copy.deepcopy(obj["status"])
        return self.store.commit(rtype.key, new, None)

    def delete(self, resource: str, name: str, namespace: str | None = None) -> None:
        """DELETE through the normal path (finalizers and namespace rules apply)."""
        self.api.delete(self.resource(resource), namespace, name, {})

    def remove_finalizers(self, resource: str, name: str, namespace: str | None = None) -> None:
        """Clear ``metadata.finalizers`` (a deleting object then goes away)."""
        rtype = self.resource(resource)
        with self.store.lock:
            old = self.store.get(rtype, namespace, name)
            new = {**old, "metadata": {**meta(old), "finalizers": []}}
            self.store.update(rtype, old, new)

    def expire_watch_history(self) -> None:
        """Drop all watch history: resuming from any older resourceVersion gives 410."""
        self.store.expire_history()

    # --- request log and faults -------------------------------------------------------------

    def requests(self) -> builtins.list[Request]:
        """Every request served since the last :meth:`clear_requests`."""
        return self.log.all()

    def writes(self, resource: str | None = None) -> builtins.list[Request]:
        """Non-GET requests (optionally for one resource plural)."""
        return self.log.writes(resource)

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.log.clear()

    def fault(self, **kwargs: Any) -> Fault:
        """Shortcut for ``faults.add(Fault(**kwargs))``."""
        return self.faults.add(Fault(**kwargs))

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.faults.clear()
