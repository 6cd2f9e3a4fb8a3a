"""Per-key queue discipline on a real redis-server: dedup while queued, lock, backoff."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from core import jobs
from reconciler.celery_app import Runtime, run_environment
from reconciler.feeder import Feeder
from reconciler.keys import QUEUED_STALE, KeyGate
from reconciler.reconcile import Outcome
from tests.support.queue import RecordingEnqueuer
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]


def gate_for(server: RedisServer, **kwargs: Any) -> KeyGate:
    return KeyGate(redis.Redis.from_url(server.url), **kwargs)


def test_a_queued_key_is_sent_once_until_it_starts(redis_server: RedisServer) -> None:
    sent = RecordingEnqueuer()
    feeder = Feeder(gate_for(redis_server), sent)
    assert [feeder.environment("ns", "pr-1") for _ in range(5)] == [
        True,
        False,
        False,
        False,
        False,
    ]
    feeder.gate.unmark_queued("ns/pr-1")
    assert feeder.environment("ns", "pr-1")
    assert [(t, k) for t, k, _ in sent.sent] == [
        (jobs.TASK_RECONCILE, {"namespace": "ns", "name": "pr-1"})
    ] * 2


def test_an_earlier_due_time_gets_through_a_delayed_one(redis_server: RedisServer) -> None:
    sent = RecordingEnqueuer()
    feeder = Feeder(gate_for(redis_server), sent)
    assert feeder.environment("ns", "pr-1", delay=30)
    assert feeder.environment("ns", "pr-1", delay=0)
    assert not feeder.environment("ns", "pr-1", delay=10)
    assert [c for _, _, c in sent.sent] == [30, None]


def test_backoff_grows_exponentially_with_a_cap_and_resets(redis_server: RedisServer) -> None:
    gate = gate_for(redis_server, base=1.0, cap=8.0, rand=lambda: 1.0)
    delays = [gate.failure_delay("k") for _ in range(6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    gate.succeeded("k")
    assert gate.failure_delay("k") == 1.0
    jittered = gate_for(redis_server, base=1.0, cap=8.0, rand=lambda: 0.0)
    assert jittered.failure_delay("j") == 0.5


class SlowReconciler:
    """Counts concurrent reconciles of the same key."""

    def __init__(self) -> None:
        self.running = 0
        self.max_running = 0
        self.calls = 0
        self.lock = threading.Lock()

    def reconcile(self, namespace: str, name: str) -> Outcome:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.max_running = max(self.max_running, self.running)
        time.sleep(0.2)
        with self.lock:
            self.running -= 1
        return Outcome(None)


class Failing:
    def reconcile(self, namespace: str, name: str) -> Outcome:
        raise RuntimeError("boom")


def test_one_key_never_runs_twice_at_once_across_workers(redis_server: RedisServer) -> None:
    slow, sent = SlowReconciler(), RecordingEnqueuer()
    runtimes = [
        Runtime(slow, None, gate, Feeder(gate, sent))  # type: ignore[arg-type]
        for gate in (gate_for(redis_server) for _ in range(4))
    ]
    threads = [threading.Thread(target=run_environment, args=(rt, "ns", "pr-1")) for rt in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert slow.max_running == 1
    assert slow.calls >= 1
    # Workers that found the key locked queued it again, shortly (never lost, never a pile-up).
    assert 1 <= len(sent.sent) <= 3
    assert {c for _, _, c in sent.sent} == {0.5}


def test_a_failing_reconcile_is_requeued_with_backoff(redis_server: RedisServer) -> None:
    sent = RecordingEnqueuer()
    gate = gate_for(redis_server, base=1.0, cap=4.0, rand=lambda: 1.0)
    rt = Runtime(Failing(), None, gate, Feeder(gate, sent))  # type: ignore[arg-type]
    delays = [run_environment(rt, "ns", "pr-1") for _ in range(4)]
    assert delays == [1.0, 2.0, 4.0, 4.0]
    assert [c for _, _, c in sent.sent] == [1.0, 2.0, 4.0, 4.0]


def test_markers_expire_and_a_new_leader_clears_them(redis_server: RedisServer) -> None:
    sent = RecordingEnqueuer()
    gate = gate_for(redis_server)
    feeder = Feeder(gate, sent)
    assert feeder.environment("ns", "pr-1", delay=3)
    assert feeder.environment("ns", "pr-2")
    ttl = gate.client.ttl("catalyst:reconcile:queued:ns/pr-1")
    assert 0 < int(ttl) <= 63
    assert gate.clear_queued() == 2
    assert feeder.environment("ns", "pr-1")


LONG_TTL = 3.0


def test_a_held_lock_is_renewed_past_its_ttl_and_names_its_owner(
    redis_server: RedisServer,
) -> None:
    # TTL 3 s, renewed every second: the renewer thread may stall up to 2 s (a loaded CI machine
    # stalled it past 0.2 s when the TTL was 0.3 s) and the lock still outlives its TTL.
    holder = gate_for(redis_server, lock_ttl=LONG_TTL, owner="replica-a")
    other = gate_for(redis_server, lock_ttl=LONG_TTL, owner="replica-b")
    with holder.lock("ns/pr-1") as held:
        assert held
        time.sleep(LONG_TTL + 0.5)  # past the TTL: only renewal keeps it
        with other.lock("ns/pr-1") as stolen:
            assert not stolen
        assert other.holder("ns/pr-1") == "replica-a"
    assert other.holder("ns/pr-1") is None
    with other.lock("ns/pr-1") as held_after:
        assert held_after


HOLD_AND_HANG = """
import sys, time, redis
from reconciler.keys import KeyGate
gate = KeyGate(redis.Redis.from_url(sys.argv[1]), lock_ttl=0.5, owner="doomed")
with gate.lock("ns/pr-1") as held:
    print("held" if held else "busy", flush=True)
    time.sleep(60)
