"""Pure: YAML from a pull request parsed with hard limits (no I/O).

Compose files, values files and rendered charts come from code we do not trust. A few hundred
bytes of YAML aliases expand to gigabytes (the "billion laughs"), so aliases are refused outright
(a real compose or values file never needs them: `<<` merges of anchors are the one common use,
and the message says so), and the text, every scalar, the nesting depth and the node count are
capped before anything is built. Everything else is `yaml.SafeLoader`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.events import AliasEvent

from core.errors import ConfigError


@dataclass(frozen=True)
class Limits:
    """Caps on one YAML text."""

    max_bytes: int = 1024 * 1024
    max_scalar: int = 256 * 1024
    max_depth: int = 64
    max_nodes: int = 200_000


DEFAULT_LIMITS = Limits()
RENDERED_LIMITS = Limits(max_bytes=16 * 1024 * 1024, max_scalar=4 * 1024 * 1024)


class UnsafeYaml(ConfigError):
    """The YAML uses aliases or exceeds a limit; the message names which."""

    reason = "UnsafeYaml"


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader refusing aliases and counting depth and nodes while composing."""

    limits: Limits = DEFAULT_LIMITS

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
            raise UnsafeYaml(f"YAML aliases are not allowed (line {line}); spell it out")
        self._nodes += 1
        if self._nodes > self.limits.max_nodes:
            raise UnsafeYaml(f"more than {self.limits.max_nodes} YAML nodes")
        self._depth += 1
        if self._depth > self.limits.max_depth:
            raise UnsafeYaml(f"YAML nested deeper than {self.limits.max_depth} levels")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.ScalarNode) and len(node.value) > self.limits.max_scalar:
            raise UnsafeYaml(f"a YAML value is longer than {self.limits.max_scalar} characters")
        return node


def _loader(limits: Limits) -> type[_BoundedLoader]:
    return type("Loader", (_BoundedLoader,), {"limits": limits})


def _check_size(text: str | bytes, limits: Limits, what: str) -> str:
    if len(text) > limits.max_bytes:
        raise UnsafeYaml(f"{what} is larger than {limits.max_bytes} bytes")
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="replace")
    return text


def load(text: str | bytes, *, what: str = "YAML", limits: Limits = DEFAULT_LIMITS) -> Any:
    """The one document of `text`; UnsafeYaml for a limit, ConfigError for invalid YAML."""
    source = _check_size(text, limits, what)
    try:
        return yaml.load(source, Loader=_loader(limits))
    except UnsafeYaml as exc:
        raise UnsafeYaml(f"{what}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what}: invalid YAML: {_first_line(str(exc))}") from None


def load_all(
    text: str | bytes, *, what: str = "YAML", limits: Limits = DEFAULT_LIMITS
) -> list[Any]:
    """Every document of a stream (empty documents dropped), under the same limits."""
    source = _check_size(text, limits, what)
    try:
        docs = list(yaml.load_all(source, Loader=_loader(limits)))
    except UnsafeYaml as exc:
        raise UnsafeYaml(f"{what}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what}: invalid YAML: {_first_line(str(exc))}") from None
    return [d for d in docs if d is not None]


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
