"""The admission notice is built by pure projection code, not spliced into rendered Markdown."""

from __future__ import annotations

import pytest

from core import projection
from core.policy import Action, Decision

WAITING = Decision(Action.WAIT, "no free slot", queue_position=2)
UNAPPROVED = Decision(Action.AWAIT_APPROVAL, "fork", awaiting_approval=True)


@pytest.mark.parametrize("decision", [WAITING, UNAPPROVED], ids=["waiting", "awaiting approval"])
def test_the_notice_sits_between_the_table_and_the_command_help(decision: Decision) -> None:
    notice = projection.admission_notice(decision)
    view = projection.CommentView("shop", "Waiting", "a" * 40, None, None, None, "", notice=notice)
    body = projection.render_comment(view)
    table_end = body.index("| Updated |")
    help_start = body.index("<details>")
    assert table_end < body.index(notice) < help_start
    assert body.count(notice) == 1


def test_the_notices_say_what_to_do() -> None:
    assert "number **2** in the queue" in projection.admission_notice(WAITING)
    assert "`/catalyst deploy`" in projection.admission_notice(UNAPPROVED)
