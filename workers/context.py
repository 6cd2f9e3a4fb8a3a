"""Flows: the adapters and settings one worker flow run needs, passed explicitly.

Only the task shell (`workers.tasks`) builds a real `Context`; tests build one over respx, the
fake API server and a real Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from core.clients.github import GitHubApp
from core.clients.kube import EnvironmentStore, PodReader
from workers.projects import ProjectIndex


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
