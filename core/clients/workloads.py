"""Adapter: what people read from an environment's namespace, and a shell into its pods.

Shared by the dashboard and the `catalyst-preview env` CLI (both are shells; neither imports the
other): pods, their logs (a tail, or followed as lines arrive), the namespace's events, pod
metrics from `metrics.k8s.io` when a metrics server serves it, a watch of Environment CRs, and
an exec stream (`pods/exec`, the Kubernetes channel protocol) with resize. Every call carries a
timeout; API errors become `core.errors` like the other Kubernetes adapter.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import stream as k8s_stream
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from core.clients.kube import (
    REQUEST_TIMEOUT,
    KubeEnvironments,
    _call,  # one error mapping for every Kubernetes call
    map_api_exception,
)
from core.errors import NotFound, TemporaryError
from core.model import API_GROUP, API_VERSION, ENVIRONMENT_PLURAL, Environment

Obj = dict[str, Any]
FOLLOW_TIMEOUT = (3.0, 3600.0)  # a followed log may be quiet for a long time
WATCH_SECONDS = 30  # each watch call ends server-side after this, so a stop request is seen
RESIZE_CHANNEL = 4
METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"


class Workloads:
    """Reads and exec in environment namespaces, on one `kubernetes` ApiClient."""

    def __init__(self, api_client: Any) -> None:
        self._api_client = api_client
        self._core = k8s.CoreV1Api(api_client)
        self._custom = k8s.CustomObjectsApi(api_client)
        self.environments = KubeEnvironments(api_client)

    # --- Environments ----------------------------------------------------------------------

    def environment(self, namespace: str, name: str) -> Environment | None:
        """The Environment CR, or None when it is gone."""
        return self.environments.get_environment(namespace, name)

    def all_environments(self) -> list[Environment]:
        """Every Environment in the cluster."""
        return self.environments.list_environments()

    def watch_environments(self, stop: threading.Event) -> Iterator[str]:
        """Yield the event type (ADDED, MODIFIED, DELETED) of each Environment change until
        `stop` is set; reconnects after each server-side timeout."""
        while not stop.is_set():
            watcher = k8s_watch.Watch()  # type: ignore[no-untyped-call]
            events = watcher.stream(  # type: ignore[no-untyped-call]
                self._custom.list_cluster_custom_object,
                API_GROUP,
                API_VERSION,
                ENVIRONMENT_PLURAL,
                timeout_seconds=WATCH_SECONDS,
                _request_timeout=(3.0, WATCH_SECONDS + 5),
            )
            try:
                for event in events:
                    yield str(event.get("type", ""))
                    if stop.is_set():
                        break
            except ApiException as exc:
                raise map_api_exception(exc, "watch Environments") from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise TemporaryError(f"watch Environments: Kubernetes unreachable: {exc}") from exc
            finally:
                watcher.stop()  # type: ignore[no-untyped-call]

    # --- the namespace ---------------------------------------------------------------------

    def namespace_exists(self, namespace: str) -> bool:
        """True when the namespace is there (`get namespaces`, the one non-namespaced read)."""
        try:
            _call(f"read namespace {namespace}", self._core.read_namespace, namespace)
        except NotFound:
            return False
        return True

    def pods(self, namespace: str) -> list[Obj]:
        """The namespace's pods as plain objects (camelCase, like `kubectl get -o json`)."""
        return self._raw_items(
            f"list pods in {namespace}", self._core.list_namespaced_pod, namespace
        )

    def events(self, namespace: str) -> list[Obj]:
        """The namespace's events as plain objects."""
        return self._raw_items(
            f"list events in {namespace}", self._core.list_namespaced_event, namespace
        )

    def _raw_items(self, what: str, fn: Any, namespace: str) -> list[Obj]:
        # Raw JSON, not the client's models: those reject objects with fields they do not know
        # or without ones they expect (a pod status mid-creation), and we only read a few keys.
        response = _call(what, fn, namespace, _preload_content=False)
        try:
            return list(json.loads(response.data).get("items") or [])
        except ValueError as exc:
            raise TemporaryError(f"{what}: unreadable answer: {exc}") from exc

    def pod_metrics(self, namespace: str) -> list[Obj] | None:
        """PodMetrics items, or None when `metrics.k8s.io` is not served (no metrics server)."""
        try:
            data = _call(
                f"read pod metrics in {namespace}",
                self._custom.list_namespaced_custom_object,
                METRICS_GROUP,
                METRICS_VERSION,
                namespace,
                "pods",
            )
        except (NotFound, TemporaryError):
            return None
        return list(data.get("items", []))

    # --- logs -------------------------------------------------------------------------------

    def log_tail(self, namespace: str, pod: str, *, container: str | None, lines: int) -> str:
        """The last `lines` lines of one container's log."""
        return str(
            _call(
                f"read log of {namespace}/{pod}",
                self._core.read_namespaced_pod_log,
                pod,
                namespace,
                **_container(container),
                tail_lines=lines,
            )
        )

    def follow_log(
        self, namespace: str, pod: str, *, container: str | None, lines: int, stop: threading.Event
    ) -> Generator[str]:
        """The last `lines` lines, then each new line as the container writes it, until the
        container ends or `stop` is set (checked between chunks)."""
        response = _call(
            f"follow log of {namespace}/{pod}",
            self._core.read_namespaced_pod_log,
            pod,
            namespace,
            **_container(container),
            tail_lines=lines,
            follow=True,
            _preload_content=False,
            timeout=FOLLOW_TIMEOUT,
        )
        try:
            yield from _lines(response, stop)
        finally:
            response.release_conn()

    # --- exec -------------------------------------------------------------------------------

    def exec(
        self, namespace: str, pod: str, *, container: str | None, command: list[str], tty: bool
    ) -> ExecSession:
        """An interactive exec stream into one container (stdin, stdout, stderr, resize)."""
        try:
            ws = k8s_stream.stream(
                self._core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                command=command,
                **_container(container),
                stdin=True,
                stdout=True,
                stderr=not tty,
                tty=tty,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            raise map_api_exception(exc, f"exec in {namespace}/{pod}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TemporaryError(f"exec in {namespace}/{pod}: {exc}") from exc
        return ExecSession(ws)


def _container(container: str | None) -> dict[str, str]:
    return {"container": container} if container else {}


def _lines(response: Any, stop: threading.Event) -> Iterator[str]:
    pending = b""
    for chunk in response.stream(4096, decode_content=False):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace")
        if stop.is_set():
            return
    if pending:
        yield pending.decode("utf-8", "replace")


@dataclass
class ExecOutput:
    """What one read of an exec stream returned."""

    stdout: str
    stderr: str
    open: bool


class ExecSession:
    """One exec stream (the `kubernetes` client's WSClient): read output, write input, resize."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    def read(self, timeout: float) -> ExecOutput:
        """Whatever arrived within `timeout` seconds; `open` is False once the process ended."""
        if self._ws.is_open():
            self._ws.update(timeout=timeout)
        out = self._ws.read_stdout(timeout=0) if self._ws.peek_stdout() else ""
        err = self._ws.read_stderr(timeout=0) if self._ws.peek_stderr() else ""
        return ExecOutput(out, err, bool(self._ws.is_open()))

    def write(self, data: str) -> None:
        """Send keystrokes (or a script) to the process's stdin."""
        self._ws.write_stdin(data)

    def resize(self, *, cols: int, rows: int) -> None:
        """Tell the terminal its new size (the resize channel of the exec protocol)."""
        self._ws.write_channel(RESIZE_CHANNEL, json.dumps({"Width": cols, "Height": rows}))

    @property
    def exit_code(self) -> int | None:
        """The process's exit code once it ended (from the error channel's Status)."""
        return self._ws.returncode if not self._ws.is_open() else None

    def close(self) -> None:
        """End the stream (the remote process gets a closed stdin)."""
        self._ws.close()
