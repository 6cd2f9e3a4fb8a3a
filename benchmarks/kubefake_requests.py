"""Benchmark: the fake API server's request cost, against `GET /version` on the same server.

Moved here from timed assertions in tests/kubefake_tests (they failed under load): a GET of one
custom object, a labelled list of 1,000 of them, and a cached strict schema validation, each
reported per request and as a ratio to the server's cheapest answer measured in the same run.

Usage: .venv/bin/python -m benchmarks.kubefake_requests [--rounds 200]
Goals: a GET costs about 1 ms and at most 3x `/version`; the list of 1,000 under 250 ms; a cached
validation under 2 ms.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.kubefake import KubeFake
from tests.kubefake.validation import validate_builtin
from tests.kubefake_tests.helpers import (
    GROUP,
    PLURAL,
    VERSION,
    custom,
    environment,
    environment_crd,
)

ARGS = (GROUP, VERSION, "default", PLURAL)


def per_call(action: Callable[[], Any], rounds: int) -> float:
    """Mean seconds per call of `action` (after one warm-up call)."""
    action()
    started = time.perf_counter()
    for _ in range(rounds):
        action()
    return (time.perf_counter() - started) / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="calls per measurement")
    rounds = parser.parse_args().rounds
    with KubeFake([environment_crd()]) as fake, httpx.Client(base_url=fake.url) as http:
        api = custom(fake)
        api.create_namespaced_custom_object(*ARGS, environment("e1"))
        baseline = per_call(lambda: http.get("/version"), rounds)
        get = per_call(lambda: api.get_namespaced_custom_object(*ARGS, "e1"), rounds)
        for i in range(1000):
            fake.put_object(environment(f"env-{i:04d}", pr=i + 1))
        listing = per_call(
            lambda: api.list_namespaced_custom_object(*ARGS, label_selector="!missing"), 5
        )
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"a": "b"}}
    validation = per_call(lambda: validate_builtin(obj, "1.29"), rounds)
    print(f"GET /version (baseline): {baseline * 1000:.2f} ms")
    print(f"GET one custom object:   {get * 1000:.2f} ms ({get / baseline:.1f}x baseline)")
    print(f"LIST 1,000 (selector):   {listing * 1000:.0f} ms ({listing / baseline:.0f}x baseline)")
    print(f"cached validation:       {validation * 1000:.3f} ms")


if __name__ == "__main__":
    main()
