"""Flows: ask the reconciler for a new rollout or build of a preview's current commit.

Shared by the `/catalyst redeploy|rebuild` commands and the check run's Redeploy, Rebuild and
Re-run. The request is a nonce on the Environment spec (it survives restarts; a retried task
writes the same nonce, so it asks for one rollout, not two); GitHub is told at once, because the
projection shows a settled preview with a request not yet carried out as in progress.
"""

from __future__ import annotations

from collections.abc import Callable

from core.checks import Rollout
from core.clients.github import GitHubInstallation
from core.errors import Conflict
from core.model import Environment
from workers import statuses
from workers.context import Context

CONFLICT_ATTEMPTS = 5
Request = Rollout
_FIELDS: dict[Request, str] = {"redeploy": "redeploy_nonce", "rebuild": "rebuild_nonce"}


def can_request(env: Environment | None) -> bool:
    """True when there is a running preview to redeploy or rebuild."""
    return env is not None and not env.spec.suspended and not env.metadata.deletion_timestamp


async def request_rollout(
    ctx: Context, gh: GitHubInstallation, env: Environment, *, what: Request, nonce: str
) -> None:
    """Record the request on the CR, then publish the new in-progress state."""
    field = _FIELDS[what]
    updated = update_spec(ctx, env, lambda e: setattr(e.spec, field, nonce))
    if updated is not None:
        await statuses.publish_environment(ctx, gh, updated)


def update_spec(
    ctx: Context, env: Environment, change: Callable[[Environment], None]
) -> Environment | None:
    """Apply `change` to a fresh copy and replace the CR, retrying on conflicts.

    Returns the stored Environment, or None when it disappeared meanwhile.
    """
    namespace, name = env.metadata.namespace or "", env.metadata.name
    for attempt in range(CONFLICT_ATTEMPTS):
        changed = env.model_copy(deep=True)
        change(changed)
        try:
            return ctx.kube.replace_environment(changed)
        except Conflict:
            fresh = ctx.kube.get_environment(namespace, name)
            if fresh is None:
                return None
            if attempt == CONFLICT_ATTEMPTS - 1:
                raise
            env = fresh
    return None
