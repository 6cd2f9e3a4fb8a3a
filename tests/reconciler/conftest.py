"""Reconciler fixtures: ``live``, one team of this test on the session's real control plane."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reconciler.support import Live, Names
from tests.support.control_plane import ClusterScope, ControlPlane


@pytest.fixture
def live(control_plane: ControlPlane, cluster: ClusterScope) -> Iterator[Live]:
    """A team unique to the test (``acme-t<N>``); its namespaces are deleted afterwards."""
    names = Names(cluster.name("acme"))
    for namespace in names.namespaces:
        cluster.track(namespace)
    made = Live(control_plane, control_plane.rest(), names)
    yield made
    for env in made.kube.list("environments", names.project_ns):
        cluster.track(names.env_ns(env["metadata"]["name"]))
    made.release()
