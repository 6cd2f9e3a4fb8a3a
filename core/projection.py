"""Pure: project an Environment onto what GitHub shows (no I/O).

Maps the Environment's spec and status (written by the reconciler) to the GitHub deployment
status of its head commit, and renders the sticky PR comment found by a hidden marker. Every
text that reaches GitHub passes `redact()` first: no tokens, passwords or stack traces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from core import conditions
from core.commands import VERBS
from core.links import environment_page_url
from core.model import Environment, EnvironmentStatus, Phase
from core.naming import short_sha
from core.policy import Action, Decision
from core.redaction import redact as redact  # re-exported: callers import it from here
from core.redaction import redact_secrets

DeploymentState = Literal["queued", "in_progress", "success", "failure", "error", "inactive"]
MAX_DESCRIPTION = 139
MAX_LOG_CHARS = 6000  # per comment: a log tail must not crowd out the rest (GitHub caps at 65536)
# Reasons the reconciler reports for faults of the platform, not of the user's code or config.
PLATFORM_REASONS = frozenset(
    {"PlatformError", "InternalError", "ClusterError", "QuotaExceeded", "Timeout", "Unavailable"}
)


@dataclass(frozen=True, slots=True)
class StatusProjection:
    """The deployment status GitHub should show for one commit."""

    sha: str
    state: DeploymentState
    description: str
    environment_url: str | None = None
    log_url: str | None = None


def short_description(text: str) -> str:
    """A redacted, single-line description under 140 characters."""
    line = " ".join(redact(text).split())
    return line if len(line) <= MAX_DESCRIPTION else line[: MAX_DESCRIPTION - 1] + "…"


def head_sha(env: Environment) -> str:
    """The commit GitHub reports about: the spec's primary source."""
    return env.primary_source.commit_sha


def project_status(env: Environment, *, log_url_template: str | None) -> StatusProjection:
    """The deployment status of the Environment's head commit."""
    sha = head_sha(env)
    status = env.status or EnvironmentStatus()
    if status.target_commit_sha not in (None, sha):
        # The reconciler has not picked up the new head yet: queued, whatever the old one does.
        return StatusProjection(sha, "queued", f"Queued {short_sha(sha)}")
    pending = pending_request(env)
    if pending is not None:
        # A redeploy/rebuild asked for and not yet picked up: a new rollout is under way.
        link = log_url(env, template=log_url_template)
        return StatusProjection(sha, "in_progress", f"{pending} {short_sha(sha)}", None, link)
    state = _state_for(status)
    url = status.url if state == "success" else None
    return StatusProjection(
        sha, state, _describe(status, sha), url, log_url(env, template=log_url_template)
    )


def pending_request(env: Environment) -> str | None:
    """`Redeploying` / `Rebuilding` while a settled preview has a request not yet carried out.

    A redeploy is done once the reconciler reports Ready with the spec's nonce; a rebuild once a
    build of the head commit carries the spec's rebuild nonce and has finished.
    """
    status = env.status or EnvironmentStatus()
    sha = head_sha(env)
    if env.spec.suspended or env.metadata.deletion_timestamp or status.commit_sha != sha:
        return None
    if status.phase not in (Phase.READY, Phase.FAILED):
        return None
    nonce = env.spec.rebuild_nonce
    builds = [b for b in status.builds or [] if b.commit_sha == sha]
    if nonce and builds and not any(b.rebuild_nonce == nonce for b in builds):
        return "Rebuilding"
    wanted = env.spec.redeploy_nonce
    if status.phase == Phase.READY and wanted and status.redeploy_nonce != wanted:
        return "Redeploying"
    return None


def _state_for(status: EnvironmentStatus) -> DeploymentState:
    if status.phase in (Phase.BUILDING, Phase.DEPLOYING):
        return "in_progress"
    if status.phase == Phase.READY:
        return "success"
    if status.phase == Phase.FAILED:
        return "error" if is_platform_fault(status) else "failure"
    if status.phase in (Phase.DELETING, Phase.SUSPENDED):
        return "inactive"  # torn down (closed or by `/catalyst teardown`): nothing is served
    return "queued"


def is_platform_fault(status: EnvironmentStatus) -> bool:
    """True when a failure's reason names the platform rather than the user's code."""
    return any(c.reason in PLATFORM_REASONS for c in status.conditions or [] if c.status != "True")


