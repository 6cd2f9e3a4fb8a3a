"""core.settings: one clear line per bad setting, rotation, `.env`, secrets kept out of reprs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.settings import Settings, SettingsError, load_settings

SECRET = "s3cret-value-1"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No CATALYST_* variables, and a working directory with no `.env` unless a test writes one."""
    for name in list(os.environ):
        if name.upper().startswith("CATALYST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(f"CATALYST_{name}", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    return str(caught.value)


def test_missing_webhook_secret_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _error(monkeypatch)
    assert message == "CATALYST_WEBHOOK_SECRET is missing"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("LOG_LEVEL", "LOUD"),
        ("GITHUB_APP_ID", "abc"),
        ("GITHUB_APP_ID", "0"),
        ("GITHUB_API_URL", "api.github.com"),
        ("METRICS_PORT", "70000"),
        ("LOG_FORMAT", "xml"),
        ("BUILD_EGRESS_PORTS", "443,https"),
        ("BUILD_EGRESS_PORTS", "0"),
        ("BUILD_EGRESS_CIDRS", "10.0.0.0/8,github.com"),
    ],
)
def test_malformed_value_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    message = _error(monkeypatch, WEBHOOK_SECRET=SECRET, **{name: value})
    assert message.startswith(f"CATALYST_{name}: ")
    assert "\n" not in message


def test_several_problems_share_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _error(monkeypatch, REDIS_URL="nope", GITHUB_APP_ID="x")
    assert "\n" not in message
    for name in ("CATALYST_WEBHOOK_SECRET", "CATALYST_REDIS_URL", "CATALYST_GITHUB_APP_ID"):
        assert name in message


def test_blank_webhook_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _error(monkeypatch, WEBHOOK_SECRET=" , ,").startswith("CATALYST_WEBHOOK_SECRET: ")


def test_comma_separated_secrets_allow_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALYST_WEBHOOK_SECRET", "new-secret, old-secret,,")
    assert load_settings().webhook_secrets == [b"new-secret", b"old-secret"]


def test_values_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALYST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("CATALYST_LOG_LEVEL", "debug")
    monkeypatch.setenv("CATALYST_GITHUB_API_URL", "https://ghe.example.com/api/v3/")
    monkeypatch.setenv("CATALYST_BUILD_EGRESS_PORTS", "443, 5000,")
    monkeypatch.setenv("CATALYST_BUILD_EGRESS_CIDRS", "10.0.0.0/8, 140.82.112.0/20")
    settings = load_settings()
    assert settings.egress_cidrs == ["10.0.0.0/8", "140.82.112.0/20"]
    assert settings.log_level == "DEBUG"
    assert settings.github_api_url == "https://ghe.example.com/api/v3"
    assert settings.egress_ports == [443, 5000]


def test_dotenv_in_working_directory_is_read(clean_environment: Path) -> None:
    (clean_environment / ".env").write_text(
        f"CATALYST_WEBHOOK_SECRET={SECRET}\nCATALYST_PREVIEW_DOMAIN=pr.example.com\n"
    )
    settings = load_settings()
    assert settings.webhook_secrets == [SECRET.encode()]
    assert settings.preview_domain == "pr.example.com"


def test_environment_overrides_dotenv(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_environment / ".env").write_text(f"CATALYST_WEBHOOK_SECRET={SECRET}\n")
    monkeypatch.setenv("CATALYST_WEBHOOK_SECRET", "from-env")
    assert load_settings().webhook_secrets == [b"from-env"]


