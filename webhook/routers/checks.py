"""Flow: `check_run` and `check_suite` deliveries: our check run's buttons and Re-run."""

from __future__ import annotations

from core.jobs import TASK_CHECK_ACTION, CheckActionJob
from webhook import payloads
from webhook.routers import Router

router = Router()


@router.register("check_run", "requested_action", "rerequested", task=TASK_CHECK_ACTION)
def on_check_run(payload: payloads.Payload, delivery_id: str) -> CheckActionJob | None:
    """Redeploy / Rebuild buttons and Re-run of one check run (the worker checks permission)."""
    return payloads.check_action_job(payload, delivery_id, key="check_run")


@router.register("check_suite", "rerequested", task=TASK_CHECK_ACTION)
def on_check_suite(payload: payloads.Payload, delivery_id: str) -> CheckActionJob | None:
    """Re-run all of a commit's checks: redeploy its previews."""
    return payloads.check_action_job(payload, delivery_id, key="check_suite")
