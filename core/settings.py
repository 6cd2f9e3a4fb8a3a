"""Configuration: the `CATALYST_*` settings, declared here and read once per process by its shell.

Nothing is read at import. `load_settings()` reads the environment (and `.env`) and turns every
missing or malformed value into one clear line naming the setting, so a process stops at start
instead of failing later.
"""

from __future__ import annotations

import sys
from ipaddress import ip_network
from pathlib import Path
from typing import Literal, NoReturn

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CATALYST_"
_REDIS_SCHEMES = ("redis://", "rediss://", "redis+socket://", "unix://")


DEFAULT_REGISTRY = "registry.default.svc.cluster.local:5000"  # in-cluster, plain HTTP


class SettingsError(Exception):
    """Configuration is missing or malformed; the message is one line naming each setting."""


class Settings(BaseSettings):
    """Every setting of every process; each process checks the ones it needs at start."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", case_sensitive=False
    )

    webhook_secret: SecretStr
    github_app_id: int | None = Field(default=None, ge=1)
    github_app_slug: str | None = None
    github_private_key: SecretStr | None = None
    github_private_key_file: Path | None = None
    github_api_url: str = "https://api.github.com"
    redis_url: str = "redis://127.0.0.1:6379/0"
    preview_domain: str = "preview.localhost"
    ingress_class: str = "nginx"
    ingress_namespace: str = "ingress-nginx"
    tls_secret: str | None = None
    # cert-manager ClusterIssuer for preview Ingresses (`cert-manager.io/cluster-issuer`)
    cert_issuer: str | None = None
    registry: str = DEFAULT_REGISTRY
    # Plain-HTTP registry (Kaniko --insecure/--insecure-pull); unset: only the default one is
    registry_insecure: bool | None = None
    builder_image: str = "gcr.io/kaniko-project/executor:v1.23.2"
    helm_bin: str = "helm"
    log_url_template: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    build_egress_cidrs: str = "0.0.0.0/0"
    build_egress_ports: str = "443,5000"
    deployer_cluster_role: str = "catalyst-preview-deployer"
    # Pods and pod logs of preview namespaces for the worker (`/catalyst logs|status`): the
    # reconciler binds this ClusterRole in each preview namespace to the worker's ServiceAccount.
    # Both account settings or neither (then no binding: the worker runs with other credentials).
    pod_reader_cluster_role: str = "catalyst-preview-pod-reader"
    worker_service_account: str | None = None
    worker_service_account_namespace: str | None = None
    fork_registry: str | None = None
    service_password_key: SecretStr | None = None
    fork_registry_secret: str | None = None
    resync_interval_seconds: int = Field(default=600, ge=10)
    leader_lease_seconds: float = Field(default=15.0, gt=0)
    leader_renew_seconds: float = Field(default=10.0, gt=0)
    leader_retry_seconds: float = Field(default=2.0, gt=0)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # The dashboard: the App's OAuth (user-to-server) client, its public URL and a session key.
    github_client_id: str | None = None
    github_client_secret: SecretStr | None = None
    github_web_url: str | None = None
    dashboard_url: str | None = None
    dashboard_session_key: SecretStr | None = None
    dashboard_insecure_http: bool = False
    dashboard_permission_cache_seconds: float = Field(default=60.0, ge=0)
    dashboard_session_hours: float = Field(default=8.0, gt=0)
    dashboard_terminal_idle_seconds: float = Field(default=900.0, gt=0)

    @property
    def plain_http_registry(self) -> bool:
        """Whether builds push to (and pull their cache from) the registry over plain HTTP."""
        if self.registry_insecure is not None:
            return self.registry_insecure
        return self.registry == DEFAULT_REGISTRY

    @field_validator("webhook_secret")
    @classmethod
    def _secrets_not_blank(cls, value: SecretStr) -> SecretStr:
        if not [s for s in value.get_secret_value().split(",") if s.strip()]:
            raise ValueError("must contain at least one non-empty secret")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(_REDIS_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(_REDIS_SCHEMES)}")
        return value

    @field_validator("github_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("dashboard_url", "github_web_url")
    @classmethod
    def _optional_http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else None

    @field_validator("build_egress_ports")
    @classmethod
    def _port_list(cls, value: str) -> str:
        ports = [p.strip() for p in value.split(",") if p.strip()]
        if not all(p.isdigit() and 1 <= int(p) <= 65535 for p in ports):
            raise ValueError("must be comma-separated port numbers (1-65535)")
        return value

    @field_validator("build_egress_cidrs")
    @classmethod
    def _cidr_list(cls, value: str) -> str:
        try:
            [ip_network(c.strip()) for c in value.split(",") if c.strip()]
        except ValueError:
            raise ValueError("must be comma-separated CIDRs (e.g. 10.0.0.0/8)") from None
        return value

    @model_validator(mode="after")
    def _worker_account_complete(self) -> Settings:
        if (self.worker_service_account is None) != (self.worker_service_account_namespace is None):
            raise ValueError(
                f"{ENV_PREFIX}WORKER_SERVICE_ACCOUNT and "
                f"{ENV_PREFIX}WORKER_SERVICE_ACCOUNT_NAMESPACE must be set together"
            )
        return self

    @property
    def worker_account(self) -> tuple[str, str] | None:
        """(namespace, name) of the worker's ServiceAccount, when configured."""
        if self.worker_service_account and self.worker_service_account_namespace:
            return self.worker_service_account_namespace, self.worker_service_account
        return None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def webhook_secrets(self) -> list[bytes]:
        """All accepted webhook secrets (comma-separated for rotation)."""
        raw = self.webhook_secret.get_secret_value().split(",")
        return [s.strip().encode() for s in raw if s.strip()]

    @property
    def egress_cidrs(self) -> list[str]:
        """CIDRs build pods may reach (git host and registry)."""
        return [c.strip() for c in self.build_egress_cidrs.split(",") if c.strip()]

    @property
    def egress_ports(self) -> list[int]:
        """TCP ports build pods may reach on `egress_cidrs`."""
        return [int(p) for p in self.build_egress_ports.split(",") if p.strip()]

    def private_key(self) -> str:
        """The GitHub App private key (PEM), from the value or the file."""
        if self.github_private_key is not None:
            return self.github_private_key.get_secret_value()
        if self.github_private_key_file is not None:
            return self.github_private_key_file.read_text()
        raise SettingsError(
            f"{ENV_PREFIX}GITHUB_PRIVATE_KEY or {ENV_PREFIX}GITHUB_PRIVATE_KEY_FILE is missing"
        )

    def require_github_app(self) -> None:
        """Raise SettingsError unless the GitHub App id and a readable private key are set."""
        problems = []
        if self.github_app_id is None:
            problems.append(f"{ENV_PREFIX}GITHUB_APP_ID is missing")
        if self.github_private_key is None and self.github_private_key_file is None:
            problems.append(
                f"{ENV_PREFIX}GITHUB_PRIVATE_KEY or {ENV_PREFIX}GITHUB_PRIVATE_KEY_FILE is missing"
            )
        elif self.github_private_key_file and not self.github_private_key_file.is_file():
            problems.append(f"{ENV_PREFIX}GITHUB_PRIVATE_KEY_FILE: no such file")
        if problems:
            raise SettingsError("; ".join(problems))

    @property
    def github_web_base(self) -> str:
        """GitHub's web origin (OAuth pages): set, else derived from the API URL (GHES-aware)."""
        if self.github_web_url:
            return self.github_web_url
        return web_url_for_api(self.github_api_url)

    def require_dashboard(self) -> None:
        """Raise SettingsError unless the OAuth client, public URL and session key are usable."""
        problems = [f"{ENV_PREFIX}{name} is missing" for name in self._missing_dashboard()]
        key = self.dashboard_session_key
        if key is not None and len(key.get_secret_value()) < MIN_SESSION_KEY_CHARS:
            problems.append(
                f"{ENV_PREFIX}DASHBOARD_SESSION_KEY: must be at least {MIN_SESSION_KEY_CHARS} "
                "characters (e.g. `openssl rand -hex 32`)"
            )
        url = self.dashboard_url or ""
        if url.startswith("http://") and not self.dashboard_insecure_http:
            problems.append(
                f"{ENV_PREFIX}DASHBOARD_URL: plain http needs "
                f"{ENV_PREFIX}DASHBOARD_INSECURE_HTTP=true (local runs only)"
            )
        if problems:
            raise SettingsError("; ".join(problems))

    def _missing_dashboard(self) -> list[str]:
        wanted = {
            "GITHUB_CLIENT_ID": self.github_client_id,
            "GITHUB_CLIENT_SECRET": self.github_client_secret,
            "DASHBOARD_URL": self.dashboard_url,
            "DASHBOARD_SESSION_KEY": self.dashboard_session_key,
        }
        return [name for name, value in wanted.items() if value is None]


MIN_SESSION_KEY_CHARS = 32


def web_url_for_api(api_url: str) -> str:
    """github.com's web origin for its API, or a GHES host's origin for `https://HOST/api/v3`."""
    if api_url.rstrip("/") == "https://api.github.com":
        return "https://github.com"
    return api_url.rstrip("/").removesuffix("/api/v3")


def describe_validation_error(error: ValidationError) -> str:
    """One line naming every missing or malformed setting."""
    parts = []
    for item in error.errors():
        if not item["loc"]:  # a rule across settings: its message names them
            parts.append(str(item["msg"]).removeprefix("Value error, "))
            continue
        name = ENV_PREFIX + str(item["loc"][0]).upper()
        if item["type"] == "missing":
            parts.append(f"{name} is missing")
        else:
            parts.append(f"{name}: {item['msg']}")
    return "; ".join(parts)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and `.env`; raise SettingsError naming what is wrong."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


def exit_on_bad_settings(error: SettingsError, process: str) -> NoReturn:
    """Print one clear line and stop the process (exit code 2)."""
    print(f"catalyst-preview {process}: configuration error: {error}", file=sys.stderr)
    raise SystemExit(2)
