"""Flows: the adapters and settings one worker flow run needs, passed explicitly.

Only the task shell (`workers.tasks`) builds a real `Context`; tests build one over respx, the
fake API server and a real Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from core.clients.github import GitHubApp, GitHubInstallation, PullRequest
from core.clients.kube import EnvironmentStore
from core.model import Environment, Project, ProjectSource
from workers.policy import Decision, should_preview
from workers.projects import ProjectIndex

log = logging.getLogger("catalyst.worker")

PreviewPolicy = Callable[[Project, PullRequest], Decision]
# (ctx, gh, project, source, pr, repository) -> the Environment, when one runs.
Admission = Callable[
    ["Context", GitHubInstallation, Project, ProjectSource, PullRequest, str],
    Awaitable[Environment | None],
]


@dataclass
class Context:
    """Everything a flow talks to."""

    github: GitHubApp
    kube: EnvironmentStore
    redis: Redis
    projects: ProjectIndex
    log_url_template: str | None = None
    # The dashboard's public URL (CATALYST_DASHBOARD_URL): the comment links each preview's page.
    dashboard_url: str | None = None
    policy: PreviewPolicy = field(default=should_preview)
    # The full trust/capacity policy (workers.admission); None keeps the minimal `policy` above.
    admission: Admission | None = field(default_factory=lambda: _default_admission())


def _default_admission() -> Admission:
    # Imported when a Context is built: workers.admission itself builds on this module.
    from workers.admission import converge

    return converge
