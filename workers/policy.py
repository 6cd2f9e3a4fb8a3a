"""Flows: the decision point "should this PR have a preview?" (pure; no I/O).

The minimal rules live here (previews enabled, trigger `auto` or the opt-in label, opt-out label,
drafts only when `deployDrafts`). The comment-command/policy work (core.policy) replaces this by
passing its own function as `Context.policy`; the shape stays `(Project, PullRequest) -> Decision`.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.github_values import PullRequest
from core.model import Project


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to keep a preview for a PR, and why (shown in logs)."""

    preview: bool
    reason: str


def should_preview(project: Project, pr: PullRequest) -> Decision:
    """The Project's preview policy applied to an open PR."""
    policy = project.spec.previews
    if not policy.enabled:
        return Decision(False, "previews are disabled for this project")
    if policy.opt_out_label in pr.labels:
        return Decision(False, f"opted out with the {policy.opt_out_label!r} label")
    if policy.trigger == "label" and policy.opt_in_label not in pr.labels:
        return Decision(False, f"waiting for the {policy.opt_in_label!r} label")
    if pr.draft and not policy.deploy_drafts:
        return Decision(False, "draft pull request")
    return Decision(True, "policy allows a preview")