def _describe(status: EnvironmentStatus, sha: str) -> str:
    words = {
        Phase.PENDING: "Queued",
        Phase.BUILDING: "Building",
        Phase.DEPLOYING: "Deploying",
        Phase.READY: "Live at",
        Phase.SUSPENDED: "Suspended",
        Phase.DELETING: "Tearing down",
    }
    if status.phase == Phase.FAILED:
        return short_description(f"Failed: {failure_reason(status)}")
    return short_description(f"{words[status.phase]} {short_sha(sha)}")


def failure_reason(status: EnvironmentStatus) -> str:
    """The most specific reason a failed Environment gives, redacted."""
    failed = [c for c in status.conditions or [] if c.status == conditions.FALSE and c.message]
    text = status.message or (failed[0].message if failed else "") or "see the build log"
    return redact(text)


def log_url(env: Environment, *, template: str | None) -> str | None:
    """The log link from `CATALYST_LOG_URL_TEMPLATE`, or None when unset or malformed."""
    if not template:
        return None
    status = env.status or EnvironmentStatus()
    jobs = [b.job for b in status.builds or [] if b.commit_sha == head_sha(env)]
    values = {
        "namespace": status.namespace or "",
        "environment": env.metadata.name,
        "job": jobs[-1] if jobs else "",
    }
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return None


# --- the sticky PR comment -------------------------------------------------------------------


COMMENT_MARKER = "<!-- catalyst-preview:"  # every section starts with it: the PR's one comment


def comment_marker(project: str) -> str:
    """The hidden marker that starts this project's section of the PR's comment."""
    return f"{COMMENT_MARKER}{project} -->"


@dataclass(frozen=True, slots=True)
class CommentView:
    """Everything the PR comment shows, already decided."""

    project: str
    phase: str
    sha: str
    namespace: str | None
    url: str | None
    log_url: str | None
    updated: str
    reason: str | None = None
    log_tail: str | None = None
    dashboard: str | None = None
    notice: str | None = None  # why a PR has no running preview (`admission_notice`)


_PHASE_ICONS = {
    "Pending": "🟡",
    "Building": "🔨",
    "Deploying": "🔄",
    "Ready": "🟢",
    "Failed": "🔴",
    "Suspended": "⏸️",
    "Deleting": "⏳",
    "Torn down": "⚫",
    "Sync failed": "⚠️",
}


def comment_view(
    env: Environment, *, log_url_template: str | None, dashboard_url: str | None = None
) -> CommentView:
    """The comment contents for an existing Environment (with its dashboard link when served)."""
    status = env.status or EnvironmentStatus()
    projection = project_status(env, log_url_template=log_url_template)
    phase = "Pending" if projection.state == "queued" else status.phase.value
    pending = pending_request(env)
    if pending is not None:
        phase = "Building" if pending == "Rebuilding" else "Deploying"
    if env.metadata.deletion_timestamp:
        phase = "Deleting"
    return CommentView(
        project=env.spec.project_ref.name,
        phase=phase,
        sha=head_sha(env),
        namespace=status.namespace,
        url=status.url if phase == "Ready" else None,
        log_url=projection.log_url,
        updated=last_update(env),
        reason=failure_reason(status) if phase == "Failed" else None,
        log_tail=failed_build_logs(status) if phase == "Failed" else None,
        dashboard=environment_page_url(
            dashboard_url, namespace=env.metadata.namespace or "", name=env.metadata.name
        ),
    )


def failed_build_logs(status: EnvironmentStatus) -> str | None:
    """The log tails of the target commit's failed builds (one titled block per build)."""
    failed = [
        b
        for b in status.builds or []
        if b.state == "Failed" and b.log_tail and status.target_commit_sha in (None, b.commit_sha)
    ]
    if len(failed) == 1:
        return failed[0].log_tail
    blocks = [f"--- build {b.name} ---\n{b.log_tail}" for b in failed]
    return "\n".join(blocks) or None


def torn_down_view(project: str, sha: str, *, updated: str) -> CommentView:
    """The comment contents once the preview is gone."""
    return CommentView(project, "Torn down", sha, None, None, None, updated)


def sync_failed_view(project: str, sha: str, reason: str) -> CommentView:
    """The comment contents when catalyst gave up updating a preview (reason redacted)."""
    return CommentView(project, "Sync failed", sha, None, None, None, "", reason=redact(reason))


