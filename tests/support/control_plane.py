"""Test support: a real Kubernetes control plane on loopback, started once per test session.

The binaries are built from the Go module proxy by ``scripts/control-plane.sh`` into
``.tools/control-plane/bin`` (etcd, kube-apiserver, kube-controller-manager, kwok). This module
starts them the way envtest does, plus simulated nodes:

* etcd on random loopback ports, data in a temporary folder, no fsync;
* kube-apiserver with RBAC authorization, a self-signed CA and serving certificate, a
  ServiceAccount issuer and signing key (TokenRequest works), an admin bearer token in
  ``system:masters``, default admission plugins (PodSecurity, ResourceQuota, LimitRanger,
  ServiceAccount, ValidatingAdmissionPolicy ...);
* kube-controller-manager with the garbage collector, namespace, job, deployment, replicaset,
  statefulset, serviceaccount, token, root-CA publisher, quota, TTL-after-finished,
  clusterrole-aggregation and CronJob controllers;
* one simulated node: kwok plays the pods' happy path and serves pod logs (every container's log
  is ``ControlPlane.log_file``) and exec (a local process on a pty in ``ControlPlane.exec_dir``,
  also its HOME; resizes reach the pty), while
  :mod:`tests.support.kubelet` decides what a kubelet would refuse (missing Secrets, unpullable
  images, crash loops), with rules tests set through ``control_plane.rules``.

Fixtures (registered in ``tests/conftest.py``):

* ``control_plane`` (session): the running :class:`ControlPlane`, with the repository's CRDs
  installed. When the binaries are missing it skips with one loud line; with ``CI=true`` it fails.
* ``cluster``: per test, a :class:`ClusterScope` giving names unique to the test
  (``cluster.name("acme")``) and deleting the namespaces the test registered afterwards; it also
  resets the kubelet rules.

Every test that uses these fixtures gets the ``control_plane`` marker, and the session prints how
many tests ran on the real control plane. ``python -m tests.support.control_plane serve DIR``
runs one for a person (``scripts/dev.sh``) until SIGTERM, writing ``DIR/kubeconfig``.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import config

from tests.support import pki
from tests.support.kube_rest import KubeRest
from tests.support.kubelet import OUTCOME_ANNOTATION, KubeletRules, KubeletSimulator
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CATALYST_CONTROL_PLANE_BIN", ROOT / ".tools" / "control-plane" / "bin"))
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kwok")
ISSUER = "https://kubernetes.default.svc.cluster.local"
# The API server's address as pods would reach it. A cluster's API server publishes its own
# endpoints for the `kubernetes` Service; this one listens on loopback, which Endpoints may not
# name, so it runs with --endpoint-reconciler-type=none and the session writes the EndpointSlice
# a cluster would have (the reconciler reads it to keep build pods away from the API server).
API_SERVER_POD_ADDRESS = "192.0.2.10"
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "job-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "resourcequota-controller",
    "ttl-after-finished-controller",
    "clusterrole-aggregation-controller",
    "cronjob-controller",
)
STARTUP_SECONDS = 90.0


class ControlPlaneError(RuntimeError):
    """A component did not start; the message names it and quotes its last log lines."""


def missing_binaries() -> list[str]:
    """Names of the control-plane binaries not built yet."""
    return [name for name in BINARIES if not os.access(BIN / name, os.X_OK)]


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Component:
    """One control-plane process with its log file."""

    def __init__(self, name: str, argv: list[str], workdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise self.error(f"exited with code {self.proc.returncode}")

    def error(self, what: str) -> ControlPlaneError:
        return ControlPlaneError(
            f"control plane: {self.name} {what}; last lines of {self.log}:\n{_tail(self.log)}"
        )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + one kwok node, on loopback."""

    def __init__(self, workdir: Path | None = None) -> None:
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="catalyst-cp-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pki = pki.generate(self.workdir / "pki")
        self.token = secrets.token_hex(24)
        self.ports = {n: free_port() for n in ("etcd", "etcd-peer", "apiserver", "kubelet")}
        self.server = f"https://127.0.0.1:{self.ports['apiserver']}"
        self.kubeconfig = self.workdir / "kubeconfig"
        self.log_file = self.workdir / "pod.log"
        self.exec_dir = self.workdir / "exec"
        self.rules = KubeletRules()
        self.components: list[Component] = []
        self.kubelet: KubeletSimulator | None = None
        self._rest: dict[str, KubeRest] = {}

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Start every component in order and wait until the API server is ready for work."""
        missing = missing_binaries()
        if missing:
            raise ControlPlaneError(
                f"control plane: not built ({', '.join(missing)} missing in {BIN}); "
                "run scripts/control-plane.sh"
            )
        self._write_files()
        try:
            self._start_etcd()
            self._start_apiserver()
            self._start_controller_manager()
            self._start_nodes()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything, newest first."""
        if self.kubelet is not None:
            self.kubelet.stop()
        for component in reversed(self.components):
            component.stop()
        for rest in self._rest.values():
            rest.close()

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _component(self, name: str, argv: list[str]) -> Component:
        component = Component(name, argv, self.workdir)
        component.start()
        self.components.append(component)
        return component

    def _wait(self, component: Component, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            component.check_alive()
            if ready():
                return
            time.sleep(0.1)
        raise component.error(f"did not become {what} within {STARTUP_SECONDS:.0f} s")

    # ---- files -----------------------------------------------------------------------------

    def _write_files(self) -> None:
        (self.workdir / "tokens.csv").write_text(f"{self.token},admin,admin-uid,system:masters\n")
        self.kubeconfig.write_text(yaml.safe_dump(self._kubeconfig("admin", self.token)))
        self.kubeconfig.chmod(0o600)
        self.log_file.write_text("")
        self.exec_dir.mkdir(exist_ok=True)
        (self.exec_dir / ".bashrc").write_text("PS1='$ '\n")
        (self.workdir / "kwok.yaml").write_text(yaml.safe_dump_all(self._kwok_config()))

    def _kubeconfig(self, user: str, token: str, namespace: str = "default") -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "catalyst-test",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self.pki.ca_cert),
                    },
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {
                    "name": "catalyst-test",
                    "context": {"cluster": "catalyst-test", "user": user, "namespace": namespace},
                }
            ],
            "current-context": "catalyst-test",
        }

    def _kwok_config(self) -> list[dict[str, Any]]:
        return [
            *kwok_stages(),
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterLogs",
                "metadata": {"name": "all-pods"},
                "spec": {
                    "logs": [
                        {
                            "containers": [],
                            "logsFile": str(self.log_file),
                            # a crash-looping container's last run (`previous=true`), as a
                            # kubelet serves it: the same lines
                            "previousLogsFile": str(self.log_file),
                            "follow": True,
                        }
                    ]
                },
            },
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterExec",
                "metadata": {"name": "all-pods"},
                "spec": {"execs": [{"containers": [], "local": self._local_exec()}]},
            },
        ]

    def _local_exec(self) -> dict[str, Any]:
        # HOME is the exec folder, so the host's dotfiles do not shape a simulated container's
        # shell: its .bashrc (written at start) gives the prompt of a container's user, `$ `.
        home = [{"name": "HOME", "value": str(self.exec_dir)}]
        return {"workDir": str(self.exec_dir), "envs": home}

    # ---- components ------------------------------------------------------------------------

    def _start_etcd(self) -> None:
        client_url = f"http://127.0.0.1:{self.ports['etcd']}"
        peer_url = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        etcd = self._component(
            "etcd",
            [
                str(BIN / "etcd"),
                "--data-dir",
                str(self.workdir / "etcd"),
                "--listen-client-urls",
                client_url,
                "--advertise-client-urls",
                client_url,
                "--listen-peer-urls",
                peer_url,
                "--initial-advertise-peer-urls",
                peer_url,
                "--initial-cluster",
                f"default={peer_url}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
        )
        self._wait(etcd, lambda: _http_ok(f"{client_url}/health"), "healthy")

    def _start_apiserver(self) -> None:
        p = self.pki
        apiserver = self._component(
            "kube-apiserver",
            [
                str(BIN / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
                f"--secure-port={self.ports['apiserver']}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--tls-cert-file={p.apiserver_cert}",
                f"--tls-private-key-file={p.apiserver_key}",
                f"--client-ca-file={p.ca_cert}",
                f"--token-auth-file={self.workdir / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={ISSUER}",
                f"--service-account-key-file={p.service_account_pub}",
                f"--service-account-signing-key-file={p.service_account_key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--allow-privileged=true",
                f"--kubelet-client-certificate={p.apiserver_cert}",
                f"--kubelet-client-key={p.apiserver_key}",
                "--kubelet-preferred-address-types=InternalIP",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--endpoint-reconciler-type=none",
                "-v=1",
            ],
        )
        self._wait(apiserver, self._apiserver_ready, "ready (/readyz)")
        self.rest().apply(api_server_endpoint_slice())

    def _apiserver_ready(self) -> bool:
        return _http_ok(f"{self.server}/readyz", token=self.token, ca=self.pki.ca_cert)

    def _start_controller_manager(self) -> None:
        kcm = self._component(
            "kube-controller-manager",
            [
                str(BIN / "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--service-account-private-key-file={self.pki.service_account_key}",
                f"--root-ca-file={self.pki.ca_cert}",
                "--use-service-account-credentials=false",
                "--leader-elect=false",
                "--secure-port=0",
                "-v=1",
                "--concurrent-gc-syncs=5",
                "--concurrent-namespace-syncs=5",
            ],
        )
        self._wait(kcm, self._default_service_account_exists, "working (no default ServiceAccount)")

    def _default_service_account_exists(self) -> bool:
        return self.rest().get("serviceaccounts", "default", "default") is not None

    def _start_nodes(self) -> None:
        kwok = self._component(
            "kwok",
            [
                str(BIN / "kwok"),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={self.workdir / 'kwok.yaml'}",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                f"--server-address=127.0.0.1:{self.ports['kubelet']}",
                "--node-ip=127.0.0.1",
                f"--node-port={self.ports['kubelet']}",
                f"--tls-cert-file={self.pki.kubelet_cert}",
                f"--tls-private-key-file={self.pki.kubelet_key}",
            ],
        )
        own = KubeRest(self.server, self.token, self.pki.ca_cert)  # the simulator's own connection
        self.kubelet = KubeletSimulator(own, self.rules, kubelet_port=self.ports["kubelet"])
        self.kubelet.start()
        self._wait(kwok, self._kubelet_port_open, "serving the kubelet API")

    def _kubelet_port_open(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
            return sock.connect_ex(("127.0.0.1", self.ports["kubelet"])) == 0

    # ---- clients ---------------------------------------------------------------------------

    def api_client(self) -> Any:
        """An official-client ``kubernetes.client.ApiClient`` with admin rights."""
        return config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call]

    def rest(self, token: str | None = None) -> KubeRest:
        """A small REST client for assertions and seeding (admin unless `token` is given)."""
        key = token or self.token
        if key not in self._rest:
            self._rest[key] = KubeRest(self.server, key, self.pki.ca_cert)
        return self._rest[key]

    def write_kubeconfig(self, path: Path) -> Path:
        """Write the admin kubeconfig to `path` (the same call as on ``KubeFake``)."""
        shutil.copy(self.kubeconfig, path)
        return path

    def service_account_token(self, namespace: str, name: str, *, seconds: int = 3600) -> str:
        """A bound token of ServiceAccount `namespace/name` (TokenRequest), as a kubelet gets."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"audiences": [ISSUER], "expirationSeconds": seconds},
        }
        path = self.rest().path("serviceaccounts", namespace, name) + "/token"
        return str(self.rest().post(path, body)["status"]["token"])

    def service_account_kubeconfig(
        self, namespace: str, name: str, path: Path, *, seconds: int = 3600
    ) -> Path:
        """Write a kubeconfig that authenticates as ServiceAccount `namespace/name`."""
        token = self.service_account_token(namespace, name, seconds=seconds)
        user = f"system:serviceaccount:{namespace}:{name}"
        path.write_text(yaml.safe_dump(self._kubeconfig(user, token, namespace)))
        path.chmod(0o600)
        return path

    def install_crds(self, paths: list[Path]) -> None:
        """Create or replace the CustomResourceDefinitions in `paths` and wait until Established."""
        rest = self.rest()
        crds = []
        for path in paths:
            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    rest.apply(doc)
                    crds.append(doc)
        for crd in crds:
            _wait_established(rest, crd["metadata"]["name"])
            _wait_listable(rest, crd)

    def append_log(self, *lines: str) -> None:
        """Append lines to every simulated container's log (kwok follows the file).

        kwok serves the file the way a kubelet serves a container runtime's log: in the CRI format
        (``<RFC 3339 time> stdout F <text>``), which the API server strips again for clients.
        """
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())
        with self.log_file.open("a") as out:
            out.writelines(f"{stamp} stdout F {line}\n" for line in lines)


def _http_ok(url: str, *, token: str | None = None, ca: Path | None = None) -> bool:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        verify = ssl.create_default_context(cafile=str(ca)) if ca else True
        answer = httpx.get(url, headers=headers, verify=verify, timeout=2)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def _wait_established(rest: KubeRest, name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        crd = rest.get("customresourcedefinitions", name) or {}
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return
        time.sleep(0.1)
    raise ControlPlaneError(f"control plane: CRD {name} never became Established")


def _wait_listable(rest: KubeRest, crd: dict[str, Any]) -> None:
    """Until a LIST of the resource answers: Established comes before the API server's watch cache
    for it is ready, and a list in between is a 429 "storage is (re)initializing"."""
    spec = crd["spec"]
    served = next(v["name"] for v in spec["versions"] if v.get("served", True))
    path = f"/apis/{spec['group']}/{served}/{spec['names']['plural']}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if rest.http.get(path, params={"limit": 1}).status_code == 200:
            return
        time.sleep(0.1)
    raise ControlPlaneError(f"control plane: {path} never answered a LIST")


def kwok_stages() -> list[dict[str, Any]]:
    """kwok Stages: pods ready, Job pods complete, deletion (held pods left alone); node ready."""
    held = {"key": f'.metadata.annotations["{OUTCOME_ANNOTATION}"]', "operator": "DoesNotExist"}
    alive = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
    phase = {"key": ".status.phase", "operator": "In"}
    not_ready = {
        "key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
        "operator": "NotIn",
        "values": ["True"],
    }
    job_pod = {"key": ".metadata.ownerReferences.[].kind", "operator": "In", "values": ["Job"]}
    return [
        _stage("pod-ready", "Pod", [alive, held, {**phase, "values": ["Pending"]}], _READY),
        _stage(
            "pod-complete",
            "Pod",
            [alive, held, {**phase, "values": ["Running"]}, job_pod],
            _COMPLETE,
        ),
        _stage(
            "pod-delete",
            "Pod",
            [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}],
            {"delete": True},
        ),
        # kwok plays pods only on nodes it manages, and manages nodes only with a node stage.
        _stage("node-ready", "Node", [not_ready], _NODE),
    ]


def _stage(
    name: str, kind: str, expressions: list[dict[str, Any]], next_: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": kind},
            "selector": {"matchExpressions": expressions},
            "next": next_,
        },
    }


_READY = {
    "statusTemplate": """\
{{ $now := Now }}
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  imageID: {{ printf "sim://%s" .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
initContainerStatuses:
{{ range .spec.initContainers }}
- image: {{ .image | Quote }}
  imageID: {{ printf "sim://%s" .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
hostIP: "127.0.0.1"
podIP: "10.0.0.1"
podIPs:
- ip: "10.0.0.1"
phase: Running
startTime: {{ $now | Quote }}
"""
}
_NODE = {
    "statusTemplate": """\
{{ $now := Now }}
conditions:
- type: Ready
  status: "True"
  reason: KubeletReady
  message: kwok
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
"""
}
_COMPLETE = {
    "statusTemplate": """\
{{ $now := Now }}
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready, reason: PodCompleted}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  imageID: {{ printf "sim://%s" .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
phase: Succeeded
"""
}


# ---- pytest wiring ---------------------------------------------------------------------------

_counter = itertools.count(1)


class ClusterScope:
    """Per-test view of the shared control plane: unique names and cleanup of namespaces."""

    def __init__(self, plane: ControlPlane, test_id: int) -> None:
        self.plane = plane
        self.test_id = test_id
        self.rest = plane.rest()
        self.namespaces: list[str] = []

    def name(self, base: str) -> str:
        """`base` made unique to this test (a valid DNS label), e.g. ``acme`` → ``acme-t17``."""
        return f"{base}-t{self.test_id}"

    def namespace(self, name: str, labels: dict[str, str] | None = None) -> str:
        """Create namespace `name` (registered for cleanup) and return it."""
        self.track(name)
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels or {}},
        }
        self.rest.apply(body)
        return name

    def track(self, name: str) -> None:
        """Delete namespace `name` after the test (whoever created it)."""
        if name not in self.namespaces:
            self.namespaces.append(name)

    def cleanup(self) -> None:
        for name in self.namespaces:
            self.rest.delete("namespaces", name)


def _fail_or_skip(message: str) -> None:
    line = f"REAL CONTROL PLANE SKIPPED: {message}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{line} (mandatory with CI=true)", pytrace=False)
    sys.stderr.write(f"\n*** {line}; build it with scripts/control-plane.sh (needs Go >= 1.26)\n")
    pytest.skip(line)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """The session's real control plane, with the repository CRDs installed."""
    missing = missing_binaries()
    if missing:
        _fail_or_skip(f"binaries not built ({', '.join(missing)})")
    plane = ControlPlane(tmp_path_factory.mktemp("control-plane"))
    started = time.monotonic()
    try:
        plane.start()
    except ControlPlaneError as exc:
        pytest.fail(str(exc), pytrace=False)
    plane.install_crds(sorted((ROOT / "crds").glob("*.yaml")))
    sys.stderr.write(
        f"\ncontrol plane: up in {time.monotonic() - started:.1f} s at {plane.server}\n"
    )
    yield plane
    plane.stop()


@pytest.fixture
def cluster(control_plane: ControlPlane, chart_release: ChartRelease) -> Iterator[ClusterScope]:
    """Unique names and namespace cleanup for one test on the shared control plane.

    The chart is installed before the first test runs, so its cluster-wide objects (the Ingress-host
    admission policy above all) hold for every test, whatever the order: a preview built with
    another preview domain than PREVIEW_DOMAIN fails at once instead of only after some other test.
    """
    scope = ClusterScope(control_plane, next(_counter))
    yield scope
    scope.cleanup()
    control_plane.rules.missing_images.clear()
    control_plane.rules.failing_commands.clear()


_ran_on_control_plane: set[str] = set()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the real control plane, so it can be selected and counted."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        # The e2e `stack` reaches the control plane through request.getfixturevalue.
        if "control_plane" in names or ("stack" in names and not missing_binaries()):
            item.add_marker(pytest.mark.control_plane)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "control_plane" in report.keywords and report.passed:
        _ran_on_control_plane.add(report.nodeid)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"real control plane: {len(_ran_on_control_plane)} tests passed on kube-apiserver + etcd "
        "+ kube-controller-manager + kwok"
    )


CHART = ROOT / "deploy" / "chart"
RELEASE_NAMESPACE = "catalyst-system"
RELEASE = "rel"
# The chart's Ingress-host admission policy admits `<namespace>.<this>` in preview namespaces, for
# every test on the control plane: each one's preview domain (a reconciler's settings, the e2e
# stack's CATALYST_PREVIEW_DOMAIN, an Ingress a test writes) must be this one.
PREVIEW_DOMAIN = "preview.example.com"


class ChartRelease:
    """This service's chart installed for real (helm) on the control plane: its RBAC is live."""

    def __init__(self, plane: ControlPlane, workdir: Path) -> None:
        self.plane = plane
        self.workdir = workdir
        self.namespace = RELEASE_NAMESPACE
        self.release = RELEASE

    def service_account(self, component: str) -> str:
        """The chart's ServiceAccount name of `component` (worker, reconciler, ...)."""
        return f"{self.release}-catalyst-preview-{component}"

    def kubeconfig_for(self, component: str) -> Path:
        """A kubeconfig holding a TokenRequest token of `component`'s ServiceAccount."""
        path = self.workdir / f"{component}.kubeconfig"
        return self.plane.service_account_kubeconfig(
            self.namespace, self.service_account(component), path
        )

    def token_for(self, component: str) -> str:
        return self.plane.service_account_token(self.namespace, self.service_account(component))


def api_server_endpoint_slice() -> dict[str, Any]:
    """The `kubernetes` Service's EndpointSlice, as a cluster's API server keeps it."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [API_SERVER_POD_ADDRESS], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
    }


def helm_binary() -> str:
    pinned = ROOT / ".tools" / "bin" / "helm"
    found = str(pinned) if pinned.is_file() else shutil.which("helm")
    if not found:
        raise ControlPlaneError("helm v3 not found: run scripts/get-helm.sh")
    return found


def install_chart(plane: ControlPlane, workdir: Path, *extra: str) -> ChartRelease:
    """`helm upgrade --install` this service's chart into catalyst-system (CRDs already there)."""
    argv = [
        helm_binary(),
        "upgrade",
        "--install",
        RELEASE,
        str(CHART),
        "--namespace",
        RELEASE_NAMESPACE,
        "--create-namespace",
        "--kubeconfig",
        str(plane.kubeconfig),
        "--skip-crds",
        "--set",
        "github.appId=1",
        "--set",
        "github.secret.create=true",
        "--set",
        "github.secret.privateKey=unused",
        "--set",
        "github.secret.webhookSecret=unused",
        "--set",
        f"config.previewDomain={PREVIEW_DOMAIN}",
        # The dashboard is off by default; on, its ServiceAccount and ClusterRole exist and the
        # browser tests run the real dashboard process with that account's token. (Its
        # Deployment's pod merely runs on the simulated node; OAuth values are placeholders.)
        "--set",
        "dashboard.enabled=true",
        "--set",
        "dashboard.githubClientId=Iv1.chart-placeholder",
        "--set",
        "dashboard.secret.create=true",
        "--set",
        "dashboard.secret.clientSecret=unused",
        "--set",
        "dashboard.secret.sessionKey=unused",
        *extra,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0:
        raise ControlPlaneError(
            f"control plane: helm install of deploy/chart failed:\n{done.stderr}"
        )
    return ChartRelease(plane, workdir)


@pytest.fixture(scope="session")
def chart_release(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> ChartRelease:
    """deploy/chart installed once per session; its ServiceAccounts give the processes tokens."""
    try:
        return install_chart(control_plane, tmp_path_factory.mktemp("chart"))
    except ControlPlaneError as exc:
        pytest.fail(str(exc), pytrace=False)


def install_deployer_role(plane: ControlPlane) -> None:
    """The chart's deployer ClusterRole (release `catalyst-preview`: the setting's default name).

    The reconciler binds it in each preview namespace and writes a preview's objects as that
    namespace's deployer; without it every preview write is a 403. `dev.sh` needs only this of
    the chart (its processes run locally, as the admin).
    """
    argv = [
        helm_binary(),
        "template",
        "catalyst-preview",
        str(CHART),
        "--show-only",
        "templates/rbac-deployer.yaml",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    for doc in yaml.safe_load_all(done.stdout):
        if doc:
            plane.rest().apply(doc)


def serve(directory: Path) -> None:
    """Run a control plane until SIGTERM/SIGINT, kubeconfig at `directory/kubeconfig`."""
    plane = ControlPlane(directory / "control-plane").start()
    plane.install_crds(sorted((ROOT / "crds").glob("*.yaml")))
    install_deployer_role(plane)
    shutil.copy(plane.kubeconfig, directory / "kubeconfig")
    print(f"control plane: {plane.server}; kubeconfig {directory / 'kubeconfig'}", flush=True)
    stopping = {"now": False}

    def _stop(*_: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping["now"]:
        for component in plane.components:
            component.check_alive()
        time.sleep(0.5)
    plane.stop()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        sys.exit("usage: python -m tests.support.control_plane serve DIR")
    serve(Path(sys.argv[2]).resolve())
