"""Flow: the last lines of a failed build Job's log, secrets redacted, for the Environment status.

The pods of a Job carry its name in `batch.kubernetes.io/job-name` (and the legacy `job-name`)
and an owner reference to its uid (pods of an earlier Job of the same name are skipped); the
newest one's log is read with `tailLines`. Missing pods or logs (already garbage-collected,
never scheduled) give None, and so do API hiccups: the next pass of the reconcile tries again.
"""

from __future__ import annotations

import logging
import re

from core.errors import CatalystError
from core.redaction import redact_secrets
from reconciler.cluster import Cluster, Manifest

log = logging.getLogger(__name__)
TAIL_LINES = 30
MAX_CHARS = 4000  # a status field, shown in a PR comment: a long line must not blow it up
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def failed_build_log(cluster: Cluster, namespace: str, job: Manifest) -> str | None:
    """The redacted tail of the log of the newest pod of `job`, or None when there is none."""
    meta = job.get("metadata") or {}
    name, uid = str(meta.get("name") or ""), meta.get("uid")
    try:
        pods = [p for p in job_pods(cluster, namespace, name) if owned_by(p, uid)]
        for pod in newest_first(pods):
            text = _read(cluster, namespace, pod)
            if text:
                return tidy(text)
    except CatalystError as exc:
        log.info("log of build job %s/%s not read: %s", namespace, name, exc)
    return None


def owned_by(pod: Manifest, uid: str | None) -> bool:
    """Whether `pod` belongs to the Job `uid`: a rebuild's Job reuses the name, not the uid."""
    refs = (pod.get("metadata") or {}).get("ownerReferences") or []
    return uid is None or not refs or any(r.get("uid") == uid for r in refs)


def job_pods(cluster: Cluster, namespace: str, job: str) -> list[Manifest]:
    """The pods of a Job, by the current label, else the legacy one."""
    for label in JOB_NAME_LABELS:
        pods = cluster.list_items("Pod", namespace, label_selector=f"{label}={job}")
        if pods:
            return pods
    return []


def newest_first(pods: list[Manifest]) -> list[Manifest]:
    """Failed pods first, each group newest first (the last attempt says why it ended)."""

    def rank(pod: Manifest) -> tuple[bool, str]:
        failed = (pod.get("status") or {}).get("phase") == "Failed"
        return failed, str((pod.get("metadata") or {}).get("creationTimestamp") or "")

    return sorted(pods, key=rank, reverse=True)


def _read(cluster: Cluster, namespace: str, pod: Manifest) -> str | None:
    name = str((pod.get("metadata") or {}).get("name") or "")
    try:
        return cluster.pod_log(name, namespace, tail_lines=TAIL_LINES)
    except CatalystError as exc:  # gone meanwhile, or its container never started
        log.info("log of pod %s/%s not read: %s", namespace, name, exc)
        return None


def tidy(text: str) -> str | None:
    """The last TAIL_LINES lines without colour codes, secrets redacted, at most MAX_CHARS."""
    lines = _ANSI.sub("", text).replace("\r\n", "\n").rstrip("\n").split("\n")[-TAIL_LINES:]
    tail = redact_secrets("\n".join(lines))[-MAX_CHARS:]
    return tail if tail.strip() else None
