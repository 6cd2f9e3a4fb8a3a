"""Process shell: `python -m reconciler` runs the whole reconciler runtime in one process.

Threads: a Lease elector, one informer per watched kind plus the resync loop (every replica
keeps the caches; only the leader feeds the queue), and in the main thread a Celery worker
consuming queue `reconcile` with a small thread pool, whose tasks read from those caches.
SIGTERM makes Celery shut down warmly; then the watches stop and the Lease is released.
With `CATALYST_METRICS_PORT` set, `/metrics` and `/healthz` are served (reconciler.metrics).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from dataclasses import dataclass

import redis
from celery import Celery
from kubernetes import config as k8s_config

from core.clients.kube import new_api_client
from core.clients.queue import CeleryEnqueuer
from core.errors import CatalystError, ConfigError
from core.logs import configure_logging
from core.settings import Settings, SettingsError, exit_on_bad_settings, load_settings
from reconciler.celery_app import Runtime, create_app, install_runtime
from reconciler.cluster import Cluster
from reconciler.feeder import Feeder
from reconciler.helm import CliHelmRunner, Helm, resolve_helm_bin
from reconciler.keys import KeyGate, process_identity
from reconciler.lease import LeaderElector
from reconciler.metrics import observe_process
from reconciler.modes import ModeIO, ModeSettings
from reconciler.modes.install import deploy_modes
from reconciler.projects import ProjectReconciler
from reconciler.reconcile import Reconciler
from reconciler.servicekey import service_key_at_start
from reconciler.sources import GitHubTarballFetcher
from reconciler.tokens import GitHubAppTokens, TokenSource
from reconciler.watch import CachedReads, Watcher

log = logging.getLogger("reconciler")
LEASE_NAME = "catalyst-reconciler"
CONCURRENCY = "4"
# Informer watches, the elector and the worker threads share one client.
KUBE_POOL_SIZE = 16


class NoGitHubApp:
    """Token source used when no GitHub App is configured: builds fail with a clear reason."""

    def installation_token(self, installation_id: int, repository: str | None) -> str:
        raise ConfigError("CATALYST_GITHUB_APP_ID and a private key are needed to build")

    def build_token(self, installation_id: int, repository: str) -> str | None:
        raise ConfigError("CATALYST_GITHUB_APP_ID and a private key are needed to build")

    def revoke(self, token: str) -> None:
        """Nothing was minted, nothing to revoke."""


def mode_settings(settings: Settings) -> ModeSettings:
    """The pure settings the planner and modes use."""
    return ModeSettings(
        registry=settings.registry,
        builder_image=settings.builder_image,
        preview_domain=settings.preview_domain,
        ingress_class=settings.ingress_class,
        ingress_namespace=settings.ingress_namespace,
        tls_secret=settings.tls_secret,
        cert_issuer=settings.cert_issuer,
        registry_insecure=settings.plain_http_registry,
        build_egress_cidrs=tuple(settings.egress_cidrs),
        build_egress_ports=tuple(settings.egress_ports),
        deployer_cluster_role=settings.deployer_cluster_role,
        pod_reader_cluster_role=settings.pod_reader_cluster_role,
        worker_account=settings.worker_account,
        fork_registry=settings.fork_registry,
        fork_registry_secret=settings.fork_registry_secret,
        service_password_key=(
            settings.service_password_key.get_secret_value()
            if settings.service_password_key
            else None
        ),
    )


def token_source(settings: Settings) -> TokenSource:
    """GitHub App tokens when the App is configured."""
    try:
        settings.require_github_app()
    except SettingsError as exc:
        log.warning("no GitHub App (%s): builds will fail until it is configured", exc)
        return NoGitHubApp()
    assert settings.github_app_id is not None
    return GitHubAppTokens(
        app_id=settings.github_app_id,
        private_key=settings.private_key(),
        api_url=settings.github_api_url,
    )


def mode_io(settings: Settings, cluster: Cluster) -> ModeIO:
    """The adapters imperative modes use: the cluster and the real helm CLI."""
    return ModeIO(cluster=cluster, helm=Helm(CliHelmRunner(), resolve_helm_bin(settings.helm_bin)))


@dataclass
class Process:
    """The long-lived parts of one reconciler process."""

    app: Celery
    elector: LeaderElector
    watcher: Watcher
    identity: str
    reconciler: Reconciler


def build_process(settings: Settings, cluster: Cluster) -> Process:
    """Wire the adapters, the runtime the tasks use, the elector and the watcher."""
    identity = process_identity()
    app = create_app(settings.redis_url)
    gate = KeyGate(redis.Redis.from_url(settings.redis_url, socket_timeout=2.0), owner=identity)
    feeder = Feeder(gate, CeleryEnqueuer(app))
    namespace = os.environ.get("POD_NAMESPACE", "default")
    elector = LeaderElector(
        cluster,
        namespace=namespace,
        name=LEASE_NAME,
        identity=identity,
        lease_seconds=settings.leader_lease_seconds,
        renew_deadline=settings.leader_renew_seconds,
        retry_period=settings.leader_retry_seconds,
    )
    watcher = Watcher(
        cluster,
        feeder,
        is_leader=elector.is_leader,
        resync_seconds=settings.resync_interval_seconds,
    )
    tokens = token_source(settings)
    modes_settings = mode_settings(settings)
    if modes_settings.service_password_key is None:
        key = service_key_at_start(cluster, namespace)
        modes_settings = dataclasses.replace(modes_settings, service_password_key=key)
    reconciler = Reconciler(
        cluster=cluster,
        reads=CachedReads(cluster, watcher.informers),
        settings=modes_settings,
        tokens=tokens,
        enqueue=CeleryEnqueuer(app),
        mode_io=mode_io(settings, cluster),
        modes=deploy_modes(GitHubTarballFetcher(settings.github_api_url, tokens)),
    )
    projects = ProjectReconciler(cluster)
    install_runtime(Runtime(reconciler, projects, gate, feeder, watcher.resync))
    return Process(app, elector, watcher, identity, reconciler)


def run_worker(process: Process, log_level: str) -> int:
    """Run the Celery consumer of queue `reconcile` until SIGTERM; its exit code."""
    argv = [
        "worker",
        "-Q",
        "reconcile",
        "-P",
        "threads",
        "-c",
        CONCURRENCY,
        "-n",
        f"reconciler-{process.identity}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        log_level,
    ]
    try:
        process.app.worker_main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


def quiet_task_chatter(level: str) -> None:
    """Celery's per-task received/succeeded lines only at DEBUG: the reconciler logs phase changes.

    A converged reconcile runs every resync; at INFO its "succeeded in 0.03s: None" drowned
    what a person wants to see (failures and retries still log at WARNING and above).
    """
    if logging.getLevelName(level.upper()) != logging.DEBUG:
        for name in ("celery.app.trace", "celery.worker.strategy"):
            logging.getLogger(name).setLevel(logging.WARNING)


def main() -> int:
    """Start the reconciler runtime; returns the exit code."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        exit_on_bad_settings(exc, "reconciler")
    configure_logging(settings.log_level, settings.log_format)
    quiet_task_chatter(settings.log_level)
    try:
        cluster = Cluster(new_api_client(pool_size=KUBE_POOL_SIZE))
    except (k8s_config.ConfigException, OSError) as exc:
        print(f"catalyst-preview reconciler: no Kubernetes access: {exc}", file=sys.stderr)
        return 2
    try:
        process = build_process(settings, cluster)
    except CatalystError as exc:  # the API server stayed unreachable, or refused us, at start
        print(f"catalyst-preview reconciler: cannot start: {exc}", file=sys.stderr)
        return 2
    process.elector.start()
    process.watcher.start()
    observed = observe_process(process.app, process.watcher, process.elector, settings)
    log.info("reconciler %s started", process.identity)
    try:
        code = run_worker(process, settings.log_level)
    finally:
        observed.close()
        process.watcher.stop()
        process.elector.stop()
        install_runtime(None)
    log.info("reconciler %s stopped", process.identity)
    return code


if __name__ == "__main__":
    sys.exit(main())
