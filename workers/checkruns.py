"""Flows: the check run per head commit and Project (`catalyst / <project>`), kept current.

The run is found in the CR's bookkeeping, else on GitHub (by commit and name, our external id),
and created only then, under a Redis lock, already showing the current state (one write, not a
`queued` followed at once by an update). A digest of what the run shows makes an unchanged run
cost nothing. Runs of superseded commits are completed as `cancelled`, and every run of a torn
down preview as `neutral`, so no run is left in progress.
"""

from __future__ import annotations

from core import checks
from core.checks import CheckProjection
from core.clients.budget import WriteKind
from core.clients.github import GitHubInstallation
from core.errors import NotFound, WriteDeferred
from core.model import Environment
from workers import locks
from workers.bookkeeping import Bookkeeping
from workers.context import Context

CREATE_LOCK = locks.LockSpec()
COMPLETED = "completed:"  # digest prefix of a run that shows a conclusion


async def sync_check_runs(
    ctx: Context, gh: GitHubInstallation, env: Environment, book: Bookkeeping, *, verify: bool
) -> None:
    """The head commit's run shows the Environment; older commits' runs are cancelled."""
    assert env.spec.github is not None
    repository = env.spec.github.repository
    wanted = checks.project_check(
        env, log_url_template=ctx.log_url_template, dashboard_url=ctx.dashboard_url
    )
    await converge_run(ctx, gh, repository, wanted, book, verify=verify)
    put_off: WriteDeferred | None = None
    for sha in list(book.check_runs):
        if sha == wanted.sha:
            continue
        older = checks.superseded_check(
            wanted.name, sha, newer=wanted.sha, ext_id=wanted.external_id
        )
        try:
            # Nobody waits for an old commit's run to say "superseded": it may wait too.
            await converge_run(ctx, gh, repository, older, book, verify=verify, progress=True)
        except WriteDeferred as exc:
            put_off = exc
    if put_off is not None:
        raise put_off


async def retire_check_runs(
    gh: GitHubInstallation,
    repository: str,
    book: Bookkeeping,
    *,
    name: str,
    ext_id: str,
    verify: bool = False,
) -> None:
    """Complete every run of a torn-down preview that is not completed yet.

    With `verify` (the bookkeeping is a copy taken when teardown started, and runs may have been
    completed since) GitHub is asked first: a retried teardown never completes a run twice.
    """
    for sha, run_id in list(book.check_runs.items()):
        gone = checks.torn_down_check(name, sha, ext_id=ext_id)
        if book.check_digests.get(sha, "").startswith(COMPLETED):
            continue
        if not (verify and await _shows_completed(gh, repository, run_id)):
            await _update(gh, repository, run_id, gone)
        book.check_digests[sha] = _digest(gone)  # marked completed: a later retire skips it


async def _shows_completed(gh: GitHubInstallation, repository: str, run_id: int) -> bool:
    shown = await gh.get_check_run(repository, run_id)
    return shown is not None and shown.status == "completed"


async def converge_run(
    ctx: Context,
    gh: GitHubInstallation,
    repository: str,
    wanted: CheckProjection,
    book: Bookkeeping,
    *,
    verify: bool,
    progress: bool = False,
) -> None:
    """Make the run of `wanted.sha` show `wanted`, writing only when it shows something else.

    With `verify` (bookkeeping may predate a write whose save was lost) GitHub is asked first.
    Creating a run and concluding it are first and final writes; moving an in-progress run on
    (or `progress`: any update of this run) is a progress write, WriteDeferred when the budget
    is at its reserve, its digest not recorded.
    """
    digest = _digest(wanted)
    run_id = book.check_runs.get(wanted.sha)
    if run_id is not None and book.check_digests.get(wanted.sha) == digest:
        return
    if run_id is None:
        run_id, created = await _find_or_create(ctx, gh, repository, wanted)
        if run_id is None:
            return  # an old commit that never got a run: nothing to cancel
        book.check_runs[wanted.sha] = run_id
        if created:
            book.check_digests[wanted.sha] = digest
            return
    if not (verify and await _already_shows(gh, repository, run_id, wanted)):
        kind = WriteKind.PROGRESS if progress or not wanted.completed else WriteKind.FINAL
        await _update(gh, repository, run_id, wanted, kind=kind)
    book.check_digests[wanted.sha] = digest


async def _find_or_create(
    ctx: Context, gh: GitHubInstallation, repository: str, wanted: CheckProjection
) -> tuple[int | None, bool]:
    """(run id, whether it was created now); no run is created only to be cancelled."""
    key = f"catalyst:check:{repository}:{wanted.external_id}:{wanted.sha}"
    async with locks.renewed_lock(ctx.redis, key, CREATE_LOCK):
        found = await gh.find_check_runs(repository, wanted.sha, name=wanted.name)
        ours = [run for run in found if run.external_id == wanted.external_id]
        if ours:
            return ours[0].id, False
        if wanted.conclusion == "cancelled":
            return None, False
        body = {"name": wanted.name, "head_sha": wanted.sha, **wanted.body()}
        return await gh.create_check_run(repository, body), True


async def _already_shows(
    gh: GitHubInstallation, repository: str, run_id: int, wanted: CheckProjection
) -> bool:
    shown = await gh.get_check_run(repository, run_id)
    return (
        shown is not None
        and shown.status == wanted.status
        and (shown.conclusion == wanted.conclusion and shown.title == wanted.title)
    )


async def _update(
    gh: GitHubInstallation,
    repository: str,
    run_id: int,
    wanted: CheckProjection,
    *,
    kind: WriteKind = WriteKind.FINAL,
) -> None:
    try:
        await gh.update_check_run(repository, run_id, wanted.body(), kind=kind)
    except NotFound:
        return  # the run (or the repository) is gone: nothing is left to show


def _digest(wanted: CheckProjection) -> str:
    # Completed runs are marked so that retiring a torn-down preview can skip them unread.
    return (COMPLETED if wanted.completed else "") + wanted.digest()


async def show_policy_check(
    gh: GitHubInstallation, repository: str, wanted: CheckProjection
) -> None:
    """A commit without an Environment: its run says why (no bookkeeping: GitHub is asked).

    Nothing else shows this PR's state: each of these writes is a first one, never put off.
    """
    found = await gh.find_check_runs(repository, wanted.sha, name=wanted.name)
    ours = [run for run in found if run.external_id == wanted.external_id]
    if not ours:
        body = {"name": wanted.name, "head_sha": wanted.sha, **wanted.body()}
        await gh.create_check_run(repository, body)
        return
    shown = ours[0]
    if (shown.status, shown.conclusion, shown.title) != (
        wanted.status,
        wanted.conclusion,
        wanted.title,
    ):
        await _update(gh, repository, shown.id, wanted, kind=WriteKind.FIRST)
