"""Pure: the Environment status a plan shows: conditions, phases and their messages (no I/O)."""

from __future__ import annotations

from core import conditions, naming
from core.model import Environment, EnvironmentStatus, Phase
from reconciler.actions import Plan
from reconciler.context import Observed
from reconciler.modes import ModeContext, Readiness

Cond = tuple[str, str, str]  # (status, reason, message)


def current_status(env: Environment) -> EnvironmentStatus:
    """A copy of the Environment's status (a fresh Pending one when it has none)."""
    return env.status.model_copy(deep=True) if env.status else EnvironmentStatus()


def with_conditions(
    obs: Observed, status: EnvironmentStatus, built: Cond, deployed: Cond, ready: Cond
) -> EnvironmentStatus:
    """`status` with the Built/Deployed/Ready conditions set (transition times kept)."""
    gen = obs.environment.metadata.generation
    conds = status.conditions
    for type_, (state, reason, message) in (
        (conditions.BUILT, built),
        (conditions.DEPLOYED, deployed),
        (conditions.READY, ready),
    ):
        conds = conditions.set_condition(
            conds, type_, state, reason, message, generation=gen, now=obs.now
        )
    status.conditions = conds
    status.observed_generation = gen
    return status


def failed(obs: Observed, reason: str, message: str) -> Plan:
    """Failed with `reason`: nothing is written to the cluster, the old pods keep serving."""
    status = current_status(obs.environment)
    status.phase, status.message = Phase.FAILED, message
    status.target_commit_sha = obs.environment.primary_source.commit_sha
    down = (conditions.FALSE, reason, message)
    status = with_conditions(obs, status, down, down, down)
    return Plan((), status, None)


def active_status(obs: Observed, ctx: ModeContext) -> EnvironmentStatus:
    """The current status with the namespace, URL and target commit of this pass."""
    status = current_status(obs.environment)
    status.namespace = ctx.namespace
    status.url = naming.preview_url(ctx.namespace, ctx.settings.preview_domain)
    status.target_commit_sha = ctx.commit_sha
    return status


def serving_message(status: EnvironmentStatus, target: str) -> str:
    """What serves while `target` rolls out (the Ready condition's message)."""
    live = status.commit_sha
    if live and live != target:
        return f"serving {naming.short_sha(live)} while {naming.short_sha(target)} rolls out"
    return f"{naming.short_sha(target)} is not serving yet"


def pending_status(obs: Observed, status: EnvironmentStatus, message: str) -> EnvironmentStatus:
    """`status` waiting before the builds (namespace being created or terminating)."""
    status.phase = Phase.PENDING if not status.commit_sha else Phase.DEPLOYING
    status.message = message
    target = obs.environment.primary_source.commit_sha
    wait = (conditions.FALSE, conditions.PENDING, message)
    ready = rolling_out(status, target)
    return with_conditions(obs, status, wait, wait, ready)


def deployed_condition(ctx: ModeContext, readiness: Readiness) -> Cond:
    """The Deployed condition: applied, with the mode's warnings named in its message."""
    message = f"deployed {naming.short_sha(ctx.commit_sha)}"
    if not readiness.warnings:
        return (conditions.TRUE, conditions.APPLIED, message)
    return (
        conditions.TRUE,
        conditions.APPLIED_WITH_WARNINGS,
        "; ".join([message, *readiness.warnings]),
    )


def built_condition(status: EnvironmentStatus) -> Cond:
    """The Built condition once every build of the target commit succeeded."""
    message = "images built" if status.builds else "nothing to build"
    return (conditions.TRUE, conditions.BUILT_OK, message)


def rolling_out(status: EnvironmentStatus, target: str) -> Cond:
    """The Ready condition while `target` rolls out (what serves meanwhile)."""
    return (conditions.FALSE, conditions.ROLLING_OUT, serving_message(status, target))
