"""Flows: the adapters and settings one worker flow run needs, passed explicitly.

Only the task shell (`workers.tasks`) builds a real `Context`; tests build one over respx, the
fake API server and a real Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from core.clients.github import GitHubApp, PullRequest
from core.clients.kube import EnvironmentStore
from core.model import Project
from workers.policy import Decision, should_preview
from workers.projects import ProjectIndex

log = logging.getLogger("catalyst.worker")

PreviewPolicy = Callable[[Project, PullRequest], Decision]


@dataclass
class Context:
    """Everything a flow talks to."""

    github: GitHubApp
    kube: EnvironmentStore
    redis: Redis
    projects: ProjectIndex
    log_url_template: str | None = None
    policy: PreviewPolicy = field(default=should_preview)
