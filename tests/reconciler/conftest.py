"""Reconciler fixtures: ``live``, one team of this test on the session's real control plane."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reconciler.support import TEST_DEPLOYER, Live, Names
from tests.support.control_plane import ClusterScope, ControlPlane, install_deployer_role


@pytest.fixture(scope="session")
def deployer_role(control_plane: ControlPlane) -> str:
    """The chart's deployer ClusterRole under the setting's default name: the reconciler binds it
    in every preview namespace and applies the preview as it."""
    install_deployer_role(control_plane)
    return TEST_DEPLOYER


@pytest.fixture
def live(control_plane: ControlPlane, cluster: ClusterScope, deployer_role: str) -> Iterator[Live]:
    """A team unique to the test (``acme-t<N>``); its namespaces are deleted afterwards."""
    names = Names(cluster.name("acme"))
    for namespace in names.namespaces:
        cluster.track(namespace)
    made = Live(control_plane, control_plane.rest(), names)
    yield made
    for env in made.kube.list("environments", names.project_ns):
        cluster.track(names.env_ns(env["metadata"]["name"]))
    made.release()
