"""structlog configuration: formats, levels, bound keys, reconfiguration."""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterator

import pytest
import structlog

from orchestrator.core.commands import TaskEvent
from orchestrator.core.states import TaskState
from orchestrator.runtime.event_log import log_task_events
from orchestrator.settings import LoggingSettings
from orchestrator.telemetry import configure_logging, get_logger

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def _json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_bound_keys_level_timestamp_and_logger_name() -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="DEBUG", format="json"), stream=stream)

    log = get_logger("orchestrator.runtime.supervisor", workflow_id="wf-1")
    log.bind(task_id="t-7").info("task dispatched", attempt=2)

    [record] = _json_lines(stream)
    assert record["event"] == "task dispatched"
    assert record["workflow_id"] == "wf-1"
    assert record["task_id"] == "t-7"
    assert record["attempt"] == 2
    assert record["level"] == "info"
    assert record["logger"] == "orchestrator.runtime.supervisor"
    assert isinstance(record["timestamp"], str)
    assert ISO_UTC.match(record["timestamp"]), record["timestamp"]


def test_console_lines_carry_bound_keys_without_colour_codes() -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="INFO", format="console"), stream=stream)

    get_logger("agents.echo", workflow_id="wf-9").info("task done", task_id="t-3")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert "task done" in line
    assert "workflow_id=wf-9" in line
    assert "task_id=t-3" in line
    assert "info" in line
    assert "\x1b[" not in line


@pytest.mark.parametrize(
    ("level", "expected_events"),
    [
        ("DEBUG", ["d", "i", "w", "e"]),
        ("INFO", ["i", "w", "e"]),
        ("WARNING", ["w", "e"]),
        ("ERROR", ["e"]),
    ],
)
def test_level_filters_lower_levels(level: str, expected_events: list[str]) -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level=level, format="json"), stream=stream)
    log = get_logger("test")

    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")

    assert [record["event"] for record in _json_lines(stream)] == expected_events


def test_contextvars_are_merged_into_every_line() -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(format="json"), stream=stream)
    log = get_logger("test")

    structlog.contextvars.bind_contextvars(workflow_id="wf-ctx")
    log.info("one")
    structlog.contextvars.clear_contextvars()
    log.info("two")

    first, second = _json_lines(stream)
    assert first["workflow_id"] == "wf-ctx"
    assert "workflow_id" not in second


def test_reconfiguring_applies_to_loggers_made_before() -> None:
    # Given a logger created before any configuration (as at module import time)
    log = get_logger("early", workflow_id="wf-2")
    first = io.StringIO()
    configure_logging(LoggingSettings(level="INFO", format="json"), stream=first)
    log.info("to first")
    log.debug("dropped at INFO")

    # When the process is configured again with another stream, format and level
    second = io.StringIO()
    configure_logging(LoggingSettings(level="DEBUG", format="console"), stream=second)
    log.debug("to second")

    # Then the same logger follows the new configuration
    assert [record["event"] for record in _json_lines(first)] == ["to first"]
    [line] = second.getvalue().splitlines()
    assert "to second" in line
    assert "workflow_id=wf-2" in line
    assert "debug" in line


def test_exceptions_are_rendered_in_json() -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(format="json"), stream=stream)

    try:
        raise RuntimeError("boom in task")
    except RuntimeError:
        get_logger("test", task_id="t-1").exception("task crashed")

    [record] = _json_lines(stream)
    assert record["event"] == "task crashed"
    assert record["level"] == "error"
    assert isinstance(record["exception"], str)
    assert "RuntimeError: boom in task" in record["exception"]
    assert "Traceback" in record["exception"]


def test_exceptions_are_rendered_in_console() -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(format="console"), stream=stream)

    try:
        raise ValueError("bad input")
    except ValueError:
        get_logger("test").exception("failed")

    output = stream.getvalue()
    assert "failed" in output
    assert "ValueError" in output
    assert "bad input" in output


def test_default_stream_is_the_current_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggingSettings(format="json"))

    get_logger("test", workflow_id="wf-err").warning("to stderr")

    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    record = json.loads(line)
    assert record["event"] == "to stderr"
    assert record["workflow_id"] == "wf-err"
    assert sys.stderr is not None


def test_logger_key_is_reserved() -> None:
    with pytest.raises(ValueError, match="reserved"):
        get_logger("test", logger="other")


def _task_events() -> list[TaskEvent]:
    return [
        TaskEvent("small", "a", TaskState.SUCCEEDED, 1),
        TaskEvent("small", "b", TaskState.FAILED, 1, "boom"),
        TaskEvent("small", "c", TaskState.CANCELLED, 0, "cancelled by user"),
        TaskEvent("big", "d", TaskState.CANCELLED, 0, "cancelled by user"),
    ]


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("INFO", [("task.failed", "warning", "b"), ("task.cancelled", "info", "c")]),
        (
            "DEBUG",
            [
                ("task.failed", "warning", "b"),
                ("task.cancelled", "info", "c"),
                ("task.cancelled", "debug", "d"),  # a large ("quiet") workflow's line
            ],
        ),
    ],
)
def test_task_event_lines_by_level_and_workflow_size(
    level: str, expected: list[tuple[str, str, str]]
) -> None:
    # Given the supervisor's logger (a lazy proxy) and events of a small and a large workflow
    stream = io.StringIO()
    configure_logging(LoggingSettings(level=level, format="json"), stream=stream)
    log = get_logger("orchestrator.supervisor")
    # When they are logged
    log_task_events(log, _task_events(), quiet={"big"})
    # Then successes are not, the large workflow's lines only at debug level
    lines = [(r["event"], r["level"], r["task_id"]) for r in _json_lines(stream)]
    assert lines == expected


def test_task_event_lines_follow_a_reconfiguration() -> None:
    # The logger is bound at each call, not once for all: a new level applies at once
    stream = io.StringIO()
    log = get_logger("orchestrator.supervisor")
    configure_logging(LoggingSettings(level="INFO", format="json"), stream=stream)
    log_task_events(log, _task_events(), quiet={"big"})
    configure_logging(LoggingSettings(level="ERROR", format="json"), stream=stream)
    log_task_events(log, _task_events(), quiet={"big"})
    assert len(_json_lines(stream)) == 2
