"""Pure: project an Environment onto its GitHub check run (`catalyst / <project>`), no I/O.

One check run per head commit and Project mirrors the deployment status: queued → in_progress →
completed with `success`, `failure`, `neutral` (suspended or torn down) or `cancelled` (a newer
commit superseded it). The output names the phase, URL and commit, the conditions the reconciler
reports (the pods' state among them) and, on failure, the build's log tail; every text passes the
projection's redaction. The Redeploy and Rebuild buttons are GitHub "requested actions".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from core import projection
from core.model import Environment, EnvironmentStatus
from core.naming import short_sha
from core.redaction import redact, redact_secrets

CheckStatus = Literal["queued", "in_progress", "completed"]
Rollout = Literal["redeploy", "rebuild"]
MAX_TEXT = 60_000  # GitHub caps output.text at 65,535 characters
ACTIONS: tuple[dict[str, str], ...] = (
    {"label": "Redeploy", "description": "Roll this commit out again", "identifier": "redeploy"},
    {
        "label": "Rebuild",
        "description": "Build this commit again, then deploy",
        "identifier": "rebuild",
    },
)
# Which comment verb a requested action (or Re-run) stands for; the permission is that verb's.
ACTION_VERBS: dict[str, Rollout] = {
    "redeploy": "redeploy",
    "rebuild": "rebuild",
    "rerequested": "redeploy",
}
_CONCLUSIONS = {
    "success": "success",
    "failure": "failure",
    "error": "failure",
    "inactive": "neutral",
}
EXTERNAL_PREFIX = "catalyst:"


def check_name(project: str) -> str:
    """The check run's name on the commit."""
    return f"catalyst / {project}"


def external_id(namespace: str, name: str) -> str:
    """Which Environment a check run reports on (GitHub echoes it back in check_run events)."""
    return f"{EXTERNAL_PREFIX}{namespace}/{name}"


def parse_external_id(value: str) -> tuple[str, str] | None:
    """(namespace, name) from `external_id`, or None for a check run that is not ours."""
    if not value.startswith(EXTERNAL_PREFIX):
        return None
    namespace, _, name = value[len(EXTERNAL_PREFIX) :].partition("/")
    return (namespace, name) if namespace and name and "/" not in name else None


@dataclass(frozen=True, slots=True)
class CheckProjection:
    """The check run GitHub should show for one commit."""

    name: str
    sha: str
    status: CheckStatus
    conclusion: str | None
    title: str
    summary: str
    text: str = ""
    details_url: str | None = None
    external_id: str = ""
    actions: tuple[dict[str, str], ...] = field(default=ACTIONS)

    def body(self) -> dict[str, Any]:
        """The REST body that creates or updates the run to exactly this."""
        output: dict[str, str] = {"title": self.title, "summary": self.summary}
        if self.text:
            output["text"] = self.text
        body: dict[str, Any] = {
            "status": self.status,
            "output": output,
            "external_id": self.external_id,
            "actions": [dict(a) for a in self.actions],
        }
        if self.conclusion is not None:
            body["conclusion"] = self.conclusion
        if self.details_url:
            body["details_url"] = self.details_url
        return body

    def digest(self) -> str:
        """A fingerprint of what the run shows (an unchanged run costs no write)."""
        return hashlib.sha256(json.dumps(self.body(), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def completed(self) -> bool:
        """True once the run has its conclusion."""
        return self.status == "completed"


def project_check(
    env: Environment, *, log_url_template: str | None, dashboard_url: str | None = None
) -> CheckProjection:
    """The check run of the Environment's head commit ("Details" opens its dashboard page when a
    dashboard is configured)."""
    wanted = projection.project_status(env, log_url_template=log_url_template)
    view = projection.comment_view(
        env, log_url_template=log_url_template, dashboard_url=dashboard_url
    )
    status: CheckStatus = "queued" if wanted.state == "queued" else "in_progress"
    conclusion = _CONCLUSIONS.get(wanted.state)
    if conclusion is not None:
        status = "completed"
    namespace = env.metadata.namespace or ""
    return CheckProjection(
        name=check_name(view.project),
        sha=wanted.sha,
        status=status,
        conclusion=conclusion,
        title=wanted.description,
        summary=_summary(view),
        text=_text(env.status or EnvironmentStatus(), view),
        details_url=view.dashboard or wanted.environment_url or wanted.log_url,
        external_id=external_id(namespace, env.metadata.name),
        actions=ACTIONS if status == "completed" and conclusion != "neutral" else (),
    )


def superseded_check(name: str, sha: str, *, newer: str, ext_id: str) -> CheckProjection:
    """An older commit's run once a newer commit took over the preview."""
    title = f"Superseded by {short_sha(newer)}"
    return CheckProjection(
        name, sha, "completed", "cancelled", title, title, external_id=ext_id, actions=()
    )


def torn_down_check(name: str, sha: str, *, ext_id: str) -> CheckProjection:
    """A run whose preview is gone (the PR closed, or the Environment was deleted)."""
    title = "Preview torn down"
    return CheckProjection(
        name, sha, "completed", "neutral", title, title, external_id=ext_id, actions=()
    )


def _summary(view: projection.CommentView) -> str:
    rows = [f"**Phase**: {view.phase}", f"**Commit**: `{short_sha(view.sha)}`"]
    if view.url:
        rows.append(f"**Preview**: {view.url}")
    if view.namespace:
        rows.append(f"**Namespace**: `{view.namespace}`")
    if view.log_url:
        rows.append(f"**Logs**: [build and deploy log]({view.log_url})")
    return "\n".join(rows)


def _text(status: EnvironmentStatus, view: projection.CommentView) -> str:
    parts = [
        f"- {c.type}: {c.status} ({c.reason}) {redact(c.message)}".rstrip()
        for c in status.conditions or []
    ]
    text = "\n".join(["### Conditions", "", *parts]) if parts else ""
    if view.reason:
        text += f"\n\n### Why it failed\n\n```\n{redact(view.reason)[-2000:]}\n```"
    if view.log_tail:
        tail = redact_secrets(view.log_tail).replace("```", "'''")
        text += f"\n\n### Build log (last lines)\n\n```text\n{tail[-MAX_TEXT // 2 :]}\n```"
    return text.strip()[:MAX_TEXT]


def policy_check(
    project: str,
    sha: str,
    *,
    ext_id: str,
    state: Literal["waiting", "approval", "skipped"],
    why: str,
) -> CheckProjection:
    """The run of a commit that has no preview (yet) because of the Project's policy."""
    titles = {
        "waiting": "Waiting for a free preview slot",
        "approval": "Awaiting approval of this commit",
        "skipped": "No preview for this pull request",
    }
    status: CheckStatus = "queued" if state == "waiting" else "completed"
    conclusion = {"waiting": None, "approval": "neutral", "skipped": "skipped"}[state]
    return CheckProjection(
        check_name(project),
        sha,
        status,
        conclusion,
        titles[state],
        redact(why) or titles[state],
        external_id=ext_id,
        actions=(),
    )
