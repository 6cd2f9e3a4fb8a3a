"""reconciler.config.fork_safe (pure): a fork PR's config references no Secret."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.model import EnvironmentConfig
from reconciler.config import effective_config

SECRET = {"secretKeyRef": {"name": "db", "key": "url"}}


def config(**fields: object) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate(fields)


def test_secret_entries_are_dropped_and_fork_env_takes_their_place() -> None:
    template = config(
        env=[{"name": "DB", "valueFrom": SECRET}, {"name": "MODE", "value": "preview"}],
        forkEnv=[{"name": "DB", "value": "sqlite://"}],
        initContainers=[
            {
                "name": "migrate",
                "env": [{"name": "DB", "valueFrom": SECRET}, {"name": "X", "value": "1"}],
            },
            {"name": "warm", "env": [{"name": "TOKEN", "valueFrom": SECRET}]},
        ],
    )
    fork = effective_config(template, None, fork=True)
    assert [(v.name, v.value) for v in fork.env or []] == [("MODE", "preview"), ("DB", "sqlite://")]
    migrate, warm = fork.init_containers or []
    assert [(v.name, v.value) for v in migrate.env or []] == [("X", "1"), ("DB", "sqlite://")]
    assert warm.env == []
    same_repo = effective_config(template, None, fork=False)
    assert (same_repo.env or [])[0].value_from == SECRET


def test_an_environment_override_merges_its_fork_env_by_name() -> None:
    template = config(
        env=[{"name": "DB", "valueFrom": SECRET}], forkEnv=[{"name": "DB", "value": "a"}]
    )
    override = config(forkEnv=[{"name": "DB", "value": "b"}])
    fork = effective_config(template, override, fork=True)
    assert [(v.name, v.value) for v in fork.env or []] == [("DB", "b")]


def test_a_fork_env_entry_naming_a_secret_is_a_config_error() -> None:
    template = config(forkEnv=[{"name": "DB", "valueFrom": SECRET}])
    with pytest.raises(ConfigError, match="forkEnv DB"):
        effective_config(template, None, fork=True)
