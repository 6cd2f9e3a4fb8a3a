"""Pure: Kubernetes-style condition helpers and the condition types and reasons we use (no I/O).

`lastTransitionTime` changes only when a condition's status flips, so rewriting the same
condition is a no-op and a converged reconcile writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.model import Condition

BUILT = "Built"
DEPLOYED = "Deployed"
READY = "Ready"

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"

# Reasons the reconciler gives its conditions (Kubernetes CamelCase). The deploy modes add their
# own readiness reasons (`reconciler.modes.Readiness.reason`); phases double as teardown reasons.
MISSING_LABELS = "MissingLabels"
PROJECT_NOT_FOUND = "ProjectNotFound"
NO_TEMPLATE = "NoTemplate"
UNSUPPORTED_TEMPLATE_TYPE = "UnsupportedTemplateType"
INVALID_CONFIG = "InvalidConfig"
REJECTED = "Rejected"
PENDING = "Pending"
ROLLING_OUT = "RollingOut"
BUILDING = "Building"
WAITING_FOR_BUILD = "WaitingForBuild"
BUILD_FAILED = "BuildFailed"
BUILT_OK = "Built"
APPLYING = "Applying"
APPLIED = "Applied"
APPLIED_WITH_WARNINGS = "AppliedWithWarnings"
# A template or build reads a Project source the Environment records no commit for (the worker
# could not resolve its branch): never built at another source's commit instead.
SOURCE_MISSING = "SourceMissing"


def now_rfc3339() -> str:
    """The current UTC time in the form Kubernetes uses."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find(conditions: list[Condition] | None, type_: str) -> Condition | None:
    """The condition of `type_`, if present."""
    return next((c for c in conditions or [] if c.type == type_), None)


def is_true(conditions: list[Condition] | None, type_: str) -> bool:
    """True when the condition of `type_` is present with status True."""
    found = find(conditions, type_)
    return found is not None and found.status == TRUE


def set_condition(
    conditions: list[Condition] | None,
    type_: str,
    status: str,
    reason: str,
    message: str = "",
    *,
    generation: int | None = None,
    now: str | None = None,
) -> list[Condition]:
    """A new list with `type_` set; keeps lastTransitionTime unless the status flips."""
    current = find(conditions, type_)
    changed = current is None or current.status != status
    stamp = (now or now_rfc3339()) if changed or current is None else current.last_transition_time
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=stamp,
        observed_generation=generation,
    )
    others = [c for c in conditions or [] if c.type != type_]
    return sorted([*others, updated], key=lambda c: c.type)
