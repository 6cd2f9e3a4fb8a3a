"""Flow: new PR comments that may hold `/catalyst` commands (the worker parses and re-checks)."""

from __future__ import annotations

from core.jobs import TASK_COMMENT, CommentJob
from webhook import payloads
from webhook.routers import Router

router = Router()


@router.register("issue_comment", "created", task=TASK_COMMENT)
def on_comment_created(payload: payloads.Payload, delivery_id: str) -> CommentJob | None:
    """Humans' PR comments with a command line become a job; edits, bots and chatter do not."""
    return payloads.comment_job(payload, delivery_id)
