"""Structured logs carry the bound context and extra fields on every line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from core.logs import ConsoleFormatter, JsonFormatter, log_context


def _capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_json_line_has_context_and_extras() -> None:
    logger, stream = _capture(JsonFormatter())
    with log_context(delivery_id="d-1", repository="o/r", pr=7, environment=None):
        logger.info("delivery handled", extra={"outcome": "enqueued", "ms": 1.5})
    line = json.loads(stream.getvalue())
    assert line["msg"] == "delivery handled"
    assert (line["delivery_id"], line["repository"], line["pr"]) == ("d-1", "o/r", 7)
    assert (line["outcome"], line["ms"]) == ("enqueued", 1.5)
    assert "environment" not in line


def test_context_is_scoped_and_nested() -> None:
    logger, stream = _capture(JsonFormatter())
    with log_context(repository="o/r"):
        with log_context(pr=1):
            logger.info("inner")
        logger.info("outer")
    logger.info("none")
    inner, outer, none = (json.loads(x) for x in stream.getvalue().splitlines())
    assert inner["pr"] == 1 and inner["repository"] == "o/r"
    assert "pr" not in outer and outer["repository"] == "o/r"
    assert "repository" not in none


def test_exception_is_one_json_line() -> None:
    logger, stream = _capture(JsonFormatter())
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "ValueError: boom" in json.loads(lines[0])["exc"]


@pytest.mark.parametrize("fields", [{"pr": 3}, {}])
def test_console_format(fields: dict[str, int]) -> None:
    logger, stream = _capture(ConsoleFormatter())
    with log_context(**fields):
        logger.warning("hello")
    text = stream.getvalue().strip()
    assert text.startswith("WARNING") and "hello" in text
    assert ("pr=3" in text) == bool(fields)
