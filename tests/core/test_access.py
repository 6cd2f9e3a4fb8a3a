"""Who may see an environment and who may open a shell (core.access)."""

from __future__ import annotations

import pytest

from core.access import Role, can_view, role_from_permissions, shell_refusal


@pytest.mark.parametrize(
    ("flags", "role"),
    [
        (None, Role.NONE),
        ({}, Role.NONE),
        ({"pull": True}, Role.READ),
        ({"pull": True, "triage": True}, Role.TRIAGE),
        ({"pull": True, "triage": True, "push": True}, Role.WRITE),
        ({"pull": True, "push": True, "maintain": True}, Role.MAINTAIN),
        ({"admin": True, "pull": False}, Role.ADMIN),
        ({"push": "yes"}, Role.NONE),  # only a real boolean grants anything
    ],
)
def test_role_is_the_strongest_flag(flags: dict[str, object] | None, role: Role) -> None:
    assert role_from_permissions(flags) is role


def test_reading_needs_pull() -> None:
    assert not can_view(Role.NONE)
    assert all(can_view(r) for r in Role if r is not Role.NONE)


@pytest.mark.parametrize(
    ("role", "fork", "allowed"),
    [
        (Role.TRIAGE, False, False),
        (Role.WRITE, False, True),
        (Role.WRITE, True, False),
        (Role.MAINTAIN, True, True),
        (Role.ADMIN, True, True),
        (Role.READ, True, False),
    ],
)
def test_a_shell_needs_write_and_on_a_fork_maintain(role: Role, fork: bool, allowed: bool) -> None:
    refusal = shell_refusal(role, fork=fork)
    assert (refusal is None) is allowed
    if not allowed:
        assert ("maintain or admin" if fork else "write permission") in str(refusal)
