"""Flows: the one PR comment per project, found by its hidden marker and edited in place.

A digest of the last body we wrote is kept on the CR, so an unchanged comment costs no request;
without it the comment is found by its marker (every page is searched) and only edited when its
body differs. A Redis lock keeps two workers from both creating it.
"""

from __future__ import annotations

import hashlib

from core import naming, projection
from core.clients.github import GitHubInstallation
from core.errors import Conflict, NotFound
from core.jobs import PullRequestJob
from core.model import Environment, Project
from workers import locks
from workers.bookkeeping import ANNOTATION_COMMENT_DIGEST, Bookkeeping
from workers.context import Context

CREATE_LOCK = locks.LockSpec()


def digest(body: str) -> str:
    """A short fingerprint of a comment body."""
    return hashlib.sha256(body.encode()).hexdigest()[:16]


async def sync_environment_comment(
    ctx: Context,
    gh: GitHubInstallation,
    env: Environment,
    book: Bookkeeping,
    *,
    verify: bool = False,
) -> None:
    """Bring a preview's comment up to date (tracked-branch environments have no PR comment).

    With `verify` (the digest may predate an edit whose save was lost) the comment is read
    first and left alone when it already shows the body.
    """
    pr_number = env.primary_source.pr_number
    if env.spec.type != "development" or pr_number is None or env.spec.github is None:
        return
    view = projection.comment_view(
        env, log_url_template=ctx.log_url_template, dashboard_url=ctx.dashboard_url
    )
    body = projection.render_comment(view)
    if book.comment_id is not None and book.comment_digest == digest(body):
        return
    if verify and await _already_shows(gh, env.spec.github.repository, book.comment_id, body):
        book.comment_digest = digest(body)
        return
    book.comment_id = await upsert_comment(
        ctx,
        gh,
        env.spec.github.repository,
        pr_number,
        project=view.project,
        body=body,
        known_id=book.comment_id,
    )
    book.comment_digest = digest(body)


async def sync_torn_down_comment(
    ctx: Context, gh: GitHubInstallation, repository: str, pr_number: int, *, project: str, sha: str
) -> None:
    """Say the preview is gone (only edits an existing comment; never creates one for this)."""
    marker = projection.comment_marker(project)
    found = await gh.find_comment(repository, pr_number, marker)
    if found is None:
        return
    sha = sha or _sha_in(found.body)
    body = projection.render_comment(projection.torn_down_view(project, sha, updated=""))
    if found.body != body:
        await gh.edit_comment(repository, found.id, body)


async def report_failure(ctx: Context, job: PullRequestJob, reason: str) -> None:
    """Say on the PR that catalyst gave up updating its preview (best effort, per project)."""
    gh = ctx.github.installation(job.installation_id)
    for project, _source in ctx.projects.for_repository(job.repository):
        view = projection.sync_failed_view(project.metadata.name, job.head_sha, reason)
        await upsert_comment(
            ctx,
            gh,
            job.repository,
            job.pr_number,
            project=view.project,
            body=projection.render_comment(view),
            known_id=None,
        )
        _forget_digest(ctx, project, naming.environment_name(job.pr_number))


def _forget_digest(ctx: Context, project: Project, name: str) -> None:
    """Make the next publish rewrite the comment (it no longer shows what the digest says)."""
    namespace = naming.project_namespace(
        project.metadata.namespace or "default", project.metadata.name
    )
    env = ctx.kube.get_environment(namespace, name)
    notes = dict((env.metadata.annotations or {}) if env else {})
    if env is None or notes.pop(ANNOTATION_COMMENT_DIGEST, None) is None:
        return
    updated = env.model_copy(deep=True)
    updated.metadata.annotations = notes
    try:
        ctx.kube.replace_environment(updated)
    except Conflict:
        return  # a concurrent publish rewrote the bookkeeping (and so the comment) anyway


async def _already_shows(
    gh: GitHubInstallation, repository: str, comment_id: int | None, body: str
) -> bool:
    if comment_id is None:
        return False
    shown = await gh.get_comment(repository, comment_id)
    return shown is not None and shown.body == body


def _sha_in(body: str) -> str:
    # The previous body shows the short SHA in backticks on the Commit row.
    for line in body.splitlines():
        if line.startswith("| Commit |"):
            return line.split("`")[1] if "`" in line else ""
    return ""


async def upsert_comment(
    ctx: Context,
    gh: GitHubInstallation,
    repository: str,
    pr_number: int,
    *,
    project: str,
    body: str,
    known_id: int | None,
) -> int:
    """Edit the project's comment on the PR, creating it only if none exists; returns its id."""
    if known_id is not None:
        try:
            await gh.edit_comment(repository, known_id, body)
            return known_id
        except NotFound:
            pass  # deleted by someone: find another or create a new one
    key = f"catalyst:comment:{repository}:{pr_number}:{project}"
    async with locks.renewed_lock(ctx.redis, key, CREATE_LOCK):
        found = await gh.find_comment(repository, pr_number, projection.comment_marker(project))
        if found is None:
            return await gh.create_comment(repository, pr_number, body)
        if found.body != body:
            await gh.edit_comment(repository, found.id, body)
        return found.id