"""


def test_a_sigkilled_holder_frees_its_key_within_the_lock_ttl(redis_server: RedisServer) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_HANG, redis_server.url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"held"
        gate = gate_for(redis_server, owner="survivor")
        time.sleep(0.8)  # past the TTL: the live holder keeps renewing
        assert gate.holder("ns/pr-1") == "doomed"
        child.kill()
        child.wait(timeout=10)
        killed = time.monotonic()
        while gate.holder("ns/pr-1") is not None:
            assert time.monotonic() - killed < 2.0, "a dead holder's lock outlived its TTL"
            time.sleep(0.05)
        with gate.lock("ns/pr-1") as held:
            assert held
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()


class EventWhileBusy(KeyGate):
    """A gate where the leader queues the key (an event) just as a task looks at the lock."""

    sent = RecordingEnqueuer()

    @contextmanager
    def lock(self, key: str) -> Iterator[bool]:
        namespace, _, name = key.partition("/")
        Feeder(self, self.sent).environment(namespace, name)
        with super().lock(key) as held:
            yield held


def test_a_task_that_finds_its_key_busy_puts_itself_back(redis_server: RedisServer) -> None:
    slow = SlowReconciler()
    gate = EventWhileBusy(redis.Redis.from_url(redis_server.url))
    rt = Runtime(slow, None, gate, Feeder(gate, gate.sent))  # type: ignore[arg-type]
    with gate_for(redis_server, owner="elsewhere").lock("ns/pr-1"):
        # The event's message may die with the worker that reserves it: requeue regardless.
        assert run_environment(rt, "ns", "pr-1") == 0.5
    assert slow.calls == 0
    assert [c for _, _, c in gate.sent.sent] == [None, 0.5]


def test_an_overdue_marker_no_longer_blocks_its_key(redis_server: RedisServer) -> None:
    now = [1000.0]
    sent = RecordingEnqueuer()
    feeder = Feeder(gate_for(redis_server, clock=lambda: now[0]), sent)
    assert feeder.environment("ns", "pr-1")
    now[0] += QUEUED_STALE - 1
    assert not feeder.environment("ns", "pr-1")  # still plausibly waiting in the queue
    now[0] += 2
    assert feeder.environment("ns", "pr-1")  # its message died with a worker: send again
    assert not feeder.environment("ns", "pr-1")
    assert len(sent.sent) == 2
