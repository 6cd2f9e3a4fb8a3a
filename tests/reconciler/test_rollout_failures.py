"""Rollout failures seen in the new revision's pods, as a kubelet reports them (kubefake `pods`).

Each failure fails the Environment while the previous ReplicaSet keeps serving, with the reason,
the container's last log lines (redacted) and how to retry: never at the progress deadline.
"""

from __future__ import annotations

from typing import Any

from tests.kubefake import KubeFake
from tests.reconciler.support import ENV_NS, SHA1, SHA2, Rig, environment_obj, make_rig, seed
from tests.reconciler.test_build_logs import set_spec


def ready_rig(kubefake: KubeFake) -> Rig:
    seed(kubefake)
    kubefake.controllers.enable("jobs", "namespaces", "pods")
    kubefake.put_object(environment_obj())
    rig = make_rig(kubefake)
    rig.run_until(rig.phase_is("Ready"))
    return rig


def push(kubefake: KubeFake, sha: str) -> None:
    set_spec(kubefake, sources=[{"name": "main", "commitSha": sha, "branch": "feature/x"}])


def serving_pods(kubefake: KubeFake) -> list[dict[str, Any]]:
    pods = kubefake.list("pods", ENV_NS)
    return [p for p in pods if any(c["ready"] for c in p["status"].get("containerStatuses", []))]


def image_of(pod: dict[str, Any]) -> str:
    return str(pod["spec"]["containers"][0]["image"])


def test_an_image_that_cannot_be_pulled_fails_while_the_old_pods_serve(kubefake: KubeFake) -> None:
    rig = ready_rig(kubefake)
    kubefake.controllers.unavailable_images(f"*:{SHA2}")
    push(kubefake, SHA2)
    rig.run_until(rig.phase_is("Failed"))
    status = rig.status()
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ImagePullBackOff"
    assert "Deployment/web" in status["message"] and "/catalyst redeploy" in status["message"]
    assert status["commitSha"] == SHA1  # the old revision is what the URL still serves
    [old] = serving_pods(kubefake)
    assert image_of(old).endswith(SHA1)
    assert len(kubefake.list("replicasets", ENV_NS)) == 2


def test_a_crash_loop_fails_with_the_containers_last_log_lines_redacted(
    kubefake: KubeFake,
) -> None:
    seed(kubefake)
    project: Any = kubefake.get("projects", "shop", "acme")
    project["spec"]["templates"]["development"]["config"]["command"] = ["/app/serve", "--boom"]
    kubefake.put_object(project)
    kubefake.controllers.enable("jobs", "namespaces", "pods")
    kubefake.controllers.failing_commands("--boom")
    kubefake.controllers.pods.crash_log = "booting\npassword=hunter2\npanic: no database\n"
    kubefake.put_object(environment_obj())
    rig = make_rig(kubefake)
    rig.run_until(rig.phase_is("Failed"))
    status = rig.status()
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "CrashLoopBackOff"
    assert "panic: no database" in status["message"]
    assert "hunter2" not in status["message"]


def test_a_failing_init_container_fails_the_rollout(kubefake: KubeFake) -> None:
    seed(kubefake)
    project: Any = kubefake.get("projects", "shop", "acme")
    config = project["spec"]["templates"]["development"]["config"]
    config["initContainers"] = [{"name": "migrate", "command": ["/app/migrate", "--broken"]}]
    kubefake.put_object(project)
    kubefake.controllers.enable("jobs", "namespaces", "pods")
    kubefake.controllers.failing_commands("--broken")
    kubefake.put_object(environment_obj())
    rig = make_rig(kubefake)
    rig.run_until(rig.phase_is("Failed"))
    message = rig.status()["message"]
    assert "init container migrate" in message and "CrashLoopBackOff" in message


def test_a_fixed_commit_after_a_failure_rolls_out_and_retires_the_old_revision(
    kubefake: KubeFake,
) -> None:
    rig = ready_rig(kubefake)
    kubefake.controllers.unavailable_images(f"*:{SHA2}")
    push(kubefake, SHA2)
    rig.run_until(rig.phase_is("Failed"))
    sha3 = "c" * 40
    push(kubefake, sha3)
    rig.run_until(rig.phase_is("Ready"))
    [pod] = serving_pods(kubefake)
    assert image_of(pod).endswith(sha3)
    assert rig.status()["commitSha"] == sha3
