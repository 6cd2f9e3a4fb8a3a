"""Flow: `push` deliveries to branches (including deletions) that may move a tracked branch."""

from __future__ import annotations

from core.jobs import TASK_PUSH, PushJob
from webhook import payloads
from webhook.routers import Router

router = Router()


@router.register("push", task=TASK_PUSH)
def on_branch_pushed(payload: payloads.Payload, delivery_id: str) -> PushJob | None:
    """Branch pushes become a job; tag pushes need no work."""
    return payloads.push_job(payload, delivery_id)
