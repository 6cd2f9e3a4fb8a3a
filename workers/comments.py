"""Flows: the one PR comment, a section per Project, found by its hidden markers and edited
in place.

However many Projects preview a PR, it gets one comment written by the App: each Project's
publish replaces its own section (between its start and end markers) and leaves the others. A
digest of the section we last wrote is kept on the CR, so an unchanged section costs no request;
otherwise the comment is read (by id, else found by marker on every page) and only edited when
the section differs. One Redis lock per PR serialises the read-splice-write of all its Projects
and keeps two workers from both creating the comment.
"""

from __future__ import annotations

import hashlib

from core import naming, projection
from core.clients.budget import WriteKind
from core.clients.github import GitHubInstallation
from core.errors import Conflict, WriteDeferred
from core.github_values import Comment
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
    body = projection.render_section(view)
    if book.comment_id is not None and book.comment_digest == digest(body):
        return
    repository = env.spec.github.repository
    if verify and await _already_shows(gh, repository, book.comment_id, view.project, body):
        book.comment_digest = digest(body)
        return
    if wait := await gh.progress_wait():
        # The comment is a progress write: put off before reading what it shows.
        raise WriteDeferred("comment update put off for the write budget", delay=wait)
    book.comment_id = await upsert_comment(
        ctx,
        gh,
        env.spec.github.repository,
        pr_number,
        project=view.project,
        body=body,
        known_id=book.comment_id,
        kind=WriteKind.PROGRESS,
    )
    book.comment_digest = digest(body)


async def sync_torn_down_comment(
    ctx: Context, gh: GitHubInstallation, repository: str, pr_number: int, *, project: str, sha: str
) -> None:
    """Say the preview is gone (only edits an existing section; never creates one for this)."""
    key = f"catalyst:comment:{repository}:{pr_number}"
    async with locks.renewed_lock(ctx.redis, key, CREATE_LOCK):
        found = await gh.find_comment(repository, pr_number, projection.COMMENT_MARKER)
        shown = projection.comment_sections(found.body).get(project) if found else None
        if found is None or shown is None:
            return
        view = projection.torn_down_view(project, sha or _sha_in(shown), updated="")
        body = projection.splice_section(found.body, project, projection.render_section(view))
        if found.body != body:
            await gh.edit_comment(repository, found.id, body)


async def report_failure(ctx: Context, job: PullRequestJob, reason: str) -> None:
    """Say on the PR that catalyst gave up updating its preview (best effort, per project)."""
    gh = ctx.github.installation(job.installation_id)
    for project, _source in ctx.projects.pull_request_sources(job.repository):
        view = projection.sync_failed_view(project.metadata.name, job.head_sha, reason)
        await upsert_comment(
            ctx,
            gh,
            job.repository,
            job.pr_number,
            project=view.project,
            body=projection.render_section(view),
            known_id=None,
        )
        name = naming.preview_environment_name(project, job.repository, job.pr_number)
        _forget_digest(ctx, project, name)


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
    gh: GitHubInstallation, repository: str, comment_id: int | None, project: str, section: str
) -> bool:
    if comment_id is None:
        return False
    shown = await gh.get_comment(repository, comment_id)
    return shown is not None and projection.comment_sections(shown.body).get(project) == section


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
    kind: WriteKind = WriteKind.FINAL,
) -> int:
    """Put `body` (the project's section) into the PR's comment, creating it only if none
    exists; returns the comment's id. A progress write may raise WriteDeferred."""
    key = f"catalyst:comment:{repository}:{pr_number}"
    async with locks.renewed_lock(ctx.redis, key, CREATE_LOCK):
        found = await _our_comment(gh, repository, pr_number, known_id)
        if found is None:
            first = projection.splice_section(None, project, body)
            return await gh.create_comment(repository, pr_number, first, kind=kind)
        spliced = projection.splice_section(found.body, project, body)
        if spliced != found.body:
            await gh.edit_comment(repository, found.id, spliced, kind=kind)
        return found.id


async def _our_comment(
    gh: GitHubInstallation, repository: str, pr_number: int, known_id: int | None
) -> Comment | None:
    """The App's comment on the PR: by its known id when it still exists, else by marker."""
    if known_id is not None:
        shown = await gh.get_comment(repository, known_id)
        if shown is not None and shown.author == await gh.app.bot_login():
            return shown
    return await gh.find_comment(repository, pr_number, projection.COMMENT_MARKER)
