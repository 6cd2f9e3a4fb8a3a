"""Issue 17 on the fake API server made as strict as a kubelet: what a real cluster shows.

Crashing reconciles become a condition, fork previews start without the app Secrets, a missing
Secret fails at once, and Kaniko gets the flags the registry and `/catalyst rebuild` need.
"""

from __future__ import annotations

from typing import Any

import pytest

from core import naming
from reconciler.plan import plan_with_reads
from tests.kubefake import KubeFake
from tests.reconciler.support import environment_obj, make_rig, seed


def ready_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status.get("conditions") or [] if c["type"] == "Ready")


def test_a_reconcile_that_keeps_crashing_is_a_condition_with_the_error(
    kubefake: KubeFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(kubefake, builds=False)
    kubefake.controllers.enable("deployments", "namespaces")
    kubefake.put_object(environment_obj())
    rig = make_rig(kubefake)
    rig.run_until(rig.phase_is("Ready"))

    def crashing(obs: Any) -> Any:
        raise KeyError("kind")

    monkeypatch.setattr("reconciler.reconcile.plan_with_reads", crashing)
    with pytest.raises(KeyError):
        rig.run()
    status = rig.status()
    assert status["phase"] == "Failed"
    ready = ready_condition(status)
    assert ready["reason"] == "ReconcileError"
    assert "KeyError: 'kind'" in ready["message"]
    kubefake.clear_requests()
    with pytest.raises(KeyError):
        rig.run()
    assert kubefake.writes() == []  # the same crash again: nothing new to write or publish
    monkeypatch.setattr("reconciler.reconcile.plan_with_reads", plan_with_reads)
    rig.run_until(rig.phase_is("Ready"))
    assert ready_condition(rig.status())["status"] == "True"
    assert naming.FINALIZER in (rig.env() or {})["metadata"]["finalizers"]
