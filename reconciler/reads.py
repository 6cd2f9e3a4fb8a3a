"""Adapter seam: where the reconciler reads cluster state from (live API or the watch cache).

`LiveReads` asks the API server every time. `watch.CachedReads` answers from the informers'
caches once they are synced and falls back to `LiveReads` otherwise. Environments are always
read live, so every decision starts from the freshest spec and resourceVersion.
"""

from __future__ import annotations

from typing import Protocol

from core import naming
from reconciler.cluster import Cluster, Manifest
from reconciler.manifests import LABEL_JOB_TYPE

# Our build Jobs, and their pods (the pod template carries the Job's labels).
BUILD_JOBS = f"{naming.LABEL_MANAGED_BY}={naming.MANAGED_BY},{LABEL_JOB_TYPE}=build"
MANAGED = f"{naming.LABEL_MANAGED_BY}={naming.MANAGED_BY}"


class Reads(Protocol):
    """The reads a reconcile pass makes, per object family."""

    def environment(self, namespace: str, name: str) -> Manifest | None: ...

    def project(self, namespace: str, name: str) -> Manifest | None: ...

    def namespace(self, name: str) -> Manifest | None: ...

    def build_jobs(self, namespace: str) -> list[Manifest]: ...

    def build_pods(self, namespace: str) -> list[Manifest]: ...

    def workloads(self, namespace: str) -> list[Manifest]: ...

    def rollout_objects(self, namespace: str) -> list[Manifest]: ...

    def remember(self, obj: Manifest) -> None: ...


class LiveReads:
    """Every read is an API call."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def environment(self, namespace: str, name: str) -> Manifest | None:
        """GET the Environment."""
        return self.cluster.get_or_none("Environment", name, namespace)

    def project(self, namespace: str, name: str) -> Manifest | None:
        """GET the Project."""
        return self.cluster.get_or_none("Project", name, namespace)

    def namespace(self, name: str) -> Manifest | None:
        """GET the Namespace."""
        return self.cluster.get_or_none("Namespace", name)

    def build_jobs(self, namespace: str) -> list[Manifest]:
        """LIST our build Jobs of a namespace."""
        return self.cluster.list_items("Job", namespace, label_selector=BUILD_JOBS)

    def build_pods(self, namespace: str) -> list[Manifest]:
        """LIST the pods of our build Jobs of a namespace (their template carries the labels)."""
        return self.cluster.list_items("Pod", namespace, label_selector=BUILD_JOBS)

    def workloads(self, namespace: str) -> list[Manifest]:
        """LIST our Deployments and StatefulSets (managed services) of a namespace."""
        return [
            *self.cluster.list_items("Deployment", namespace, label_selector=MANAGED),
            *self.cluster.list_items("StatefulSet", namespace, label_selector=MANAGED),
        ]

    def rollout_objects(self, namespace: str) -> list[Manifest]:
        """LIST the ReplicaSets and Pods of a preview namespace (every one: it is the preview's)."""
        return [
            *self.cluster.list_items("ReplicaSet", namespace),
            *self.cluster.list_items("Pod", namespace),
        ]

    def remember(self, obj: Manifest) -> None:
        """Nothing to remember: the next read asks the server."""
