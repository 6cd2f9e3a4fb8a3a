"""Pure: resolve an Environment's container config from its template (no I/O).

The Environment's `config` overrides the template's field by field: a set field replaces the
template's value, except `env` and `forkEnv`, which merge by variable name (override wins, order
kept). A fork PR's config (`fork_safe`) references no Secret: the project's app Secrets are never
copied for forks, and a container naming one would never start (CreateContainerConfigError).
"""

from __future__ import annotations

from core.errors import ConfigError
from core.model import EnvironmentConfig, EnvVar


def merge_env(base: list[EnvVar] | None, override: list[EnvVar] | None) -> list[EnvVar] | None:
    """Template env with the override's variables replacing same-named ones or appended."""
    if base is None and override is None:
        return None
    merged = {var.name: var for var in base or []}
    merged.update({var.name: var for var in override or []})
    return list(merged.values())


def resolve_config(
    template: EnvironmentConfig | None, override: EnvironmentConfig | None
) -> EnvironmentConfig:
    """The effective config: template fields replaced by set override fields, env merged."""
    base = template.model_dump(exclude_none=True) if template else {}
    extra = override.model_dump(exclude_none=True) if override else {}
    resolved = EnvironmentConfig.model_validate({**base, **extra})
    resolved.env = merge_env(template.env if template else None, override.env if override else None)
    resolved.fork_env = merge_env(
        template.fork_env if template else None, override.fork_env if override else None
    )
    return resolved


def references_secret(var: EnvVar) -> bool:
    """Whether a variable takes its value from a Secret."""
    return bool((var.value_from or {}).get("secretKeyRef"))


def fork_safe(config: EnvironmentConfig) -> EnvironmentConfig:
    """`config` without Secret references: `forkEnv` entries take the place of dropped ones.

    The application container gets every `forkEnv` entry (by name, over its env); an init
    container gets those whose names it lost. A `forkEnv` entry that names a Secret is a
    ConfigError: it could never be satisfied for a fork.
    """
    fork_env = list(config.fork_env or [])
    bad = [v.name for v in fork_env if references_secret(v)]
    if bad:
        raise ConfigError(f"forkEnv {', '.join(bad)}: a fork preview gets no Secrets")
    safe = config.model_copy(deep=True)
    safe.env = merge_env([v for v in config.env or [] if not references_secret(v)], fork_env)
    for init in safe.init_containers or []:
        dropped = {v.name for v in init.env or [] if references_secret(v)}
        kept = [v for v in init.env or [] if not references_secret(v)]
        init.env = merge_env(kept, [v for v in fork_env if v.name in dropped])
    return safe


def effective_config(
    template: EnvironmentConfig | None, override: EnvironmentConfig | None, *, fork: bool
) -> EnvironmentConfig:
    """The resolved config a workload runs with (fork-safe for a fork PR)."""
    resolved = resolve_config(template, override)
    return fork_safe(resolved) if fork else resolved
