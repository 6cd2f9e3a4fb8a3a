"""core.conditions: set/find/is_true, and lastTransitionTime moves only when the status flips."""

from __future__ import annotations

import re

from core import conditions as c
from core.model import Condition

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:05:00Z"


def test_find_and_is_true_on_empty_and_missing() -> None:
    assert c.find(None, c.READY) is None
    assert c.find([], c.READY) is None
    assert c.is_true(None, c.READY) is False


def test_set_adds_a_condition_with_the_given_time() -> None:
    result = c.set_condition(None, c.BUILT, c.TRUE, "BuildSucceeded", "ok", generation=2, now=T0)
    assert result == [
        Condition(
            type="Built",
            status="True",
            reason="BuildSucceeded",
            message="ok",
            last_transition_time=T0,
            observed_generation=2,
        )
    ]
    assert c.is_true(result, c.BUILT) and not c.is_true(result, c.READY)


def test_same_status_keeps_the_transition_time_but_updates_reason() -> None:
    first = c.set_condition(None, c.READY, c.FALSE, "Deploying", now=T0)
    second = c.set_condition(first, c.READY, c.FALSE, "RolloutPending", "1 of 2 ready", now=T1)
    found = c.find(second, c.READY)
    assert found is not None
    assert (found.last_transition_time, found.reason, found.message) == (
        T0,
        "RolloutPending",
        "1 of 2 ready",
    )


def test_rewriting_an_identical_condition_changes_nothing() -> None:
    first = c.set_condition(None, c.DEPLOYED, c.TRUE, "Deployed", now=T0)
    assert c.set_condition(first, c.DEPLOYED, c.TRUE, "Deployed", now=T1) == first


def test_flipping_the_status_moves_the_transition_time() -> None:
    first = c.set_condition(None, c.READY, c.FALSE, "Deploying", now=T0)
    flipped = c.set_condition(first, c.READY, c.TRUE, "RolloutComplete", now=T1)
    found = c.find(flipped, c.READY)
    assert found is not None and found.status == "True" and found.last_transition_time == T1
    assert c.is_true(flipped, c.READY)


def test_other_conditions_are_kept_sorted_by_type_and_input_unchanged() -> None:
    conds = c.set_condition(None, c.READY, c.UNKNOWN, "Pending", now=T0)
    conds = c.set_condition(conds, c.BUILT, c.TRUE, "BuildSucceeded", now=T0)
    before = [x.model_copy() for x in conds]
    after = c.set_condition(conds, c.DEPLOYED, c.TRUE, "Deployed", now=T1)
    assert [x.type for x in after] == ["Built", "Deployed", "Ready"]
    assert conds == before


def test_default_time_is_rfc3339_utc() -> None:
    (cond,) = c.set_condition(None, c.READY, c.TRUE, "Ready")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", cond.last_transition_time)
