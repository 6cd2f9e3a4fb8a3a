"""Pytest fixtures for the fake API server (wired in through ``tests/conftest.py``).

* ``kubefake``: a fresh :class:`KubeFake` per test, with the repository's CRDs from
  ``crds/*.yaml`` registered when those files exist. Controllers off, validation on.
* ``kube_api_client``: a ``kubernetes.client.ApiClient`` for that server.
* ``kubefake_kubeconfig``: path of a kubeconfig file for that server (in ``tmp_path``).
* ``kubefake_factory``: ``make(**options)`` starts another server with other options
  (``history_size=3``, ``controllers=["jobs"]``, ``validate=False`` ...); all are stopped after
  the test. The repository CRDs are included unless ``crds=`` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import KubeFake

REPO_CRDS = Path(__file__).resolve().parents[2] / "crds"


@pytest.fixture
def kubefake() -> Iterator[KubeFake]:
    """A running fake API server, torn down after the test."""
    with KubeFake([REPO_CRDS]) as fake:
        yield fake


@pytest.fixture
def kube_api_client(kubefake: KubeFake) -> Any:
    """An official-client ``ApiClient`` bound to ``kubefake``."""
    return kubefake.api_client()


@pytest.fixture
def kubefake_kubeconfig(kubefake: KubeFake, tmp_path: Path) -> Path:
    """A kubeconfig file that points at ``kubefake``."""
    return kubefake.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def kubefake_factory() -> Iterator[Callable[..., KubeFake]]:
    """Start extra servers with custom options; each is stopped after the test."""
    started: list[KubeFake] = []

    def make(**options: Any) -> KubeFake:
        options.setdefault("crds", [REPO_CRDS])
        fake = KubeFake(options.pop("crds"), **options).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()
