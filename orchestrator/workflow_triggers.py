"""Schedules and event triggers declared in workflow files (YAML or JSON).

A workflow file may say when it runs, with one of two top-level keys::

    schedule: {cron: "0 2 * * *", timezone: Europe/Paris, missed: run_once, overlap: false}
    schedule: {every_s: 600}             # or an interval (start_at, max_missed_runs too)
    on_topic: orders                     # or a run per message on a topic
    on_topic: {topic: orders, overlap: false, name: order-runs}

The fields are those of `orchestrator.core.schedules.ScheduleSpec`; ``name`` defaults
to the workflow's name. Problems are reported with the rest of the file's, located
(``schedule.cron: ...``). What ``orchestrator run`` does with such a file is in
`orchestrator.cli_triggers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from orchestrator.core.errors import Problem
from orchestrator.core.schedules import ScheduleSpec
from orchestrator.validation_problems import problems_from_validation_error

#: The top-level keys of a workflow file that declare when it runs.
TRIGGER_KEYS = frozenset({"schedule", "on_topic"})


def read_trigger(
    data: Mapping[str, Any], workflow_name: str
) -> tuple[ScheduleSpec | None, list[Problem]]:
    """Return the schedule or trigger ``data`` declares (None: none), and its problems."""
    schedule, on_topic = data.get("schedule"), data.get("on_topic")
    if schedule is not None and on_topic is not None:
        return None, [Problem("on_topic", "give either 'schedule' or 'on_topic', not both")]
    if schedule is not None:
        return _build("schedule", schedule, workflow_name, topic=False)
    if on_topic is not None:
        entry = {"topic": on_topic} if isinstance(on_topic, str) else on_topic
        return _build("on_topic", entry, workflow_name, topic=True)
    return None, []


def _build(
    key: str, entry: Any, workflow_name: str, *, topic: bool
) -> tuple[ScheduleSpec | None, list[Problem]]:
    if not isinstance(entry, Mapping):
        expected = "a topic name or a mapping with 'topic'" if topic else "a mapping"
        return None, [Problem(key, f"expected {expected}, got {type(entry).__name__}")]
    allowed = {"topic", "name", "overlap"} if topic else set(ScheduleSpec.model_fields) - {"topic"}
    unknown = [name for name in entry if name not in allowed]
    if unknown:
        expected = ", ".join(sorted(allowed))
        return None, [
            Problem(f"{key}.{name}", f"unknown field (expected one of {expected})")
            for name in unknown
        ]
    fields: dict[str, Any] = {"name": workflow_name, **entry}
    if topic:
        if "topic" not in entry:
            return None, [Problem(f"{key}.topic", "the topic to listen on is missing")]
        fields.setdefault("overlap", True)  # as `Orchestrator.on`: each message a run
    try:
        return ScheduleSpec(**fields), []
    except ValidationError as exc:
        return None, problems_from_validation_error(exc, prefix=key)


def describe(schedule: ScheduleSpec) -> str:
    """Return one line saying when ``schedule`` starts runs, for ``orchestrator validate``."""
    overlap = "overlapping runs allowed" if schedule.overlap else "no overlapping runs"
    if schedule.topic is not None:
        return f"triggered: a run per message on topic {schedule.topic!r} ({overlap})"
    when = (
        f"cron {schedule.cron!r} in {schedule.timezone}"
        if schedule.cron is not None
        else f"every {schedule.every_s:g} s"
    )
    return f"scheduled as {schedule.name!r}: {when}; missed runs: {schedule.missed}; {overlap}"
