"""Adapter: parse untrusted YAML (compose and values files) in a bounded child process.

`core.safeyaml` already refuses aliases and caps size, depth and node count; the child adds a
hard wall around whatever slips through (a parser bug, a pathological but legal document): its
address space is capped (RLIMIT_AS) and it is killed after a timeout, so the reconciler, the
single leader every team's previews depend on, never grows past its limit on a PR's file.
Results are cached by content, since a compose file is read on every pass.

    python -m reconciler.yamlchild   # reads YAML on stdin, writes JSON on stdout (exit 2: refused)
"""

from __future__ import annotations

import functools
import json
import resource
import subprocess
import sys
from typing import Any

from core import safeyaml
from core.errors import ConfigError

CHILD_MEMORY_BYTES = 512 * 1024 * 1024
CHILD_TIMEOUT_SECONDS = 30.0


def parse(
    text: str | bytes,
    *,
    what: str,
    memory_bytes: int = CHILD_MEMORY_BYTES,
    timeout: float = CHILD_TIMEOUT_SECONDS,
) -> Any:
    """The YAML document parsed in a child process; UnsafeYaml/ConfigError when refused."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8")
    if len(raw) > safeyaml.DEFAULT_LIMITS.max_bytes:
        raise safeyaml.UnsafeYaml(f"{what}: larger than {safeyaml.DEFAULT_LIMITS.max_bytes} bytes")
    return json.loads(_parse_cached(raw, what, memory_bytes, timeout))


@functools.lru_cache(maxsize=64)
def _parse_cached(raw: bytes, what: str, memory_bytes: int, timeout: float) -> str:
    argv = [sys.executable, "-I", "-m", "reconciler.yamlchild", what, str(memory_bytes)]
    try:
        done = subprocess.run(argv, input=raw, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise safeyaml.UnsafeYaml(f"{what}: parsing took longer than {timeout:.0f}s") from None
    if done.returncode == 0:
        return done.stdout.decode("utf-8")
    message = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
    if done.returncode == 2 and message:
        error = safeyaml.UnsafeYaml if message[0].startswith("unsafe:") else ConfigError
        raise error(message[0].split(":", 1)[1].strip())
    raise safeyaml.UnsafeYaml(f"{what}: parsing exceeded its memory or time limit")


def _child(what: str, memory_bytes: int) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        loaded = safeyaml.load(sys.stdin.buffer.read(), what=what)
        sys.stdout.write(json.dumps(loaded, default=str))
    except safeyaml.UnsafeYaml as exc:
        sys.stderr.write(f"unsafe: {exc}\n")
        return 2
    except ConfigError as exc:
        sys.stderr.write(f"invalid: {exc}\n")
        return 2
    except MemoryError:
        sys.stderr.write(f"unsafe: {what}: parsing exceeded {memory_bytes} bytes of memory\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], int(sys.argv[2])))