def last_update(env: Environment) -> str:
    """The latest condition transition (stable across re-renders, unlike the wall clock)."""
    stamps = [c.last_transition_time for c in (env.status and env.status.conditions) or []]
    return max(stamps, default=env.metadata.creation_timestamp or "")


def render_comment(view: CommentView) -> str:
    """The whole sticky comment when it shows only this project's section."""
    return compose_comment({view.project: render_section(view)})


def render_section(view: CommentView) -> str:
    """One project's section of the PR's sticky comment, between its start and end markers."""
    icon = _PHASE_ICONS.get(view.phase, "•")
    rows = [("Phase", f"{icon} {view.phase}"), ("Commit", f"`{short_sha(view.sha)}`")]
    if view.url:
        rows.append(("Preview", view.url))
    if view.namespace:
        rows.append(("Namespace", f"`{view.namespace}`"))
    if view.log_url:
        rows.append(("Logs", f"[build and deploy log]({view.log_url})"))
    if view.dashboard:
        rows.append(("Dashboard", f"[pods, logs and a shell]({view.dashboard})"))
    rows.append(("Updated", view.updated or "—"))
    lines = [comment_marker(view.project), f"### Catalyst preview: {view.project}", ""]
    lines += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    if view.reason:
        lines += ["**Why it failed**", "", "```", _fence_safe(view.reason), "```", ""]
    if view.log_tail:
        lines += ["<details><summary>Build log (last lines)</summary>", "", "```text"]
        lines += [_log_safe(view.log_tail), "```", "</details>", ""]
    if view.phase == "Torn down":
        lines += ["This preview was torn down.", ""]
    if view.notice:
        lines += [view.notice, ""]
    return "\n".join([*lines, _end_marker(view.project)])


def compose_comment(sections: dict[str, str]) -> str:
    """The sticky comment: every project's section (by name), then the command list once."""
    return "\n\n".join([*(sections[p] for p in sorted(sections)), _command_help()])


def comment_sections(body: str) -> dict[str, str]:
    """The project sections of a sticky comment; a one-project comment of an older release
    (no end marker) counts as that project's section, to be replaced."""
    found = {m.group(1): m.group(0) for m in _SECTION.finditer(body)}
    legacy = _START.search(body)
    if not found and legacy is not None:
        kept = body.split(_HELP_START)[0].rstrip()
        found[legacy.group(1)] = f"{kept}\n{_end_marker(legacy.group(1))}"
    return found


def splice_section(body: str | None, project: str, section: str) -> str:
    """`body` with `project`'s section replaced by (or extended with) `section`."""
    return compose_comment({**comment_sections(body or ""), project: section})


def _end_marker(project: str) -> str:
    return f"<!-- /catalyst-preview:{project} -->"


_HELP_START = "<details><summary>Commands</summary>"
_START = re.compile(r"<!-- catalyst-preview:([^ >]+) -->")
_SECTION = re.compile(
    r"<!-- catalyst-preview:([^ >]+) -->.*?<!-- /catalyst-preview:\1 -->", re.DOTALL
)


def _fence_safe(text: str) -> str:
    return redact(text).replace("```", "'''")[-2000:]


def _log_safe(text: str) -> str:
    # The reconciler redacted it already; again here because the comment is what leaves.
    return redact_secrets(text).replace("```", "'''")[-MAX_LOG_CHARS:].rstrip("\n")


def _command_help() -> str:
    # One source of truth for what each verb does: the command grammar itself.
    items = "\n".join(f"- `/catalyst {verb}`: {spec.help}" for verb, spec in VERBS.items())
    return f"<details><summary>Commands</summary>\n\n{items}\n</details>"


def admission_notice(decision: Decision) -> str:
    """The sentence the sticky comment shows for a waiting or unapproved PR."""
    if decision.action == Action.WAIT:
        return (
            f"All preview slots of this project are in use. This pull request is number "
            f"**{decision.queue_position}** in the queue and starts when a slot frees."
        )
    return (
        "This pull request comes from a fork, so it is not built automatically. A user with "
        "write access can approve this exact commit with `/catalyst deploy`; each new push "
        "needs a new approval. Fork previews never receive repository secrets."
    )
