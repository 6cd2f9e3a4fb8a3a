"""Flows: the adapters and settings one worker flow run needs, passed explicitly.

Only the task shell (`workers.tasks`) builds a real `Context`; tests build one over respx, the
fake API server and a real Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from core.clients.github import GitHubApp
from core.clients.kube import EnvironmentStore, PodReader
from workers.projects import ProjectIndex


@dataclass
class FollowUps:
    """Environments whose progress writes were put off, and how soon to publish them again."""

    due: dict[tuple[str, str], float] = field(default_factory=dict)

    def note(self, namespace: str, name: str, delay: float) -> None:
        """Publish `namespace/name` again in `delay` seconds (the longest asked for wins: by
        then every put-off write may go)."""
        key = (namespace, name)
        self.due[key] = max(delay, self.due.get(key, 0.0))


@dataclass
class Context:
    """The adapters a flow talks to, and the settings the comments need."""

    github: GitHubApp
    kube: EnvironmentStore
    redis: Redis
    projects: ProjectIndex
    log_url_template: str | None = None
    # The dashboard's public URL (CATALYST_DASHBOARD_URL): the comment links each preview's page.
    dashboard_url: str | None = None
    # Read-only pods and logs of preview namespaces (`/catalyst status` and `logs`).
    pods: PodReader | None = None
    # Filled by the flow, scheduled by the task shell once the flow is done (workers.followups).
    follow_ups: FollowUps = field(default_factory=FollowUps)
