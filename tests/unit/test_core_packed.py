"""Packing: `TaskRow.from_spec` reads every field, and finds the rare ones (extras)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.core import Priority, TaskSpec
from orchestrator.core.packed import TaskExtras, TaskRow
from orchestrator.core.specs import OutputOf

WHEN = datetime(2030, 1, 1, tzinfo=UTC)

#: One non-default value per extra, as given to `TaskSpec`, and as packed.
EXTRAS: dict[str, tuple[dict[str, Any], str, Any]] = {
    "heartbeat_timeout_s": ({"heartbeat_timeout_s": 2.0}, "heartbeat_timeout_s", 2.0),
    "schedule_to_close_s": ({"schedule_to_close_s": 9.0}, "schedule_to_close_s", 9.0),
    "compensate": ({"compensate": "m:undo"}, "compensate", "m:undo"),
    "cache": ({"cache": True}, "cache", True),
    "cache_ttl_s": ({"cache": "k", "cache_ttl_s": 5.0}, "cache_ttl_s", 5.0),
    "not_before": ({"not_before": WHEN}, "not_before_s", WHEN.timestamp()),
    "delay_s": ({"delay_s": 0.0}, "delay_s", 0.0),
    "on_deadline_miss": (
        {"deadline": WHEN, "on_deadline_miss": "skip"},
        "on_deadline_miss",
        "skip",
    ),
    "trigger_rule": ({"trigger_rule": "all_done"}, "trigger_rule", "all_done"),
    "reads": ({"reads": ("r",)}, "reads", ("r",)),
    "writes": ({"writes": ("w",)}, "writes", ("w",)),
    "preemptible": ({"preemptible": True}, "preemptible", True),
    "run_if": ({"run_if": "m:pred"}, "run_if", "m:pred"),
}


def test_a_task_without_extras_packs_none() -> None:
    assert TaskRow.from_spec(TaskSpec(id="t", function="m:f")).extras is None


@pytest.mark.parametrize("name", sorted(EXTRAS))
def test_each_extra_is_found_alone(name: str) -> None:
    fields, packed_name, packed = EXTRAS[name]
    extras = TaskRow.from_spec(TaskSpec(id="t", function="m:f", **fields)).extras
    assert isinstance(extras, TaskExtras)
    assert getattr(extras, packed_name) == packed
    expected = TaskExtras()._replace(**{packed_name: packed})
    if name == "cache_ttl_s":
        expected = expected._replace(cache="k")
    assert extras == expected


def test_a_row_carries_every_field() -> None:
    task = TaskSpec(
        id="t",
        function="m:f",
        args=(1, OutputOf(output_of="a")),
        kwargs={"x": OutputOf(output_of="b")},
        depends_on=("c",),
        priority=Priority.HIGH,
        deadline=WHEN,
        timeout_s=3.0,
        estimated_duration_s=4.0,
    )
    row = TaskRow.from_spec(task)
    assert type(row) is TaskRow
    assert row == TaskRow(
        "t",
        None,
        "m:f",
        task.args,
        task.kwargs,
        ("c", "a", "b"),
        int(Priority.HIGH),
        WHEN.timestamp(),
        None,
        task.retry,
        3.0,
        4.0,
        None,
    )
    plain = TaskRow.from_spec(TaskSpec(id="u", agent="ag", depends_on=("t",)))
    assert (plain.inputs, plain.deadline_s, plain.agent) == (("t",), math.inf, "ag")
