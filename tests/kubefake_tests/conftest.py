"""Fixtures for the kubefake tests: a server with the test Environment CRD registered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kubefake import KubeFake

from .helpers import environment_crd


@pytest.fixture
def kf() -> Iterator[KubeFake]:
    """A fresh server with the Environment CRD (and, as always, namespace ``default``)."""
    with KubeFake([environment_crd()]) as fake:
        yield fake
