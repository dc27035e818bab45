"""Deferred starts (``not_before``, ``delay_s``) and missed deadlines (``on_deadline_miss``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.core import (
    TaskState,
    WorkflowCancelRequested,
    WorkflowRestored,
    WorkflowState,
)
from orchestrator.core.packed import PackedWorkflow
from orchestrator.testing import START_S

S = TaskState


def _at(offset_s: float) -> datetime:
    """The instant ``offset_s`` after the fake clock's start."""
    return datetime.fromtimestamp(START_S + offset_s, UTC)


def _started_at(sim: Any, task_id: str) -> list[float]:
    return [t for t, _, o in sim.ledger.attempts if o.task_id == task_id]


# -- deferred starts -----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["delay_s", "not_before"])
def test_a_deferred_task_starts_at_its_time_and_the_others_at_once(
    spec: Any, make_sim: Any, field: str
) -> None:
    value = 5.0 if field == "delay_s" else _at(5.0)
    sim = make_sim(duration_s=0.1)
    commands = sim.submit(spec.workflow(spec.task("later", **{field: value}), spec.task("now")))
    deferred = [e for e in commands.task_events if e.task_id == "later"]
    assert deferred and deferred[0].message.startswith("deferred: starts at 1970-01-01T00:16:45")
    sim.run()
    assert _started_at(sim, "now") == [START_S]
    assert _started_at(sim, "later") == [START_S + 5.0]
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED


def test_a_deferred_task_whose_dependencies_end_after_its_time_starts_then(
    spec: Any, make_sim: Any
) -> None:
    sim = make_sim(duration_s=3.0)
    sim.submit(spec.workflow(spec.task("a"), spec.task("b", depends_on=["a"], delay_s=1.0)))
    sim.run()
    assert _started_at(sim, "b") == [START_S + 3.0]


def test_the_later_of_not_before_and_delay_wins(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=0.1)
    sim.submit(spec.workflow(spec.task("x", not_before=_at(2.0), delay_s=4.0)))
    sim.run()
    assert _started_at(sim, "x") == [START_S + 4.0]


def test_a_deferred_task_cancelled_while_it_waits_never_starts(spec: Any, make_sim: Any) -> None:
    sim = make_sim()
    sim.submit(spec.workflow(spec.task("later", delay_s=10.0)))
    sim.run(until_s=START_S + 1.0)
    sim.send(WorkflowCancelRequested(workflow_id="wf"))
    sim.run()
    assert sim.ledger.attempts == []
    assert sim.scheduler.task_info("wf", "later").state is S.CANCELLED


def test_a_restored_deferred_task_still_waits_for_its_time(spec: Any, make_sim: Any) -> None:
    workflow = spec.workflow(spec.task("later", delay_s=10.0), spec.task("now"))
    before = make_sim(duration_s=0.1)
    before.submit(workflow)
    before.run(until_s=START_S + 2.0)
    entry = json.loads(json.dumps(before.scheduler.checkpoint_entry("wf")))
    after = make_sim(duration_s=0.1)
    after.clock.set(START_S + 2.0)
    after.send(WorkflowRestored(workflow=PackedWorkflow.pack(workflow), progress=entry))
    after.run()
    assert _started_at(after, "later") == [START_S + 10.0]  # from the first submission


def test_not_before_without_a_time_zone_is_refused(spec: Any) -> None:
    with pytest.raises(ValueError, match="not_before must carry a time zone"):
        spec.task("x", not_before=datetime(2030, 1, 1))


# -- deadlines -----------------------------------------------------------------------------


def _behind_a_long_task(spec: Any, **fields: Any) -> Any:
    """One agent: ``long`` (10 s) runs first; ``due`` (deadline at +5 s) waits behind it."""
    return spec.workflow(
        spec.task("long", priority="high"),
        spec.task("due", priority="low", deadline=_at(5.0), **fields),
        spec.task("after", depends_on=["due"]),
    )


def test_a_missed_deadline_is_reported_and_by_default_the_task_still_runs(
    spec: Any, make_sim: Any
) -> None:
    sim = make_sim(duration_s=10.0)
    sim.submit(_behind_a_long_task(spec))
    sim.run()
    due = sim.scheduler.task_info("wf", "due")
    assert (due.state, due.deadline_missed) == (S.SUCCEEDED, True)
    assert not sim.scheduler.task_info("wf", "long").deadline_missed
    assert sim.scheduler.workflow_status("wf").deadline_misses == 1
    assert sim.scheduler.summary("wf").deadline_misses == 1
    notes = [e for e in sim.ledger.task_events if e.task_id == "due" and "deadline" in e.message]
    assert notes[0].message == "missed its deadline 1970-01-01T00:16:45Z"


def test_on_deadline_miss_skip_skips_a_task_not_started_and_what_needs_it(
    spec: Any, make_sim: Any
) -> None:
    sim = make_sim(duration_s=10.0)
    sim.submit(_behind_a_long_task(spec, on_deadline_miss="skip"))
    sim.run()
    states = {i.task_id: i.state for i in sim.scheduler.task_infos("wf")}
    assert states == {"long": S.SUCCEEDED, "due": S.SKIPPED, "after": S.SKIPPED}
    assert _started_at(sim, "due") == []
    assert "not started by its deadline" in (
        sim.scheduler.task_info("wf", "due").error_message or ""
    )


def test_on_deadline_miss_skip_lets_a_running_task_finish(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=10.0)
    sim.submit(spec.workflow(spec.task("due", deadline=_at(5.0), on_deadline_miss="skip")))
    sim.run()
    info = sim.scheduler.task_info("wf", "due")
    assert (info.state, info.deadline_missed) == (S.SUCCEEDED, True)


def test_on_deadline_miss_fail_stops_a_running_attempt_and_fails_the_task(
    spec: Any, make_sim: Any
) -> None:
    sim = make_sim(duration_s=10.0)
    sim.submit(
        spec.workflow(
            spec.task("due", deadline=_at(5.0), on_deadline_miss="fail"),
            spec.task("after", depends_on=["due"]),
        )
    )
    sim.run()
    info = sim.scheduler.task_info("wf", "due")
    assert (info.state, info.error_type, info.deadline_missed) == (S.FAILED, "DeadlineMissed", True)
    assert info.finished_s == START_S + 5.0  # failed at its deadline, not at the end of the run
    assert sim.scheduler.task_info("wf", "after").state is S.SKIPPED
    assert len(sim.ledger.agents_stopped) == 1  # the agent still running it was stopped


def test_a_task_done_before_its_deadline_misses_nothing(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=1.0)
    sim.submit(spec.workflow(spec.task("due", deadline=_at(5.0), on_deadline_miss="fail")))
    sim.run()
    info = sim.scheduler.task_info("wf", "due")
    assert (info.state, info.deadline_missed) == (S.SUCCEEDED, False)
    assert sim.scheduler.workflow_status("wf").deadline_misses == 0


def test_on_deadline_miss_needs_a_deadline(spec: Any) -> None:
    with pytest.raises(ValueError, match="on_deadline_miss needs a deadline"):
        spec.task("x", on_deadline_miss="fail")
