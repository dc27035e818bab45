"""`ScheduleBook`: the scheduler's recurring workflows, and their firings when due.

See `orchestrator.core.schedules` for what a schedule says. The book keeps each schedule's
record, fires those due at each tick (asking the runtime to submit the run), skips a
firing whose previous run still runs when the schedule forbids overlaps, and says when
the next firing is due.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from orchestrator.core.commands import Command, PublishScheduleEvent, SubmitScheduledRun
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.schedules import (
    ScheduleRecord,
    ScheduleSpec,
    due_firings,
    new_record,
    restored_record,
    run_of,
    run_of_message,
)
from orchestrator.core.status import ScheduleInfo

#: A firing due for longer than this when seen was missed (the orchestrator was down).
LATE_AFTER_S = 5.0


class ScheduleBook:
    """Schedules by name (see the module docstring)."""

    def __init__(self) -> None:
        """Start with no schedule."""
        self.records: dict[str, ScheduleRecord] = {}

    def add(
        self, spec: ScheduleSpec, workflow: PackedWorkflow, now_s: float, out: list[Command]
    ) -> None:
        """Keep a new schedule; its first firing is the first one after ``now_s``.

        Raises:
            ValueError: a schedule of that name exists.
        """
        if spec.name in self.records:
            raise ValueError(f"a schedule named {spec.name!r} exists; remove it first")
        record = self.records[spec.name] = new_record(spec, workflow, now_s)
        when = (
            f"a run per message on {spec.topic!r}"
            if spec.topic is not None
            else f"first run at {_iso(record.next_s)}"
        )
        out.append(PublishScheduleEvent(schedule=spec.name, event="added", message=when))

    def restore(self, spec: ScheduleSpec, workflow: PackedWorkflow, state: dict[str, Any]) -> None:
        """Keep a schedule from a checkpoint; firings missed meanwhile are due at once."""
        self.records[spec.name] = restored_record(spec, workflow, state)

    def remove(self, name: str, out: list[Command]) -> None:
        """Forget a schedule (its runs go on). Raises `KeyError` naming an unknown one."""
        if self.records.pop(name, None) is None:
            raise KeyError(f"no schedule {name!r}")
        out.append(PublishScheduleEvent(schedule=name, event="removed"))

    def fire_due(
        self, now_s: float, still_running: Callable[[str], bool], out: list[Command]
    ) -> None:
        """Ask for the runs due by ``now_s``; skip those that would overlap when forbidden."""
        for record in self.records.values():
            if record.next_s > now_s:
                continue
            for fire_s in due_firings(record, now_s, late_after_s=LATE_AFTER_S):
                what = f"run of {_iso(fire_s)}"
                if _may_start(record, what, still_running, out):
                    _start(record, run_of(record, fire_s), fire_s, out)

    def deliver(
        self,
        topic: str,
        payload: Any,
        now_s: float,
        still_running: Callable[[str], bool],
        out: list[Command],
    ) -> int:
        """Start a run of each schedule on ``topic``; return how many started."""
        started = 0
        for record in self.records.values():
            if record.spec.topic != topic:
                continue
            if _may_start(record, f"message on {topic!r}", still_running, out):
                _start(record, run_of_message(record, payload), now_s, out)
                started += 1
        return started

    def next_due_s(self) -> float | None:
        """Return when the next firing is due, or None without schedules."""
        due = min((record.next_s for record in self.records.values()), default=math.inf)
        return None if math.isinf(due) else due

    def infos(self) -> list[ScheduleInfo]:
        """Return every schedule's state, by name."""
        return [
            ScheduleInfo(
                name=name,
                cron=record.spec.cron,
                every_s=record.spec.every_s,
                topic=record.spec.topic,
                timezone=record.spec.timezone,
                next_s=None if math.isinf(record.next_s) else record.next_s,
                last_fire_s=record.last_fire_s,
                runs=record.runs,
                last_run_id=record.last_run_id,
                skipped_overlaps=record.skipped_overlaps,
                missed_runs=record.missed_runs,
            )
            for name, record in sorted(self.records.items())
        ]


def _may_start(
    record: ScheduleRecord, what: str, still_running: Callable[[str], bool], out: list[Command]
) -> bool:
    """Return whether a run may start now; a skipped one is counted and published."""
    previous = record.last_run_id
    if record.spec.overlap or previous is None or not still_running(previous):
        return True
    record.skipped_overlaps += 1
    message = f"{what} skipped: {previous} still runs"
    out.append(PublishScheduleEvent(schedule=record.spec.name, event="skipped", message=message))
    return False


def _start(record: ScheduleRecord, run: PackedWorkflow, when_s: float, out: list[Command]) -> None:
    """Ask for ``run`` (a copy of the schedule's workflow) and count it."""
    record.runs += 1
    record.last_fire_s = when_s
    record.last_run_id = run.id
    out.append(SubmitScheduledRun(schedule=record.spec.name, workflow=run, fire_s=when_s))


def _iso(time_s: float) -> str:
    return datetime.fromtimestamp(time_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
