"""Logging for every process: one line per event, JSON or console, with context on every line.

Context fields (`delivery_id`, `repository`, `pr`, `environment`, `task`) live in context
variables, so a flow binds them once (`with log_context(pr=7): ...`) and every line logged inside,
by any module, carries them. Setup happens once per process in its shell.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("delivery_id", "repository", "pr", "environment", "task")
_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("catalyst_log_context")
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def current_context() -> dict[str, Any]:
    """The fields bound in the current context."""
    return dict(_context.get({}))


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind fields for every log line emitted inside the block (None values are skipped)."""
    merged = {**_context.get({}), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(current_context())
        line.update(_extras(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class ConsoleFormatter(logging.Formatter):
    """Human-readable line with the context fields appended as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {**current_context(), **_extras(record)}
        tail = " ".join(f"{k}={v}" for k, v in fields.items())
        base = f"{record.levelname:<7} {record.name}: {record.getMessage()}"
        text = f"{base} {tail}" if tail else base
        return f"{text}\n{self.formatException(record.exc_info)}" if record.exc_info else text


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send every logger's records to stderr in the chosen format (call once per process)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
