"""The runtime pieces: informers, cached reads, Lease, watcher, Project reconciler.

The Lease and the Project reconciler run on the real control plane. The informer and watcher
tests stay on ``tests/kubefake``: they need a 410 on demand, request counts, and a server whose
every event is their own (a watcher sees the whole cluster).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from core import jobs
from reconciler.cluster import Cluster
from reconciler.feeder import Feeder
from reconciler.keys import KeyGate
from reconciler.lease import LeaderElector
from reconciler.projects import ProjectReconciler
from reconciler.watch import CachedReads, Informer, Watcher
from tests.kubefake import KubeFake
from tests.reconciler.support import (
    ENV_NS,
    PROJECT_NS,
    SHA2,
    Live,
    environment_obj,
    make_rig,
    seed,
)
from tests.support.queue import RecordingEnqueuer
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually


def test_informer_relists_after_410_and_misses_nothing(kubefake: KubeFake) -> None:
    seed(kubefake)
    informer = Informer(Cluster(kubefake.api_client()), "Environment", watch_timeout=2)
    informer.relist()
    kubefake.put_object(environment_obj(name="pr-1"))
    kubefake.put_object(environment_obj(name="pr-2"))
    kubefake.expire_watch_history()  # resuming from the old resourceVersion now answers 410
    stop = threading.Event()
    thread = threading.Thread(target=informer.run, args=(stop,), daemon=True)
    thread.start()
    eventually(lambda: informer.relists == 2)
    assert {n for _, n in informer.store} == {"pr-1", "pr-2"}
    kubefake.delete("environments", "pr-1", PROJECT_NS)
    eventually(lambda: informer.get(PROJECT_NS, "pr-1") is None)
    stop.set()
    informer.close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def make_watcher(
    kubefake: KubeFake, server: RedisServer, leader: Callable[[], bool]
) -> tuple[Watcher, RecordingEnqueuer]:
    sent = RecordingEnqueuer()
    feeder = Feeder(KeyGate(redis.Redis.from_url(server.url), prefix=f"t{id(sent)}"), sent)
    return Watcher(Cluster(kubefake.api_client()), feeder, is_leader=leader, watch_timeout=5), sent


def env_tasks(sent: RecordingEnqueuer) -> list[dict[str, Any]]:
    return [k for t, k, _ in sent.sent if t == jobs.TASK_RECONCILE]


def test_only_the_leader_feeds_and_status_writes_do_not_refeed(
    kubefake: KubeFake, redis_server: RedisServer
) -> None:
    seed(kubefake)
    leader, sent = make_watcher(kubefake, redis_server, lambda: True)
    standby, standby_sent = make_watcher(kubefake, redis_server, lambda: False)
    for w in (leader, standby):
        w.start()
        assert w.wait_synced(60)
    eventually(lambda: leader.resyncs >= 1)  # the first resync after winning the Lease
    kubefake.put_object(environment_obj())
    eventually(lambda: len(env_tasks(sent)) == 1)
    assert env_tasks(sent) == [{"namespace": PROJECT_NS, "name": "pr-1"}]
    leader.feeder.gate.unmark_queued(f"{PROJECT_NS}/pr-1")
    env: Any = kubefake.get("environments", "pr-1", PROJECT_NS)
    kubefake.put_object({**env, "status": {"phase": "Building"}})
    time.sleep(0.3)
    assert len(env_tasks(sent)) == 1
    assert standby_sent.sent == []
    assert standby.informers["Environment"].get(PROJECT_NS, "pr-1") is not None
    for w in (leader, standby):
        w.stop()


def test_child_events_feed_their_environment(kubefake: KubeFake, redis_server: RedisServer) -> None:
    seed(kubefake)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    kubefake.put_object(environment_obj())
    rig = make_rig(kubefake)
    rig.run_until(rig.phase_is("Ready"))
    watcher, sent = make_watcher(kubefake, redis_server, lambda: True)
    watcher.start()
    assert watcher.wait_synced(60)
    eventually(lambda: len(env_tasks(sent)) == 1)  # the new leader's resync is not the event
    sent.sent.clear()
    watcher.feeder.gate.unmark_queued(f"{PROJECT_NS}/pr-1")
    deployment: Any = kubefake.get("deployments", "web", ENV_NS)
    deployment["spec"]["replicas"] = 2
    kubefake.put_object(deployment)
    # The child's change feeds its Environment (and nothing else). The simulated Deployment
    # controller's own status write right after it may feed it once more: level-triggered work.
    wanted = {"namespace": PROJECT_NS, "name": "pr-1"}
    eventually(lambda: bool(env_tasks(sent)) and all(t == wanted for t in env_tasks(sent)))
    watcher.stop()


def test_a_build_pod_that_succeeds_feeds_its_environment_and_is_read_from_the_cache(
    kubefake: KubeFake, redis_server: RedisServer
) -> None:
    seed(kubefake)
    kubefake.controllers.enable("deployments", "namespaces")  # no Job controller: Job stays open
    kubefake.put_object(environment_obj())
    rig = make_rig(kubefake)
    rig.run_until(lambda: bool(kubefake.list("jobs", ENV_NS)))
    other = {"name": "other", "namespace": ENV_NS}
    spec = {"containers": [{"name": "main", "image": "busybox"}]}
    kubefake.put_object({"apiVersion": "v1", "kind": "Pod", "metadata": other, "spec": spec})
    # Not started (no resync): every event below is one the test folds in itself.
    watcher, sent = make_watcher(kubefake, redis_server, lambda: True)
    for informer in watcher.informers.values():
        informer.relist()
    sent.sent.clear()
    watcher.feeder.gate.unmark_queued(f"{PROJECT_NS}/pr-1")
    pods = watcher.informers["Pod"]
    (job,) = kubefake.list("jobs", ENV_NS)
    kubefake.controllers.job_pod_ended(job, "Succeeded")
    pods.relist()  # the build pod appears, succeeded
    assert env_tasks(sent) == [{"namespace": PROJECT_NS, "name": "pr-1"}]
    cached = CachedReads(Cluster(kubefake.api_client()), watcher.informers).build_pods(ENV_NS)
    (pod,) = cached  # the build pod only, never the namespace's other pods
    assert pod["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert pod["status"]["phase"] == "Succeeded"
    sent.sent.clear()
    watcher.feeder.gate.unmark_queued(f"{PROJECT_NS}/pr-1")
    relabelled = {**pod, "metadata": {**pod["metadata"], "annotations": {"x": "y"}}}
    pods.apply({"type": "MODIFIED", "object": relabelled})
    assert env_tasks(sent) == []  # no new phase: nothing to decide again


def test_converged_reconcile_from_the_cache_reads_once_and_writes_nothing(
    kubefake: KubeFake, redis_server: RedisServer
) -> None:
    seed(kubefake)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    kubefake.put_object(environment_obj())
    watcher, _ = make_watcher(kubefake, redis_server, lambda: False)
    watcher.start()
    assert watcher.wait_synced(60)
    cluster = Cluster(kubefake.api_client())
    rig = make_rig(kubefake, reads=CachedReads(cluster, watcher.informers))
    rig.run_until(rig.phase_is("Ready"))
    time.sleep(0.2)
    rig.run()
    kubefake.clear_requests()
    rig.run()
    served = [r for r in kubefake.requests() if r.verb != "watch"]
    assert [r for r in served if r.is_write] == []
    assert len(served) == 1 and served[0].resource == "environments"
    watcher.stop()


def elector(live: Live, identity: str) -> LeaderElector:
    return LeaderElector(
        Cluster(live.plane.api_client()),
        namespace=live.names.team,
        name="catalyst-reconciler",
        identity=identity,
        lease_seconds=1.0,
        renew_deadline=0.8,
        retry_period=0.1,
    )


def test_lease_has_one_leader_and_a_standby_takes_over(live: Live) -> None:
    live.kube.put_object(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": live.names.team}}
    )
    a, b = elector(live, "a"), elector(live, "b")
    a.start()
    eventually(a.is_leader)
    b.start()
    time.sleep(0.5)
    assert a.is_leader() and not b.is_leader()
    a.stop(release=False)  # dies without releasing
    eventually(b.is_leader)  # once the 1 s Lease expires (how fast is a benchmark's question)
    lease: Any = live.kube.get("leases", "catalyst-reconciler", live.names.team)
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] >= 1
    c = elector(live, "c")
    c.start()
    b.stop()  # releases: c takes over at once
    eventually(c.is_leader)
    c.stop()


def test_project_gets_namespace_status_and_a_finalizer_that_waits(live: Live) -> None:
    team, project_ns = live.names.team, live.names.project_ns
    live.kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team}})
    live.kube.put_object(live.project())
    projects = ProjectReconciler(Cluster(live.plane.api_client()))
    eventually(lambda: projects.reconcile(team, "shop") != 0.0, timeout=30)
    project: Any = live.kube.get("projects", "shop", team)
    assert project["status"]["namespace"] == project_ns
    assert project["status"]["conditions"][0]["status"] == "True"
    ns: Any = live.kube.get("namespaces", project_ns)
    assert ns["metadata"]["labels"]["catalyst.dev/namespace-type"] == "project"
    # Converged: another pass changes neither the Project nor its namespace.
    projects.reconcile(team, "shop")
    again: Any = live.kube.get("projects", "shop", team)
    ns_again: Any = live.kube.get("namespaces", project_ns)
    assert again["metadata"]["resourceVersion"] == project["metadata"]["resourceVersion"]
    assert ns_again["metadata"]["resourceVersion"] == ns["metadata"]["resourceVersion"]
    live.kube.put_object(live.environment())
    live.kube.delete("projects", "shop", team)
    assert projects.reconcile(team, "shop") == 5.0  # an Environment still depends on it
    assert live.kube.get("projects", "shop", team) is not None
    live.kube.delete("environments", "pr-1", project_ns)
    eventually(
        lambda: (
            projects.reconcile(team, "shop") is None
            and live.kube.get("projects", "shop", team) is None
        ),
        timeout=30,
    )


def test_a_project_whose_source_ref_names_no_source_is_not_ready_with_the_reason(
    kubefake: KubeFake,
) -> None:
    # The CRD's CEL rule refuses it at admission; the fake does not evaluate CEL, like an older
    # CRD that let one through: the reconciler must still say what is wrong.
    seed(kubefake)
    project: Any = kubefake.get("projects", "shop", "acme")
    project["spec"]["templates"]["development"]["builds"][0]["sourceRef"] = "mian"
    kubefake.put_object(project)
    projects = ProjectReconciler(Cluster(kubefake.api_client()))
    while projects.reconcile("acme", "shop") == 0.0:
        pass
    status: Any = kubefake.get("projects", "shop", "acme")["status"]  # type: ignore[index]
    (ready,) = status["conditions"]
    assert (ready["type"], ready["status"], ready["reason"]) == (
        "Ready",
        "False",
        "UnknownSourceRef",
    )
    assert (
        "templates.development.builds[0].sourceRef 'mian' names no source (sources: main)"
        in (ready["message"])
    )


def test_a_restarted_reconciler_and_a_new_leader_converge_every_existing_preview(
    kubefake: KubeFake, redis_server: RedisServer
) -> None:
    """A real LIST omits kind/apiVersion on built-in items: the first cache after a start must
    still key workloads by kind (it crashed with KeyError: 'kind' in key_of)."""
    seed(kubefake)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    kubefake.put_object(environment_obj(name="pr-1"))
    before = make_rig(kubefake)
    before.run_until(before.phase_is("Ready", "pr-1"), name="pr-1")
    kubefake.controllers.disable("jobs")  # the next build is still running when we are killed
    kubefake.put_object(environment_obj(sha=SHA2, name="pr-2"))
    before.run_until(before.phase_is("Building", "pr-2"), name="pr-2")
    kubefake.put_object(environment_obj(name="pr-3"))  # created while no reconciler ran
    kubefake.controllers.enable("jobs")
    leading = threading.Event()  # a standby that takes over once the old leader is gone
    watcher, sent = make_watcher(kubefake, redis_server, leading.is_set)
    watcher.start()
    assert watcher.wait_synced(60)
    leading.set()
    eventually(lambda: {k["name"] for k in env_tasks(sent)} == {"pr-1", "pr-2", "pr-3"})
    after = make_rig(kubefake, reads=CachedReads(Cluster(kubefake.api_client()), watcher.informers))
    for name in ("pr-1", "pr-2", "pr-3"):
        after.run_until(after.phase_is("Ready", name), name=name)
    assert after.status("pr-2")["commitSha"] == SHA2
    watcher.stop()
