"""Label and field selectors, parsed once and matched against stored objects.

Label selectors support ``=``, ``==``, ``!=``, ``in``, ``notin``, ``key`` (exists) and
``!key`` (does not exist), comma-separated (all must hold). Field selectors support
``metadata.name`` and ``metadata.namespace`` with ``=``, ``==`` and ``!=``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import ApiError

Matcher = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*([^\s,]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


def split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    terms: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return [t for t in terms if t.strip()]


def _set_term(key: str, op: str, values: set[str]) -> Callable[[dict[str, str]], bool]:
    if op == "in":
        return lambda labels: labels.get(key) in values
    return lambda labels: labels.get(key) not in values


def _eq_term(key: str, op: str, value: str) -> Callable[[dict[str, str]], bool]:
    if op == "!=":
        return lambda labels: labels.get(key) != value
    return lambda labels: labels.get(key) == value


def _exists_term(negate: bool, key: str) -> Callable[[dict[str, str]], bool]:
    if negate:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def parse_label_term(term: str) -> Callable[[dict[str, str]], bool]:
    """One requirement of a label selector."""
    if m := _SET_RE.match(term):
        values = {v.strip() for v in m.group(3).split(",") if v.strip()}
        return _set_term(m.group(1), m.group(2), values)
    if m := _EQ_RE.match(term):
        return _eq_term(m.group(1), m.group(2), m.group(3))
    if m := _EXISTS_RE.match(term):
        return _exists_term(m.group(1) == "!", m.group(2))
    raise ApiError(400, f"unable to parse requirement: invalid label selector term {term!r}")


def label_matcher(selector: str | None) -> Matcher | None:
    """A predicate over objects, or ``None`` when the selector is empty."""
    if not selector:
        return None
    terms = [parse_label_term(t) for t in split_terms(selector)]

    def match(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return match


_FIELDS = {"metadata.name": "name", "metadata.namespace": "namespace"}


def parse_field_term(term: str) -> Matcher:
    """One ``field=value`` / ``field!=value`` requirement."""
    m = _EQ_RE.match(term)
    if not m or m.group(1) not in _FIELDS:
        raise ApiError(400, f'field label not supported: "{term.strip()}"')
    attr, op, value = _FIELDS[m.group(1)], m.group(2), m.group(3)
    if op == "!=":
        return lambda obj: obj.get("metadata", {}).get(attr, "") != value
    return lambda obj: obj.get("metadata", {}).get(attr, "") == value


def field_matcher(selector: str | None) -> Matcher | None:
    """A predicate for a field selector, or ``None`` when empty."""
    if not selector:
        return None
    terms = [parse_field_term(t) for t in split_terms(selector)]
    return lambda obj: all(term(obj) for term in terms)


def combine(*matchers: Matcher | None) -> Matcher:
    """All given matchers must hold; ``None`` entries are ignored."""
    active = [m for m in matchers if m is not None]
    if not active:
        return lambda obj: True
    if len(active) == 1:
        return active[0]
    return lambda obj: all(m(obj) for m in active)
