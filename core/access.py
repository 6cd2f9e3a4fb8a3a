"""Pure: who may see an environment and who may open a shell in it (no I/O).

The dashboard asks GitHub what the signed-in user may do on the Environment's repository
(`GET /repos/{owner}/{repo}` answers `permissions` for the token's user) and decides here:
reading needs pull access; a shell runs code next to the preview's data, so it needs push
(write), and on a fork preview, where the code came from outside, maintain or admin.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum


class Role(IntEnum):
    """GitHub repository roles, ordered by what they allow."""

    NONE = 0
    READ = 1
    TRIAGE = 2
    WRITE = 3
    MAINTAIN = 4
    ADMIN = 5


# GitHub's `permissions` keys, strongest first, and the role each one means.
_FLAGS = (
    ("admin", Role.ADMIN),
    ("maintain", Role.MAINTAIN),
    ("push", Role.WRITE),
    ("triage", Role.TRIAGE),
    ("pull", Role.READ),
)


def role_from_permissions(permissions: Mapping[str, object] | None) -> Role:
    """The strongest role a `permissions` object of the repository API grants."""
    for flag, role in _FLAGS:
        if permissions and permissions.get(flag) is True:
            return role
    return Role.NONE


def can_view(role: Role) -> bool:
    """Anyone who can read the repository sees its environments."""
    return role >= Role.READ


def shell_role_needed(*, fork: bool) -> Role:
    """The least role that opens a shell: write, or maintain on a fork preview."""
    return Role.MAINTAIN if fork else Role.WRITE


def shell_refusal(role: Role, *, fork: bool) -> str | None:
    """Why the user may not open a shell, or None when they may."""
    needed = shell_role_needed(fork=fork)
    if role >= needed:
        return None
    what = "maintain or admin" if fork else "write"
    where = "this fork preview's repository" if fork else "this repository"
    return f"A shell needs {what} permission on {where}; you have {role.name.lower()}."
