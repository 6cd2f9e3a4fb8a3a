"""Flow: reconcile one Project: its namespace `<team>-<project>`, its status, its finalizer.

The finalizer keeps a Project while Environments still live in its namespace; once none are
left the project namespace is deleted and the Project released.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from core import conditions, naming
from core.clients.kube import AlreadyExists
from core.errors import NotFound
from core.model import Project, ProjectStatus
from reconciler.cluster import Cluster, Manifest
from reconciler.drift import differs, is_deleting
from reconciler.manifests import namespace as namespace_manifest

log = logging.getLogger(__name__)
REQUEUE_WAIT = 5.0


def project_namespace_of(project: Project) -> str:
    """`<team>-<project>` (the team is the Project's own namespace)."""
    return naming.project_namespace(project.metadata.namespace or "", project.metadata.name)


def desired_namespace(project: Project) -> Manifest:
    """The project namespace with team/project labels."""
    team = project.metadata.namespace or ""
    labels = {
        naming.LABEL_MANAGED_BY: naming.MANAGED_BY,
        naming.LABEL_TEAM: naming.sanitize_label_value(team),
        naming.LABEL_PROJECT: naming.sanitize_label_value(project.metadata.name),
        naming.LABEL_NAMESPACE_TYPE: "project",
    }
    return namespace_manifest(
        project_namespace_of(project), labels, f"{team}/{project.metadata.name}"
    )


def readiness(project: Project, ns: Manifest | None) -> tuple[str, str, str]:
    """(status, reason, message) of the Project's Ready condition."""
    problems = project.unknown_source_refs()
    if problems:
        return conditions.FALSE, "UnknownSourceRef", "; ".join(problems)
    if ns is None or is_deleting(ns):
        return conditions.FALSE, "NamespacePending", ""
    return conditions.TRUE, "NamespaceReady", ""


class ProjectReconciler:
    """Converges Projects; returns the delay before looking again (None: on events)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Ensure the namespace and status of a Project, or release it when deleted."""
        project = self._read(namespace, name)
        if project is None:
            return None
        if project.metadata.deletion_timestamp:
            return self._delete(project)
        if naming.FINALIZER not in (project.metadata.finalizers or []):
            self._set_finalizers(project, [*(project.metadata.finalizers or []), naming.FINALIZER])
            return 0.0
        ns = self._ensure_namespace(project)
        count = len(self.cluster.list_items("Environment", project_namespace_of(project)))
        self._write_status(project, ns, count)
        return None

    def _read(self, namespace: str, name: str) -> Project | None:
        raw = self.cluster.get_or_none("Project", name, namespace)
        try:
            return Project.model_validate(raw) if raw else None
        except ValidationError as exc:
            log.error("project %s/%s is malformed: %s", namespace, name, exc)
            return None

    def _ensure_namespace(self, project: Project) -> Manifest | None:
        desired = desired_namespace(project)
        live = self.cluster.get_or_none("Namespace", desired["metadata"]["name"])
        if live is None:
            try:
                return self.cluster.create(desired)
            except AlreadyExists:
                return None
        if differs(desired, live):
            return self.cluster.patch("Namespace", desired["metadata"]["name"], None, desired)
        return live

    def _write_status(self, project: Project, ns: Manifest | None, count: int) -> None:
        old = project.status or ProjectStatus()
        state, reason, message = readiness(project, ns)
        status = ProjectStatus(
            namespace=project_namespace_of(project),
            environments=count,
            observed_generation=project.metadata.generation,
            conditions=conditions.set_condition(
                old.conditions,
                conditions.READY,
                state,
                reason,
                message,
                generation=project.metadata.generation,
            ),
        )
        if status.to_wire() == (project.status.to_wire() if project.status else None):
            return
        patch = {"metadata": {"resourceVersion": project.metadata.resource_version}}
        body = {**patch, "status": status.to_wire()}
        self.cluster.patch(
            "Project",
            project.metadata.name,
            project.metadata.namespace,
            body,
            subresource="status",
        )

    def _delete(self, project: Project) -> float | None:
        ns = project_namespace_of(project)
        if self.cluster.list_items("Environment", ns):
            return REQUEUE_WAIT  # Environments still use it: keep the Project
        live = self.cluster.get_or_none("Namespace", ns)
        if live is not None:
            if not is_deleting(live):
                self.cluster.delete("Namespace", ns)
            return REQUEUE_WAIT
        kept = [f for f in project.metadata.finalizers or [] if f != naming.FINALIZER]
        if kept != (project.metadata.finalizers or []):
            try:
                self._set_finalizers(project, kept)
            except NotFound:
                pass
        return None

    def _set_finalizers(self, project: Project, finalizers: list[str]) -> None:
        patch = {
            "metadata": {
                "finalizers": finalizers,
                "resourceVersion": project.metadata.resource_version,
            }
        }
        self.cluster.patch("Project", project.metadata.name, project.metadata.namespace, patch)
