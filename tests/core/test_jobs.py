"""core.jobs: every job survives the JSON trip through the queue; task names are unique."""

from __future__ import annotations

import json

import pytest

from core import jobs

SHA = "0123456789abcdef0123456789abcdef01234567"
EXAMPLES: list[jobs.Job] = [
    jobs.PullRequestJob("d-1", 7, "acme/web", 42, "synchronize", SHA),
    jobs.PullRequestJob("d-2", 7, "acme/web", 42, "labeled", SHA, label="catalyst:preview"),
    jobs.PullRequestJob("d-3", 7, "acme/web", 42, "closed", SHA, merged=True),
    jobs.PushJob("d-4", 7, "acme/web", "main", SHA),
    jobs.PushJob("d-5", 7, "acme/web", "release/1.x", "0" * 40, deleted=True),
    jobs.CommentJob("d-6", 7, "acme/web", 42, 991, "octocat", "User", "/catalyst redeploy\n"),
    jobs.InstallationJob("d-7", 7, "created", ("acme/web", "acme/api")),
    jobs.InstallationJob("d-8", 7, "removed", repositories_removed=("acme/old",)),
]


def _through_the_queue(job: jobs.Job) -> dict[str, object]:
    loaded = json.loads(json.dumps(job.to_kwargs()))
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize("job", EXAMPLES, ids=lambda j: j.delivery_id)
def test_job_round_trips_through_json(job: jobs.Job) -> None:
    rebuilt = type(job).from_kwargs(_through_the_queue(job))
    assert rebuilt == job
    assert hash(rebuilt) == hash(job)  # frozen jobs stay hashable (tuples, not lists)


def test_kwargs_are_plain_json_values() -> None:
    kwargs = EXAMPLES[1].to_kwargs()
    assert kwargs == {
        "delivery_id": "d-2",
        "installation_id": 7,
        "repository": "acme/web",
        "pr_number": 42,
        "action": "labeled",
        "head_sha": SHA,
        "label": "catalyst:preview",
        "merged": False,
    }


def test_unknown_keys_from_a_newer_sender_are_ignored() -> None:
    kwargs = {**_through_the_queue(EXAMPLES[3]), "added_in_a_later_version": True}
    assert jobs.PushJob.from_kwargs(kwargs) == EXAMPLES[3]


def test_missing_defaults_are_filled() -> None:
    kwargs = {"delivery_id": "d", "installation_id": 1, "action": "created"}
    assert jobs.InstallationJob.from_kwargs(kwargs).repositories_added == ()


def test_task_names_are_unique_and_namespaced() -> None:
    names = [v for k, v in vars(jobs).items() if k.startswith("TASK_")]
    assert len(names) == len(set(names)) >= 9
    assert all(n.startswith(("catalyst.github.", "catalyst.cluster.")) for n in names)
