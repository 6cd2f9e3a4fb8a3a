"""Flow: `installation` and `installation_repositories` bookkeeping deliveries."""

from __future__ import annotations

from core.jobs import TASK_INSTALLATION, InstallationJob
from webhook import payloads
from webhook.routers import Router

router = Router()


@router.register(
    "installation",
    "created",
    "deleted",
    "suspend",
    "unsuspend",
    "new_permissions_accepted",
    task=TASK_INSTALLATION,
)
@router.register("installation_repositories", "added", "removed", task=TASK_INSTALLATION)
def on_installation_changed(payload: payloads.Payload, delivery_id: str) -> InstallationJob:
    """Record which repositories the App can see (and whether it is suspended)."""
    return payloads.installation_job(payload, delivery_id)
