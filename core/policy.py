"""Pure: who may run which command, and whether a pull request gets a preview now (no I/O).

Every input comes from the Project CR (`spec.previews`), the Environment CR and GitHub's answer
about the PR, never from files in the PR. The decision order is fixed: closed, disabled, opt-out
label, opt-in (label trigger, drafts), teardown by command, fork trust, then capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, get_args

from core.commands import VERBS, Verb, canonical_verb
from core.model import Permission, PreviewPolicy

PERMISSION_ORDER: Final[tuple[Permission, ...]] = get_args(Permission)


def required_permission(verb: Verb, policy: PreviewPolicy) -> Permission:
    """The lowest repository permission that may run `verb` (the Project may change it)."""
    for name, level in (policy.command_permissions or {}).items():
        if canonical_verb(name) == verb:
            return level
    return VERBS[verb].permission


def command_permissions(policy: PreviewPolicy) -> dict[str, str]:
    """Every verb's required permission under `policy` (for the help text)."""
    return {verb: required_permission(verb, policy) for verb in VERBS}


def permission_rank(level: str) -> int:
    """GitHub's order none < read < triage < write < maintain < admin; unknown roles rank none."""
    lowered = level.lower()
    return PERMISSION_ORDER.index(lowered) if lowered in PERMISSION_ORDER else 0


def has_permission(actual: str, required: str) -> bool:
    """True when a user holding `actual` may do what needs `required`."""
    return permission_rank(actual) >= permission_rank(required)


def is_bot(author: str, author_type: str, app_slug: str | None) -> bool:
    """True for any bot account, and for this App above all (so two bots can never loop)."""
    login = author.lower()
    if app_slug and login in (app_slug.lower(), f"{app_slug.lower()}[bot]"):
        return True
    return author_type.lower() == "bot" or login.endswith("[bot]")


# --- the preview decision -------------------------------------------------------------------


class Action(StrEnum):
    """What the flows do with a PR's Environment."""

    DEPLOY = "deploy"  # create the CR or move it to the head commit (and un-suspend it)
    HOLD = "hold"  # leave the CR exactly as it is
    AWAIT_APPROVAL = "await-approval"  # fork PR: no CR until a writer approves the head commit
    WAIT = "wait"  # no free slot: wait in the Project's queue
    REMOVE = "remove"  # no preview: delete the CR if there is one


@dataclass(frozen=True, slots=True)
class PrFacts:
    """What the decision needs about one PR and its Environment (if any)."""

    open: bool
    draft: bool
    labels: tuple[str, ...]
    fork: bool
    head_sha: str
    current_sha: str | None = None  # the CR's commit; None when there is no CR
    suspended: bool = False  # spec.suspended, set by `/catalyst teardown`
    approved_sha: str | None = None  # the fork commit a writer approved
    opted_in: bool = False  # a `/catalyst deploy` opted this PR in
    resume: bool = False  # a `/catalyst deploy` asked a torn-down preview back
    active_previews: int = 0  # other PRs' previews holding a slot
    waiting_ahead: int = 0  # PRs that have waited longer for a slot

    @property
    def holds_slot(self) -> bool:
        """True when this PR's preview already runs (a suspended one frees its slot)."""
        return self.current_sha is not None and not self.suspended


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do, why (shown in logs and the comment), and with which commit."""

    action: Action
    reason: str
    sha: str | None = None
    queue_position: int | None = None
    secrets: bool = True
    awaiting_approval: bool = False  # a fork commit a writer has not approved yet

    @property
    def preview(self) -> bool:
        """True when the PR's preview should run its head commit now."""
        return self.action == Action.DEPLOY


def preview_decision(policy: PreviewPolicy, pr: PrFacts) -> Decision:
    """The Project's policy applied to one PR."""
    return (
        _gate(policy, pr)
        or _suspension(pr)
        or _trust(policy, pr)
        or _capacity(policy, pr)
        or Decision(Action.DEPLOY, "policy allows a preview", pr.head_sha, secrets=not pr.fork)
    )


def _gate(policy: PreviewPolicy, pr: PrFacts) -> Decision | None:
    if not pr.open:
        return Decision(Action.REMOVE, "pull request is closed")
    if not policy.enabled:
        return Decision(Action.REMOVE, "previews are disabled for this project")
    if policy.opt_out_label in pr.labels:
        return Decision(Action.REMOVE, f"opted out with the `{policy.opt_out_label}` label")
    if policy.trigger == "label" and policy.opt_in_label not in pr.labels and not pr.opted_in:
        why = f"add the `{policy.opt_in_label}` label or comment `/catalyst deploy`"
        return Decision(Action.REMOVE, f"waiting to be opted in: {why}")
    if pr.draft and not policy.deploy_drafts and not pr.opted_in:
        why = "mark it ready for review or comment `/catalyst deploy`"
        return Decision(Action.REMOVE, f"draft pull request: {why}")
    return None


def _suspension(pr: PrFacts) -> Decision | None:
    # A teardown by command lasts until the next push (a new head) or `/catalyst deploy`.
    if pr.suspended and pr.head_sha == pr.current_sha and not pr.resume:
        return Decision(Action.HOLD, "torn down by command until the next push or deploy")
    return None


def _trust(policy: PreviewPolicy, pr: PrFacts) -> Decision | None:
    if not pr.fork:
        return None
    if policy.fork_policy == "never":
        return Decision(Action.REMOVE, "previews of fork pull requests are disabled")
    if pr.approved_sha == pr.head_sha:
        return None
    why = "a writer must approve this commit with `/catalyst deploy`"
    if pr.current_sha is not None:
        return Decision(Action.HOLD, f"new commit of a fork PR: {why}", awaiting_approval=True)
    return Decision(Action.AWAIT_APPROVAL, f"fork pull request: {why}", awaiting_approval=True)


def _capacity(policy: PreviewPolicy, pr: PrFacts) -> Decision | None:
    limit = policy.max_environments
    if limit is None or pr.holds_slot:
        return None
    free = limit - pr.active_previews
    if free > pr.waiting_ahead:
        return None  # earlier arrivals take the free slots first
    position = pr.waiting_ahead + 1
    return Decision(
        Action.WAIT,
        f"all {limit} preview slots are in use (queue position {position})",
        queue_position=position,
    )


_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def ttl_seconds(ttl: str | None) -> int | None:
    """A preview TTL like `72h` in seconds (None: previews never expire)."""
    if not ttl:
        return None
    return int(ttl[:-1]) * _TTL_UNITS[ttl[-1]]


def is_idle_expired(ttl: str | None, *, last_activity: float | None, now: float) -> bool:
    """True when a preview has had no PR activity for longer than the Project's TTL."""
    limit = ttl_seconds(ttl)
    return limit is not None and last_activity is not None and now - last_activity > limit
