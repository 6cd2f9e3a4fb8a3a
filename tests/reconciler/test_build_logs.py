"""A failed build's log tail: read from its pod, redacted, on the status and in the PR comment.

The first test reads a real pod log through the real API server (kwok serves it); the others
count requests or inject a 500 on pod lists, which only ``tests/kubefake`` does on demand.
"""

from __future__ import annotations

from typing import Any

from core import naming
from core.model import Environment
from core.projection import comment_view, render_comment
from tests.kubefake import KubeFake
from tests.reconciler.support import (
    ENV_NS,
    PROJECT_NS,
    SHA1,
    Live,
    environment_obj,
    make_rig,
    seed,
)
from tests.support.control_plane import ControlPlane

TOKEN = "ghs_" + "A1b2C3d4E5f6G7h8I9j0K1l2"
LOG = "".join(f"step {n}/40\n" for n in range(1, 40)) + f"fatal: git clone with {TOKEN}\n"


def set_spec(kubefake: KubeFake, **changes: Any) -> None:
    env: Any = kubefake.get("environments", "pr-1", PROJECT_NS)
    env["spec"].update(changes)
    env["metadata"]["generation"] = env["metadata"].get("generation", 1) + 1
    kubefake.put_object(env)


def log_tail(status: dict[str, Any]) -> str | None:
    builds = status.get("builds") or []
    return builds[0].get("logTail") if builds else None


def build_of(status: dict[str, Any]) -> dict[str, Any]:
    (build,) = status["builds"]
    return dict(build)


def test_a_failed_build_stores_its_redacted_log_tail_and_the_comment_shows_it(
    live: Live, control_plane: ControlPlane
) -> None:
    # The simulated node serves one log for every container: the build's pod log ends with LOG.
    control_plane.append_log(*LOG.splitlines())
    live.seed()
    rig = live.rig()
    with control_plane.rules.command_failing(live.build_marker()):
        live.kube.put_object(live.environment())
        rig.run_until(lambda: log_tail(rig.status()) is not None)
    status = rig.status()
    tail = build_of(status)["logTail"]
    lines = tail.splitlines()
    assert len(lines) == 30 and lines[0] == "step 11/40"
    assert lines[-1] == "fatal: git clone with [redacted]"
    assert TOKEN not in tail
    assert status["phase"] == "Failed"
    env = Environment.model_validate(rig.env())
    body = render_comment(comment_view(env, log_url_template=None))
    assert "<details><summary>Build log (last lines)</summary>" in body
    assert "step 40/40" not in body and "fatal: git clone with [redacted]" in body
    assert TOKEN not in body


def test_the_log_is_read_once_and_a_rebuild_reads_its_own(kubefake: KubeFake) -> None:
    seed(kubefake)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    kubefake.controllers.job_outcome("build-*", succeed=False, log="first attempt\n")
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
    rig.run_until(lambda: log_tail(rig.status()) == "first attempt")
    kubefake.clear_requests()
    rig.run()
    assert [r for r in kubefake.requests() if r.resource == "pods"] == []
    kubefake.controllers.job_outcome("build-*", succeed=False, log="second attempt\n")
    set_spec(kubefake, rebuildNonce="r1")
    rig.run_until(lambda: log_tail(rig.status()) == "second attempt")
    assert rig.status()["phase"] == "Failed"


def test_missing_pods_and_unreadable_logs_leave_no_tail_and_fail_cleanly(
    kubefake: KubeFake,
) -> None:
    seed(kubefake)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    kubefake.controllers.job_outcome("build-*", succeed=False, log="too late\n")
    kubefake.fault(resource="pods", verb="list", status=500, times=None)
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
    rig.run_until(rig.phase_is("Failed"))
    build = build_of(rig.status())
    assert (build["job"], build["state"]) == (naming.build_job_name("app", SHA1), "Failed")
    assert build.get("logTail") is None
    kubefake.faults.clear()
    for pod in kubefake.list("pods", ENV_NS):  # garbage-collected before anyone read it
        kubefake.delete("pods", pod["metadata"]["name"], ENV_NS)
    rig.run()
    assert rig.status()["phase"] == "Failed" and build_of(rig.status()).get("logTail") is None


def test_a_private_fork_build_log_stays_off_the_pr(kubefake: KubeFake) -> None:
    import dataclasses

    from tests.reconciler.support import SETTINGS, project_obj

    seed(kubefake)
    project = project_obj()
    project["spec"]["security"] = {"forkBuildLogs": "private"}
    kubefake.put_object(project)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    kubefake.controllers.job_outcome("build-*", succeed=False, message="exit code 1", log=LOG)
    rig = make_rig(kubefake, settings=dataclasses.replace(SETTINGS, fork_registry="r.local"))
    fork = {"name": "main", "commitSha": SHA1, "branch": "x", "prNumber": 1, "fork": True}
    kubefake.put_object(environment_obj(sources=[fork]))
    rig.run_until(rig.phase_is("Failed"))
    assert build_of(rig.status()).get("logTail") is None
    body = render_comment(
        comment_view(Environment.model_validate(rig.env()), log_url_template=None)
    )
    assert "Build log (last lines)" not in body and "step 39/40" not in body
