"""Schedules and event triggers declared in workflow files, checked with the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import EXIT_REJECTED, main
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.loader import load_trigger, load_workflow_file, workflow_from_mapping
from orchestrator.workflow_triggers import describe, read_trigger

TASKS = [{"id": "a", "function": "tests.integration.workloads:add", "args": [1, 2]}]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"schedule": {"cron": "0 2 * * *", "timezone": "Europe/Paris", "missed": "skip"}},
            "scheduled as 'nightly': cron '0 2 * * *' in Europe/Paris; missed runs: skip;"
            " no overlapping runs",
        ),
        (
            {"schedule": {"every_s": 600, "overlap": True, "name": "often"}},
            "scheduled as 'often': every 600 s; missed runs: run_once; overlapping runs allowed",
        ),
        (
            {"on_topic": "orders"},
            "triggered: a run per message on topic 'orders' (overlapping runs allowed)",
        ),
        (
            {"on_topic": {"topic": "orders", "overlap": False}},
            "triggered: a run per message on topic 'orders' (no overlapping runs)",
        ),
    ],
)
def test_a_file_declares_when_it_runs(data: dict[str, Any], expected: str) -> None:
    schedule, problems = read_trigger(data, "nightly")
    assert problems == []
    assert schedule is not None
    assert describe(schedule) == expected
    assert workflow_from_mapping({"name": "nightly", "tasks": TASKS, **data}).name == "nightly"


@pytest.mark.parametrize(
    ("data", "where", "fragment"),
    [
        ({"schedule": {"cron": "every day"}}, "schedule.cron", "not a five-field cron"),
        ({"schedule": {"cron": "0 2 * * *", "timezone": "Mars/Olympus"}}, "schedule.timezone", ""),
        ({"schedule": {"every_s": -1}}, "schedule.every_s", "greater than 0"),
        ({"schedule": {"missed": "later", "every_s": 5}}, "schedule.missed", "'run_once'"),
        ({"schedule": {}}, "schedule", "exactly one of 'cron', 'every_s' and 'topic'"),
        ({"schedule": {"cron": "0 2 * * *", "every_s": 5}}, "schedule", "exactly one"),
        ({"schedule": {"topic": "x"}}, "schedule.topic", "unknown field"),
        ({"schedule": "nightly"}, "schedule", "expected a mapping, got str"),
        ({"on_topic": {"overlap": True}}, "on_topic.topic", "the topic to listen on is missing"),
        ({"on_topic": {"topic": ""}}, "on_topic.topic", "at least 1 character"),
        ({"on_topic": "x", "schedule": {"every_s": 5}}, "on_topic", "not both"),
    ],
)
def test_bad_schedules_are_named(data: dict[str, Any], where: str, fragment: str) -> None:
    schedule, problems = read_trigger(data, "wf")
    assert schedule is None
    assert [p.where for p in problems] == [where]
    assert fragment in problems[0].message


def test_schedule_problems_are_reported_with_the_rest_of_the_file() -> None:
    data = {
        "name": "wf",
        "schedule": {"cron": "99 * * * *"},
        "tasks": [{"id": "a", "function": "tests.integration.workloads:add", "colour": "red"}],
    }
    with pytest.raises(WorkflowRejectedError) as exc:
        workflow_from_mapping(data)
    where = sorted(p.where for p in exc.value.problems)
    assert where == ["schedule.cron", "tasks[0] (id 'a').colour"]


def test_validate_and_load_trigger_read_a_scheduled_file(tmp_path: Path) -> None:
    path = tmp_path / "nightly.yaml"
    path.write_text(
        "name: nightly\nschedule: {cron: '30 1 * * 1-5', timezone: UTC}\ntasks:\n"
        "  - {id: a, function: 'tests.integration.workloads:add', args: [1, 2]}\n"
    )
    assert load_workflow_file(path).name == "nightly"
    schedule = load_trigger(path)
    assert schedule is not None and schedule.cron == "30 1 * * 1-5"
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "scheduled as 'nightly': cron '30 1 * * 1-5' in UTC" in result.output
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        "name: plain\ntasks:\n  - {id: a, function: 'tests.integration.workloads:add'}\n"
    )
    assert load_trigger(plain) is None


def test_validate_refuses_a_bad_schedule_with_exit_status_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\non_topic: {topic: orders, colour: red}\ntasks:\n"
        "  - {id: a, function: 'tests.integration.workloads:add'}\n"
    )
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == EXIT_REJECTED
    assert "on_topic.colour: unknown field" in result.output
