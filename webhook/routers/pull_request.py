"""Flow: `pull_request` deliveries that can change a preview (open, push, close, labels, drafts)."""

from __future__ import annotations

from core.jobs import TASK_PULL_REQUEST, PullRequestJob
from webhook import payloads
from webhook.routers import Router

router = Router()
PREVIEW_ACTIONS = (
    "opened",
    "reopened",
    "synchronize",
    "closed",
    "ready_for_review",
    "converted_to_draft",
    "labeled",
    "unlabeled",
)


@router.register("pull_request", *PREVIEW_ACTIONS, task=TASK_PULL_REQUEST)
def on_pr_changed(payload: payloads.Payload, delivery_id: str) -> PullRequestJob | None:
    """Every preview-relevant action becomes one job; the worker refetches the PR."""
    return payloads.pull_request_job(payload, delivery_id)


@router.register("pull_request", "edited", task=TASK_PULL_REQUEST)
def on_pr_edited(payload: payloads.Payload, delivery_id: str) -> PullRequestJob | None:
    """Only a base-branch change matters; title and body edits need no work."""
    if not payloads.is_base_change(payload):
        return None
    return payloads.pull_request_job(payload, delivery_id)
