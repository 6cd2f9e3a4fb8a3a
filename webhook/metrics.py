"""Adapter: the receiver's Prometheus metrics, in a CollectorRegistry of its own per app.

A registry per app keeps tests and several apps in one process from sharing counters.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

KNOWN_EVENTS = frozenset(
    {"pull_request", "push", "issue_comment", "installation", "installation_repositories", "ping"}
)
MAX_LABEL = 40
ENQUEUE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def event_label(event: str | None) -> str:
    """A bounded label value: known events as is, anything else `other` (or `-` if absent)."""
    if not event:
        return "-"
    return event if event in KNOWN_EVENTS else "other"


def action_label(action: str | None) -> str:
    """A bounded label value for the payload's action."""
    return (action or "-")[:MAX_LABEL]


class ReceiverMetrics:
    """Deliveries by event/action/outcome, verification failures by reason, enqueue latency."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "catalyst_webhook_deliveries",
            "Webhook deliveries by event, action and outcome",
            ["event", "action", "outcome"],
            registry=self.registry,
        )
        self.verification_failures = Counter(
            "catalyst_webhook_verification_failures",
            "Deliveries rejected because their signature did not verify",
            ["reason"],
            registry=self.registry,
        )
        self.enqueue_seconds = Histogram(
            "catalyst_webhook_enqueue_seconds",
            "Time to record a delivery and put its job on the queue",
            buckets=ENQUEUE_BUCKETS,
            registry=self.registry,
        )

    def count_delivery(self, event: str | None, action: str | None, outcome: str) -> None:
        """Count one answered delivery."""
        self.deliveries.labels(event_label(event), action_label(action), outcome).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
