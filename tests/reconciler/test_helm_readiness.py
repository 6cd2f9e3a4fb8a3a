"""Helm previews without `--wait` on the real control plane (issue 17).

The real helm installs into the real API server and returns as soon as the objects are accepted;
the Environment is judged on later reconciles from the release's own workloads (recorded in
`status.release` from the manifest helm printed), by the pods the simulated kubelet reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.helm import Helm
from tests.reconciler.support import SHA1, Live, Rig
from tests.reconciler.test_compose_helm_e2e import helm_rig
from tests.support.control_plane import ControlPlane

SECRET = "hunter2-" + "s3cr3t"


def condition(rig: Rig, kind: str = "Ready") -> dict[str, Any]:
    return dict(next(c for c in rig.status()["conditions"] if c["type"] == kind))


def history(helm: Helm, live: Live) -> list[str]:
    return [r.status for r in helm.history("pr-1", live.env_ns())]


def web_image(live: Live) -> str:
    """The image prefix the preview's build pushes (global.images.web of the chart)."""
    return f"registry.local:5000/{live.names.team}/shop/web:"


def test_helm_preview_is_ready_only_once_its_pods_are_ready(live: Live, tmp_path: Path) -> None:
    # The pod mounts ConfigMap `gate`, which does not exist yet: a kubelet keeps it creating.
    rig, helm = helm_rig(live, tmp_path, values={"gateConfigMap": "gate"})
    ns = live.env_ns()
    live.kube.put_object(live.environment())
    rig.run_until(lambda: bool(rig.status().get("release")))
    for _ in range(3):
        rig.run()
    # Installed and recorded, yet not Ready: the release's Deployment has no ready pod.
    assert history(helm, live) == ["deployed"]
    status = rig.status()
    assert status["release"] == {"name": "pr-1", "revision": 1, "workloads": ["Deployment/web"]}
    assert status["phase"] == "Deploying"
    assert condition(rig)["status"] == "False"
    web: Any = live.kube.get("deployments", "web", ns)
    assert not web["status"].get("availableReplicas")
    live.kube.put_object(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gate", "namespace": ns}}
    )
    rig.run_until(rig.phase_is("Ready"))
    web = live.kube.get("deployments", "web", ns)
    assert web["status"]["availableReplicas"] == 1
    assert rig.status()["commitSha"] == SHA1
    assert condition(rig)["reason"] == "RolloutComplete"
    assert history(helm, live) == ["deployed"]  # readiness took no new revision


def test_helm_preview_whose_image_cannot_be_pulled_fails_with_the_pull_reason(
    live: Live, control_plane: ControlPlane, tmp_path: Path
) -> None:
    rig, helm = helm_rig(live, tmp_path)
    with control_plane.rules.image_missing(web_image(live)):
        live.kube.put_object(live.environment())
        rig.run_until(rig.phase_is("Failed"))
    ready = condition(rig)
    assert ready["reason"] in ("ErrImagePull", "ImagePullBackOff")
    message = rig.status()["message"]
    assert "Deployment/web" in message and "/catalyst redeploy" in message
    # The install itself returned at once: its revision is deployed, not failed at a timeout.
    assert history(helm, live) == ["deployed"]
    assert condition(rig, "Deployed")["status"] == "True"


def test_helm_preview_in_a_crash_loop_fails_with_its_redacted_last_log_lines(
    live: Live, control_plane: ControlPlane, tmp_path: Path
) -> None:
    control_plane.append_log("starting web", f"password={SECRET}", "panic: no database")
    marker = f"--serve-{live.names.team}"  # on the app's command line only, not the build's
    rig, helm = helm_rig(live, tmp_path, values={"args": [marker]})
    with control_plane.rules.command_failing(marker):
        live.kube.put_object(live.environment())
        rig.run_until(rig.phase_is("Failed"))
    assert condition(rig)["reason"] == "CrashLoopBackOff"
    message = rig.status()["message"]
    assert "Last log lines of web" in message and "panic: no database" in message
    assert SECRET not in message
    assert history(helm, live) == ["deployed"]


def test_helm_chart_without_workloads_is_ready_once_its_objects_exist(
    live: Live, tmp_path: Path
) -> None:
    rig, helm = helm_rig(live, tmp_path, chart="config-only")
    live.kube.put_object(live.environment())
    rig.run_until(rig.phase_is("Ready"))
    settings: Any = live.kube.get("configmaps", "settings", live.env_ns())
    assert settings["data"]["greeting"] == "hello"
    assert rig.status()["release"] == {"name": "pr-1", "revision": 1, "workloads": []}
    assert "0 workload(s)" in rig.status()["message"]
    assert history(helm, live) == ["deployed"]


def test_helm_install_the_api_server_rejects_fails_with_helms_reason(
    live: Live, tmp_path: Path
) -> None:
    rig, helm = helm_rig(live, tmp_path, values={"port": 70000})  # no valid container port
    live.kube.put_object(live.environment())
    rig.run_until(rig.phase_is("Failed"))
    ready = condition(rig)
    assert ready["reason"] == "HelmFailed"
    assert "70000" in ready["message"] and "helm upgrade pr-1" in ready["message"]
    assert history(helm, live)[-1] == "failed"
