"""Pure: capped exponential back-off with full jitter (no I/O; the caller supplies randomness).

`full_jitter(n, base=, cap=, floor=)` is uniform in [0, min(cap, base * 2**n)], raised to `floor`
(AWS's "full jitter": retries of many clients spread over the whole window instead of bunching
at its upper half). The workers' task retries and the reconciler's per-key failures both use it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

MAX_EXPONENT = 30  # 2**30 * any sane base is far above every cap; keeps the float finite


def full_jitter(
    attempt: int,
    *,
    base: float,
    cap: float,
    floor: float = 0.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """The delay before retry number `attempt` (0 = the first retry)."""
    ceiling = min(cap, base * 2.0 ** min(attempt, MAX_EXPONENT))
    return max(floor, ceiling * rand())
