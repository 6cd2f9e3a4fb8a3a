"""The reconciler's integration points: process wiring of every mode, StatefulSet watches, docker
managed services, mode warnings in a condition, failed rollouts, teardown publishing and Project
changes reaching their Environments.

On the real control plane, except the two watch tests: they count the requests the cache saves
and expect exactly the events of their own objects, which needs a server of their own
(``tests/kubefake``, with its request log).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from core import jobs, naming
from core.errors import TemporaryError
from core.settings import Settings
from reconciler.__main__ import build_process
from reconciler.celery_app import install_runtime
from reconciler.cluster import Cluster
from reconciler.feeder import Feeder
from reconciler.helm import Helm
from reconciler.keys import KeyGate
from reconciler.modes.install import deploy_modes
from reconciler.servicekey import SECRET_NAME, stored_key
from reconciler.watch import CachedReads, Watcher
from tests.kubefake import KubeFake
from tests.reconciler.mode_support import project_with
from tests.reconciler.support import (
    ENV_NS,
    PROJECT_NS,
    SHA1,
    SHA2,
    TEAM,
    Live,
    Rig,
    environment_obj,
    make_rig,
    ready_image_rig,
    seed,
)
from tests.reconciler.test_compose_helm_e2e import COMPOSE, write
from tests.support.control_plane import PREVIEW_DOMAIN, ControlPlane
from tests.support.fake_sources import LocalSourceFetcher
from tests.support.queue import RecordingEnqueuer
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually

SERVICES = [{"name": "db", "engine": "postgres"}, {"name": "cache", "engine": "redis"}]
PREBUILT: dict[str, Any] = {
    "type": "prebuilt",
    "image": "ghcr.io/acme/shop",
    "config": {"ports": [{"containerPort": 8080}], "services": SERVICES},
}


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status.get("conditions") or [] if c["type"] == type_)


def live_phase(live: Live) -> Any:
    env = live.kube.get("environments", "pr-1", live.names.project_ns) or {}
    return (env.get("status") or {}).get("phase")


# --- 1: the process registers every mode ---------------------------------------------------------


@pytest.fixture
def no_runtime() -> Iterator[None]:
    yield
    install_runtime(None)


@pytest.mark.usefixtures("no_runtime")
def test_the_process_wiring_registers_every_mode_and_deploys_prebuilt(
    live: Live, redis_server: RedisServer
) -> None:
    settings = Settings(
        webhook_secret=SecretStr("s"),
        redis_url=redis_server.url,
        preview_domain=PREVIEW_DOMAIN,  # what the chart's admission policy admits
        _env_file=None,
    )
    process = build_process(settings, Cluster(live.plane.api_client()))
    assert {"docker", "prebuilt", "helm", "docker-compose"} == set(process.reconciler.modes)
    assert isinstance(process.reconciler.mode_io.helm, Helm)
    # no CATALYST_SERVICE_PASSWORD_KEY: the process keeps its own, generated once, in a Secret
    stored = stored_key(live.kube.get("secrets", SECRET_NAME, "default"))
    assert stored and process.reconciler.settings.service_password_key == stored
    live.seed()
    live.kube.put_object(project_with(PREBUILT, names=live.names))
    live.kube.put_object(live.environment())
    deadline = time.monotonic() + 60
    while live_phase(live) != "Ready":
        assert time.monotonic() < deadline, f"not Ready: {live_phase(live)}"
        process.reconciler.reconcile(live.names.project_ns, "pr-1")
        time.sleep(0.05)
    web: Any = live.kube.get("deployments", "web", live.env_ns())
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == f"ghcr.io/acme/shop:{SHA1}"


# --- 2 and 7: watches --------------------------------------------------------------------------


def make_watcher(kubefake: KubeFake, server: RedisServer) -> tuple[Watcher, RecordingEnqueuer]:
    sent = RecordingEnqueuer()
    gate = KeyGate(redis.Redis.from_url(server.url), prefix=f"gaps{id(sent)}")
    watcher = Watcher(
        Cluster(kubefake.api_client()), Feeder(gate, sent), is_leader=lambda: True, watch_timeout=5
    )
    watcher.start()
    assert watcher.wait_synced(60)
    return watcher, sent


def env_tasks(sent: RecordingEnqueuer) -> list[dict[str, Any]]:
    return [k for t, k, _ in sent.sent if t == jobs.TASK_RECONCILE]


def test_statefulsets_are_served_from_the_cache_and_feed_their_environment(
    kubefake: KubeFake, redis_server: RedisServer
) -> None:
    seed(kubefake)
    kubefake.put_object(project_with(PREBUILT))
    kubefake.controllers.enable("deployments", "namespaces")
    kubefake.put_object(environment_obj())
    watcher, sent = make_watcher(kubefake, redis_server)
    try:
        rig = make_rig(kubefake, reads=CachedReads(rig_cluster(kubefake), watcher.informers))
        rig.run_until(rig.phase_is("Ready"))
        eventually(lambda: len(watcher.informers["StatefulSet"].items()) == 2)
        rig.run()
        kubefake.clear_requests()
        for _ in range(3):  # converged: the cache answers, the preview stays Ready
            rig.run()
            assert rig.status()["phase"] == "Ready"
        served = [r for r in kubefake.requests() if r.verb != "watch"]
        assert {r.resource for r in served} == {"environments"}
        sent.sent.clear()
        watcher.feeder.gate.unmark_queued(f"{PROJECT_NS}/pr-1")
        sts: Any = kubefake.get("statefulsets", "db", ENV_NS)
        sts["spec"]["replicas"] = 2
        kubefake.put_object(sts)
        # A late event from the reconciles above may queue pr-1 too (then it is sent twice, once
        # before the gate was cleared): what matters is that pr-1, and nothing else, is fed.
        eventually(lambda: fed_only(sent, {"namespace": PROJECT_NS, "name": "pr-1"}))
    finally:
        watcher.stop()


def fed_only(sent: RecordingEnqueuer, key: dict[str, Any]) -> bool:
    """True once reconcile tasks were sent and every one of them is for `key`."""
    tasks = env_tasks(sent)
    return bool(tasks) and all(task == key for task in tasks)


def rig_cluster(kubefake: KubeFake) -> Cluster:
    return Cluster(kubefake.api_client())


def test_a_project_change_requeues_its_environments_and_updates_their_children(
    kubefake: KubeFake, redis_server: RedisServer
) -> None:
    seed(kubefake, builds=False)
    kubefake.controllers.enable("deployments", "namespaces")
    kubefake.put_object(environment_obj())
    kubefake.put_object(environment_obj(name="pr-2"))
    rig = make_rig(kubefake)
    rig.run_until(rig.phase_is("Ready"))
    watcher, sent = make_watcher(kubefake, redis_server)
    try:
        eventually(lambda: watcher.resyncs >= 1)
        sent.sent.clear()
        for name in ("pr-1", "pr-2"):
            watcher.feeder.gate.unmark_queued(f"{PROJECT_NS}/{name}")
        project: Any = kubefake.get("projects", "shop", TEAM)
        project["spec"]["templates"]["development"]["config"]["image"] = "nginx:1.28"
        project["spec"]["resources"]["development"]["pods"] = 12
        project["metadata"]["generation"] += 1
        kubefake.put_object(project)
        # Both Environments are fed, and nothing else (a late event may feed one once more).
        expected = {(PROJECT_NS, n) for n in ("pr-1", "pr-2")}
        eventually(lambda: {(t["namespace"], t["name"]) for t in env_tasks(sent)} == expected)
    finally:
        watcher.stop()
    rig.run_until(lambda: web_image(kubefake) == "nginx:1.28" and rig.status()["phase"] == "Ready")
    quota: Any = kubefake.get("resourcequotas", "default-quota", ENV_NS)
    assert quota["spec"]["hard"]["pods"] == "12"


def web_image(kubefake: KubeFake) -> str:
    web: Any = kubefake.get("deployments", "web", ENV_NS)
    return str(web["spec"]["template"]["spec"]["containers"][0]["image"])


# --- 3: docker mode runs managed services --------------------------------------------------------


def with_services(live: Live, services: list[dict[str, Any]]) -> None:
    project = live.project(builds=False)
    project["spec"]["templates"]["development"]["config"]["services"] = services
    live.kube.put_object(project)


def test_docker_mode_runs_managed_services_and_injects_their_connection_env(live: Live) -> None:
    live.seed(builds=False)
    with_services(live, SERVICES)
    live.kube.put_object(live.environment())
    rig = live.rig()
    rig.run_until(rig.phase_is("Ready"))
    ns = live.env_ns()
    for name in ("db", "cache"):
        sts: Any = live.kube.get("statefulsets", name, ns)
        assert sts["status"]["readyReplicas"] == 1
        assert live.kube.get("secrets", f"{name}-credentials", ns) is not None
    web: Any = live.kube.get("deployments", "web", ns)
    env = {e["name"]: e for e in web["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "db-credentials",
        "key": "url",
    }
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "cache-credentials"
    assert env["MODE"]["value"] == "preview"


def test_docker_mode_waits_for_its_services_before_ready(kubefake: KubeFake) -> None:
    # On kubefake: a real kubelet starts the database at once or (a missing image) fails the
    # rollout at once (tests/reconciler/test_lifecycle.py); only the fake holds it "starting".
    seed(kubefake, builds=False)
    project: Any = kubefake.get("projects", "shop", TEAM)
    project["spec"]["templates"]["development"]["config"]["services"] = SERVICES[:1]
    kubefake.put_object(project)
    kubefake.controllers.enable("namespaces")
    kubefake.put_object(environment_obj())
    rig = make_rig(kubefake)
    rig.run_until(lambda: kubefake.get("statefulsets", "db", ENV_NS) is not None)
    for _ in range(3):
        rig.run()
    assert rig.status()["phase"] == "Deploying"
    assert condition(rig.status(), "Ready")["reason"] == "ServicesStarting"


# --- 4: compose warnings land in a condition -----------------------------------------------------


def test_untranslated_compose_keys_are_named_in_the_deployed_condition(
    live: Live, tmp_path: Path
) -> None:
    write(tmp_path, SHA1, "app/compose.preview.yaml", COMPOSE)
    live.seed()
    template = {"type": "docker-compose", "sourceRef": "main", "path": "app/compose.preview.yaml"}
    live.kube.put_object(project_with(template, names=live.names))
    rig = live.rig(modes=deploy_modes(LocalSourceFetcher(tmp_path)))
    live.kube.put_object(live.environment())
    rig.run_until(rig.phase_is("Ready"))
    deployed = condition(rig.status(), "Deployed")
    assert deployed["status"] == "True" and deployed["reason"] == "AppliedWithWarnings"
    assert "not translated: " in deployed["message"]
    assert "services.web.privileged" in deployed["message"]
    job: Any = live.kube.get("jobs", naming.build_job_name("web", SHA1), live.env_ns())
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--context-sub-path=app/web" in args  # relative to the compose file's directory


# --- 5: a missing prebuilt image fails, a new commit recovers ------------------------------------


def prebuilt_on_port_80(live: Live) -> Rig:
    live.seed()
    live.kube.put_object(
        project_with({**PREBUILT, "config": {"ports": [{"containerPort": 80}]}}, names=live.names)
    )
    return live.rig()


def test_a_missing_prebuilt_image_fails_and_a_new_commit_recovers(
    live: Live, control_plane: ControlPlane
) -> None:
    rig = prebuilt_on_port_80(live)
    with control_plane.rules.image_missing(f"ghcr.io/acme/shop:{SHA1}"):
        live.kube.put_object(live.environment())
        rig.run_until(rig.phase_is("Failed"))
        status = rig.status()
        ready = condition(status, "Ready")
        # The kubelet's ImagePullBackOff on the new revision's pod fails it at once (rollout.py).
        assert ready["status"] == "False" and ready["reason"] == "ImagePullBackOff", ready
        assert f"ghcr.io/acme/shop:{SHA1}" in ready["message"]
        assert rig.run().requeue_after is not None  # looked at again: the image may still appear
        live.set_spec(sources=[{**live.environment()["spec"]["sources"][0], "commitSha": SHA2}])
        rig.run_until(rig.phase_is("Ready"))
    assert rig.status()["commitSha"] == SHA2
    assert condition(rig.status(), "Ready")["reason"] == "RolloutComplete"


def test_a_redeploy_of_the_same_missing_image_stays_failed(
    live: Live, control_plane: ControlPlane
) -> None:
    rig = prebuilt_on_port_80(live)
    with control_plane.rules.image_missing("ghcr.io/acme/shop:"):
        live.kube.put_object(live.environment())
        rig.run_until(rig.phase_is("Failed"))
        live.set_spec(redeployNonce="again")
        env: Any = rig.env()
        generation = env["metadata"]["generation"]
        rig.run_until(lambda: rig.status().get("observedGeneration") == generation)
        rig.run_until(rig.phase_is("Failed"))
        web: Any = live.kube.get("deployments", "web", live.env_ns())
        annotations = web["spec"]["template"]["metadata"]["annotations"]
        assert annotations["catalyst.dev/redeploy-nonce"] == "again"
    # the image was pushed after all
    rig.run_until(rig.phase_is("Ready"))


# --- 6: teardown tells the workers where GitHub must be cleaned up -------------------------------


def test_finished_teardown_enqueues_publish_status_with_the_teardown_hint(live: Live) -> None:
    live.seed(builds=False)
    obj = live.environment()
    obj["metadata"]["annotations"] = {naming.ANNOTATION_GITHUB_ENVIRONMENT: "shop/pr-1"}
    live.kube.put_object(obj)
    rig = live.rig()
    rig.run_until(rig.phase_is("Ready"))
    live.kube.delete("environments", "pr-1", live.names.project_ns)
    rig.enqueued.sent.clear()
    rig.run_until(lambda: rig.env() is None)
    publishes = [k for t, k, _ in rig.enqueued.sent if t == jobs.TASK_PUBLISH_STATUS]
    assert publishes[-1] == {
        "namespace": live.names.project_ns,
        "name": "pr-1",
        "repository": "acme/shop",
        "installation_id": 42,
        "project": "shop",
        "pr_number": 1,
        "github_environment": "shop/pr-1",
        "final": True,
    }


def test_the_finalizer_stays_until_the_final_teardown_publish_is_queued(
    kubefake: KubeFake,
) -> None:
    rig = ready_image_rig(kubefake)
    kubefake.delete("environments", "pr-1", PROJECT_NS)
    broker_up = False
    sent = rig.enqueued

    def enqueue(task: str, kwargs: dict[str, Any], *, countdown: float | None = None) -> None:
        if not broker_up:
            raise TemporaryError("broker down")
        sent(task, kwargs, countdown=countdown)

    rig.reconciler.enqueue = enqueue
    rig.run_until(lambda: not kubefake.get("namespaces", ENV_NS))
    rig.run()
    assert rig.env() is not None  # the last GitHub status could not be queued: CR kept
    assert rig.status()["phase"] == "Deleting"
    broker_up = True
    rig.run_until(lambda: rig.env() is None)
    publishes = [k for t, k, _ in sent.sent if t == jobs.TASK_PUBLISH_STATUS]
    assert publishes[-1]["final"] is True
