"""TaskContext: inputs by id, and a logger bound to the workflow, task, attempt and agent."""

from __future__ import annotations

import io
import json

import pytest

from orchestrator.agent import TaskContext
from orchestrator.settings import LoggingSettings
from orchestrator.telemetry.logging import configure_logging


def make_context(**inputs: object) -> TaskContext:
    return TaskContext("wf-1", "count-3", 2, "WordCounter#4", inputs=inputs)


def test_log_lines_carry_the_ids() -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="INFO", format="json"), stream=stream)
    try:
        make_context().log.info("shard counted", words=12)
    finally:
        configure_logging(LoggingSettings())
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["event"] == "shard counted"
    assert line["words"] == 12
    assert (line["workflow_id"], line["task_id"], line["attempt"], line["agent_id"]) == (
        "wf-1",
        "count-3",
        2,
        "WordCounter#4",
    )


def test_input_by_id_and_the_only_input() -> None:
    assert make_context(plan=[1, 2]).input() == [1, 2]
    assert make_context(a=1, b=2).input("b") == 2


@pytest.mark.parametrize(
    ("inputs", "task_id", "message"),
    [
        ({}, None, "has 0 inputs"),
        ({"a": 1, "b": 2}, None, "has 2 inputs; name the one you want"),
        ({"a": 1}, "z", "has no input 'z' \\(inputs: a\\)"),
    ],
)
def test_input_errors_say_what_exists(
    inputs: dict[str, object], task_id: str | None, message: str
) -> None:
    with pytest.raises(KeyError, match=message):
        make_context(**inputs).input(task_id)