def test_secrets_never_appear_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "-----BEGIN RSA PRIVATE KEY-----\nprivate-key-body\n-----END RSA PRIVATE KEY-----"
    monkeypatch.setenv("CATALYST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("CATALYST_GITHUB_PRIVATE_KEY", key)
    settings = load_settings()
    for text in (repr(settings), str(settings), repr(settings.model_dump())):
        assert SECRET not in text and "private-key-body" not in text


def test_secret_is_not_echoed_in_a_validation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _error(monkeypatch, WEBHOOK_SECRET=SECRET, GITHUB_APP_ID="not-a-number")
    assert SECRET not in message


def _app_settings(**values: object) -> Settings:
    return load_settings(webhook_secret=SECRET, **values)


def test_private_key_from_value() -> None:
    settings = _app_settings(github_app_id=7, github_private_key="PEM")
    settings.require_github_app()
    assert settings.private_key() == "PEM"


def test_private_key_from_file(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text("PEM FROM FILE")
    settings = _app_settings(github_app_id=7, github_private_key_file=key_file)
    settings.require_github_app()
    assert settings.private_key() == "PEM FROM FILE"


def test_require_github_app_names_everything_missing() -> None:
    with pytest.raises(SettingsError) as caught:
        _app_settings().require_github_app()
    message = str(caught.value)
    assert "CATALYST_GITHUB_APP_ID is missing" in message
    assert "CATALYST_GITHUB_PRIVATE_KEY or CATALYST_GITHUB_PRIVATE_KEY_FILE is missing" in message
    assert "\n" not in message


def test_require_github_app_refuses_a_missing_key_file(tmp_path: Path) -> None:
    settings = _app_settings(github_app_id=7, github_private_key_file=tmp_path / "absent.pem")
    with pytest.raises(SettingsError, match="CATALYST_GITHUB_PRIVATE_KEY_FILE: no such file"):
        settings.require_github_app()


def test_private_key_without_any_source_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="CATALYST_GITHUB_PRIVATE_KEY"):
        _app_settings(github_app_id=7).private_key()


def _dashboard(**env: str) -> Settings:
    return load_settings(webhook_secret=SECRET, **env)


def test_dashboard_settings_name_every_missing_one() -> None:
    with pytest.raises(SettingsError) as caught:
        _dashboard().require_dashboard()
    for name in (
        "GITHUB_CLIENT_ID",
        "GITHUB_CLIENT_SECRET",
        "DASHBOARD_URL",
        "DASHBOARD_SESSION_KEY",
    ):
        assert f"CATALYST_{name}" in str(caught.value)


def test_dashboard_refuses_a_short_session_key_and_unannounced_plain_http() -> None:
    settings = _dashboard(
        github_client_id="Iv1.x",
        github_client_secret="s",
        dashboard_url="http://dash.local",
        dashboard_session_key="short",
    )
    with pytest.raises(SettingsError) as caught:
        settings.require_dashboard()
    assert "at least 32 characters" in str(caught.value)
    assert "CATALYST_DASHBOARD_INSECURE_HTTP=true" in str(caught.value)


def test_github_web_url_follows_the_api_url_for_ghes() -> None:
    assert _dashboard().github_web_base == "https://github.com"
    ghes = _dashboard(github_api_url="https://ghe.example.com/api/v3")
    assert ghes.github_web_base == "https://ghe.example.com"
    assert (
        _dashboard(github_web_url="https://web.example/").github_web_base == "https://web.example"
    )


def test_only_the_default_in_cluster_registry_is_plain_http_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CATALYST_WEBHOOK_SECRET", SECRET)
    assert load_settings().plain_http_registry is True
    monkeypatch.setenv("CATALYST_REGISTRY", "ghcr.io/acme")
    assert load_settings().plain_http_registry is False
    monkeypatch.setenv("CATALYST_REGISTRY_INSECURE", "true")
    assert load_settings().plain_http_registry is True


def test_the_worker_account_is_both_settings_or_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALYST_WEBHOOK_SECRET", "s")
    assert load_settings().worker_account is None  # no pod-reader binding in previews
    monkeypatch.setenv("CATALYST_WORKER_SERVICE_ACCOUNT", "rel-catalyst-preview-worker")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        "CATALYST_WORKER_SERVICE_ACCOUNT and CATALYST_WORKER_SERVICE_ACCOUNT_NAMESPACE "
        "must be set together"
    )
    monkeypatch.setenv("CATALYST_WORKER_SERVICE_ACCOUNT_NAMESPACE", "catalyst-system")
    assert load_settings().worker_account == ("catalyst-system", "rel-catalyst-preview-worker")
