"""Flows: ask the reconciler for a new rollout or build of a preview's current commit.

Shared by the `/catalyst redeploy|rebuild` commands and the check run's Redeploy, Rebuild and
Re-run. The request is a nonce on the Environment spec (it survives restarts; a retried task
writes the same nonce, so it asks for one rollout, not two); GitHub is told at once, because the
projection shows a settled preview with a request not yet carried out as in progress.
"""

from __future__ import annotations

from core.checks import Rollout
from core.clients.github import GitHubInstallation
from core.model import Environment
from workers import statuses
from workers.context import Context
from workers.environments import update_environment

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

    async def mutate(current: Environment | None) -> Environment | None:
        if current is None:
            return None  # gone meanwhile: nothing left to roll out
        changed = current.model_copy(deep=True)
        setattr(changed.spec, field, nonce)
        return changed

    namespace, name = env.metadata.namespace or "", env.metadata.name
    updated = await update_environment(ctx.kube, namespace, name, mutate)
    if updated is not None:
        await statuses.publish_environment(ctx, gh, updated)
