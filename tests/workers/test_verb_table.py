"""One source per verb: grammar, default permission, help line and effect all come from one table.

A verb added to `core.commands.Verb` without its `VERBS` row (help, permission) or without an
effect in `workers.commands.effect_of` fails here (and the effect also fails mypy's exhaustive
match).
"""

from __future__ import annotations

from typing import get_args

import pytest

from core.commands import ALIASES, VERBS, Commands, Verb, canonical_verb, help_text, parse_comment
from core.model import PreviewPolicy
from core.policy import command_permissions, required_permission
from workers.commands import effect_of

ALL_VERBS: tuple[Verb, ...] = get_args(Verb)


def test_every_verb_has_exactly_one_table_row() -> None:
    assert tuple(VERBS) == ALL_VERBS


@pytest.mark.parametrize("verb", ALL_VERBS)
def test_every_verb_parses_has_a_permission_a_help_line_and_an_effect(verb: Verb) -> None:
    parsed = parse_comment(f"/catalyst {verb}")
    assert isinstance(parsed, Commands) and parsed.commands[0].verb == verb
    assert required_permission(verb, PreviewPolicy()) == VERBS[verb].permission
    assert f"`/catalyst {verb}`: {VERBS[verb].help}" in help_text(
        command_permissions(PreviewPolicy())
    )
    assert callable(effect_of(verb))


def test_aliases_come_from_the_table() -> None:
    assert ALIASES == {"destroy": "teardown", "stop": "teardown"}
    assert all(canonical_verb(alias) == verb for alias, verb in ALIASES.items())
