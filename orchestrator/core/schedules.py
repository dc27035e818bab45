"""Recurring workflows: a workflow started on a cron expression or at a fixed interval.

A `ScheduleSpec` names when (a five-field ``cron`` expression read with croniter in a
``timezone``, or ``every_s`` seconds from ``start_at``), what happens to runs missed while
the orchestrator was down (``missed``: ``skip`` them, ``run_once`` for all of them, or
``run_all``, up to ``max_missed_runs``), and whether a run may start while the previous
one still runs (``overlap``; when not, that firing is skipped and counted).

Each firing asks the runtime to submit a copy of the schedule's workflow
(`SubmitScheduledRun`) with the id ``<name>@<fire time, UTC>``, e.g.
``nightly@20261129T020000Z``, through the same door as any submission (validation, the
result cache, checkpoints). The schedules and their state are part of the checkpoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.specs import Identifier, substitute_payload


class ScheduleSpec(BaseModel):
    """When a workflow runs again and again.

    Attributes:
        name: Unique among the schedules; the prefix of its runs' ids.
        cron: A five-field cron expression (minute hour day month weekday), e.g.
            ``"0 2 * * *"``; or give ``every_s``.
        every_s: A fixed interval in seconds, counted from ``start_at`` (or from when the
            schedule was added).
        topic: Start a run for each message published on this topic instead (an
            event-triggered workflow); `EVENT_PAYLOAD` in its tasks' arguments becomes
            the message's payload.
        timezone: The IANA time zone the cron expression is read in.
        start_at: No run before this instant (time-zone aware).
        missed: Runs that fell while the orchestrator was down: ``skip`` them,
            ``run_once`` (one run now for all of them) or ``run_all``.
        max_missed_runs: Most missed runs started by ``run_all``.
        overlap: Start a run even when the previous one still runs; when not, that
            firing is skipped (and counted).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Identifier
    cron: str | None = None
    every_s: float | None = Field(default=None, gt=0)
    topic: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str = "UTC"
    start_at: datetime | None = None
    missed: Literal["skip", "run_once", "run_all"] = "run_once"
    max_missed_runs: int = Field(default=100, ge=1, le=10_000)
    overlap: bool = False

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None and (len(value.split()) != 5 or not croniter.is_valid(value)):
            raise ValueError(
                f"{value!r} is not a five-field cron expression (minute hour day month weekday)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'UTC')") from None
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> ScheduleSpec:
        given = [rule for rule in (self.cron, self.every_s, self.topic) if rule is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'cron', 'every_s' and 'topic'")
        if self.start_at is not None and self.start_at.tzinfo is None:
            raise ValueError("start_at must carry a time zone")
        return self

    def next_after(self, after_s: float, anchor_s: float) -> float:
        """Return the first firing after ``after_s`` (``anchor_s``: where intervals start)."""
        if self.topic is not None:
            return math.inf  # runs come from messages, not from the clock
        if self.every_s is not None:
            if after_s < anchor_s:
                return anchor_s
            return anchor_s + (math.floor((after_s - anchor_s) / self.every_s) + 1) * self.every_s
        assert self.cron is not None
        start = datetime.fromtimestamp(after_s, ZoneInfo(self.timezone))
        return float(croniter(self.cron, start).get_next(float))


@dataclass(slots=True, eq=False)
class ScheduleRecord:
    """A schedule and where it stands."""

    spec: ScheduleSpec
    workflow: PackedWorkflow
    anchor_s: float
    next_s: float
    last_fire_s: float | None = None
    runs: int = 0
    skipped_overlaps: int = 0
    missed_runs: int = 0
    last_run_id: str | None = None

    def entry(self) -> dict[str, Any]:
        """Return its JSON-safe state for a checkpoint (the workflow is stored apart)."""
        return {
            "spec": self.spec.model_dump(mode="json"),
            "anchor_s": self.anchor_s,
            "next_s": None if math.isinf(self.next_s) else self.next_s,
            "last_fire_s": self.last_fire_s,
            "runs": self.runs,
            "skipped_overlaps": self.skipped_overlaps,
            "missed_runs": self.missed_runs,
            "last_run_id": self.last_run_id,
        }


def new_record(spec: ScheduleSpec, workflow: PackedWorkflow, now_s: float) -> ScheduleRecord:
    """Return the record of a schedule added at ``now_s``: its first firing is due next."""
    anchor_s = spec.start_at.timestamp() if spec.start_at is not None else now_s
    first_s = spec.next_after(max(now_s, anchor_s) - 1e-6, anchor_s)
    return ScheduleRecord(spec, workflow, anchor_s, first_s)


def restored_record(
    spec: ScheduleSpec, workflow: PackedWorkflow, state: dict[str, Any]
) -> ScheduleRecord:
    """Return a schedule's record from a checkpoint entry (see `ScheduleRecord.entry`)."""
    return ScheduleRecord(
        spec,
        workflow,
        anchor_s=float(state["anchor_s"]),
        next_s=math.inf if state["next_s"] is None else float(state["next_s"]),
        last_fire_s=state.get("last_fire_s"),
        runs=int(state.get("runs", 0)),
        skipped_overlaps=int(state.get("skipped_overlaps", 0)),
        missed_runs=int(state.get("missed_runs", 0)),
        last_run_id=state.get("last_run_id"),
    )


def due_firings(record: ScheduleRecord, now_s: float, *, late_after_s: float) -> list[float]:
    """Return the firing times to start at ``now_s`` and move ``record.next_s`` past now.

    A firing due for longer than ``late_after_s`` was missed (the orchestrator was
    down): the schedule's ``missed`` policy decides how many of those run. Others run.
    """
    due: list[float] = []
    next_s = record.next_s
    spec = record.spec
    cap = spec.max_missed_runs + 1
    while next_s <= now_s and len(due) < cap:
        due.append(next_s)
        next_s = spec.next_after(next_s, record.anchor_s)
    if next_s <= now_s:  # more than the cap: jump past now
        next_s = spec.next_after(now_s, record.anchor_s)
    record.next_s = next_s
    missed = [t for t in due if now_s - t > late_after_s]
    on_time = [t for t in due if now_s - t <= late_after_s]
    record.missed_runs += len(missed)
    if not missed:
        return on_time
    if spec.missed == "skip":
        return on_time
    if spec.missed == "run_once":
        return on_time or missed[-1:]
    return (missed + on_time)[: spec.max_missed_runs]


def run_of_message(record: ScheduleRecord, payload: Any) -> PackedWorkflow:
    """Return the workflow of the run a message starts: a copy with its own id.

    Its `EventPayload` placeholders are replaced by ``payload``.
    """
    rows = tuple(
        row._replace(
            args=substitute_payload(row.args, payload),
            kwargs=substitute_payload(row.kwargs, payload),
        )
        for row in record.workflow.rows
    )
    run_id = f"{record.spec.name}@event-{record.runs + 1:06d}"
    return replace(record.workflow, id=run_id, rows=rows)


def run_of(record: ScheduleRecord, fire_s: float) -> PackedWorkflow:
    """Return the workflow of the run firing at ``fire_s`` (a copy with its own id)."""
    moment = datetime.fromtimestamp(fire_s, UTC)
    stamp = moment.strftime("%Y%m%dT%H%M%S")
    if moment.microsecond:  # sub-second intervals: runs keep distinct ids
        stamp += f".{moment.microsecond // 1000:03d}"
    return replace(record.workflow, id=f"{record.spec.name}@{stamp}Z")
