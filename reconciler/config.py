"""Pure: resolve an Environment's container config from its template (no I/O).

The Environment's `config` overrides the template's field by field: a set field replaces the
template's value, except `env`, which merges by variable name (override wins, order kept).
"""

from __future__ import annotations

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
    return resolved
