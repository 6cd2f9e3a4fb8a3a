"""`catalyst-preview doctor` names every missing piece on its own line and checks real reach."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from cli.doctor import COMPONENTS, RBAC_NEEDS, check_kubernetes, rbac_needs, run_doctor
from tests.support.control_plane import ChartRelease, ControlPlane
from tests.support.github import private_key_pem
from tests.support.redis_server import RedisServer

ALL_SETTINGS = ("WEBHOOK_SECRET", "GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY_FILE")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (*ALL_SETTINGS, "REDIS_URL", "GITHUB_API_URL"):
        monkeypatch.delenv(f"CATALYST_{name}", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return monkeypatch


def test_nothing_configured_lists_each_missing_piece(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CATALYST_REDIS_URL", "redis://127.0.0.1:9/0")
    lines: list[str] = []
    assert run_doctor(lines.append) == 1
    assert "✗ settings: CATALYST_WEBHOOK_SECRET is missing" in lines
    assert "✗ settings: CATALYST_GITHUB_APP_ID is missing" in lines
    assert any("CATALYST_GITHUB_PRIVATE_KEY" in line for line in lines)
    assert any(line.startswith("✗ redis: cannot reach") for line in lines)
    assert any(line.startswith("✗ kubernetes: no cluster access") for line in lines)
    assert "- github: skipped: the GitHub App settings are missing" in lines
    assert lines[-1] == "5 problem(s) found"


def test_credentials_are_masked(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CATALYST_REDIS_URL", "redis://:hunter2pass@127.0.0.1:9/0")
    clean_env.setenv("CATALYST_WEBHOOK_SECRET", "s")
    lines: list[str] = []
    run_doctor(lines.append)
    (redis_line,) = [line for line in lines if "redis:" in line]
    assert "hunter2pass" not in "\n".join(lines)
    assert "redis://:[redacted]@127.0.0.1:9/0" in redis_line


def test_malformed_setting_is_named(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CATALYST_GITHUB_APP_ID", "not-a-number")
    lines: list[str] = []
    assert run_doctor(lines.append) == 1
    assert any(line.startswith("✗ settings: CATALYST_GITHUB_APP_ID:") for line in lines)


def test_configured_deployment_checks_redis_cluster_crds_and_github(
    clean_env: pytest.MonkeyPatch,
    redis_server: RedisServer,
    control_plane: ControlPlane,
    tmp_path: Path,
) -> None:
    clean_env.setenv("CATALYST_WEBHOOK_SECRET", "s")
    clean_env.setenv("CATALYST_GITHUB_APP_ID", "7")
    clean_env.setenv("CATALYST_GITHUB_PRIVATE_KEY", private_key_pem())
    clean_env.setenv("CATALYST_REDIS_URL", redis_server.url)
    kubeconfig = control_plane.write_kubeconfig(tmp_path / "kubeconfig")
    clean_env.setenv("KUBECONFIG", str(kubeconfig))
    lines: list[str] = []
    with respx.mock(base_url="https://api.github.com", assert_all_called=True) as gh:
        gh.get("/app").mock(return_value=httpx.Response(200, json={"id": 7, "slug": "catalyst"}))
        gh.get("/app/installations").mock(
            return_value=httpx.Response(200, json=[{"id": 1, "account": {"login": "acme"}}])
        )
        run_doctor(lines.append)
    assert "✓ settings: all required settings are present" in lines
    assert any(line.startswith("✓ redis:") for line in lines)
    assert any(line.startswith("✓ kubernetes: API server") for line in lines)
    assert "✓ crd: projects.catalyst.catalyst.dev installed" in lines
    assert "✓ crd: environments.catalyst.catalyst.dev installed" in lines
    assert "✓ github: authenticated as App catalyst" in lines
    assert "✓ github: 1 installation(s): acme" in lines
    # The real authorizer answers each SelfSubjectAccessReview: an admin may do all of it.
    rbac = [line for line in lines if line[2:].startswith("rbac:")]
    assert len(rbac) == len(rbac_needs()) and all(line.startswith("✓ rbac:") for line in rbac), rbac


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_process_token_from_the_chart_holds_exactly_what_doctor_checks(
    clean_env: pytest.MonkeyPatch, chart_release: ChartRelease, component: str
) -> None:
    # doctor run in the component's pod, as its ServiceAccount: no false problem
    clean_env.setenv("KUBECONFIG", str(chart_release.kubeconfig_for(component)))
    clean_env.setenv("POD_NAMESPACE", chart_release.namespace)  # as in its pod (the Lease)
    rbac = [c.line() for c in check_kubernetes((component,)) if c.subject == "rbac"]
    assert len(rbac) == len(RBAC_NEEDS[component])
    assert all(line.startswith("✓ rbac:") for line in rbac), rbac


def test_a_process_token_lacking_a_right_is_reported(
    clean_env: pytest.MonkeyPatch, chart_release: ChartRelease
) -> None:
    # the worker's token checked for the reconciler's needs: it may not create namespaces
    clean_env.setenv("KUBECONFIG", str(chart_release.kubeconfig_for("worker")))
    lines = [c.line() for c in check_kubernetes(("reconciler",)) if c.subject == "rbac"]
    assert "✗ rbac: create namespaces (reconciler) denied" in lines


def test_a_half_configured_dashboard_is_named_and_an_unconfigured_one_skipped(
    clean_env: pytest.MonkeyPatch,
) -> None:
    from cli.doctor import LenientSettings, check_dashboard

    assert check_dashboard(LenientSettings()).line().startswith("- dashboard: not configured")
    clean_env.setenv("CATALYST_GITHUB_CLIENT_ID", "Iv1.x")
    line = check_dashboard(LenientSettings()).line()
    assert line.startswith("✗ dashboard:") and "CATALYST_DASHBOARD_SESSION_KEY is missing" in line
    clean_env.setenv("CATALYST_GITHUB_CLIENT_SECRET", "s")
    clean_env.setenv("CATALYST_DASHBOARD_URL", "https://dash.example")
    clean_env.setenv("CATALYST_DASHBOARD_SESSION_KEY", "k" * 32)
    assert check_dashboard(LenientSettings()).line() == (
        "✓ dashboard: configured; the App's callback URL must be https://dash.example/auth/callback"
    )
