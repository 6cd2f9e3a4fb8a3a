"""core.backoff.full_jitter: the whole capped window [0, min(cap, base * 2**n)] is used."""

from __future__ import annotations

import pytest

from core.backoff import full_jitter


@pytest.mark.parametrize(
    ("attempt", "draw", "expected"),
    [
        (0, 1.0, 2.0),  # the window is base * 2**0
        (3, 1.0, 16.0),  # doubles per attempt
        (10, 1.0, 100.0),  # capped
        (3, 0.5, 8.0),  # the middle of the window, not three quarters (equal jitter)
        (3, 0.25, 4.0),  # the lower half is reachable too
        (3, 0.0, 0.5),  # raised to the floor
        (200, 1.0, 100.0),  # huge attempt numbers stay finite and capped
    ],
)
def test_full_jitter_spans_the_window(attempt: int, draw: float, expected: float) -> None:
    delay = full_jitter(attempt, base=2.0, cap=100.0, floor=0.5, rand=lambda: draw)
    assert delay == expected


def test_real_draws_stay_inside_the_window() -> None:
    delays = [full_jitter(4, base=1.0, cap=60.0) for _ in range(500)]
    assert all(0.0 <= d <= 16.0 for d in delays)
    assert min(delays) < 4.0 < max(delays)  # both halves of the window are used
