"""Recurring workflows on the fake clock: cron and intervals, overlaps, missed runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.core import WorkflowState
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.events import (
    MessagePublished,
    ScheduleAdded,
    ScheduleRemoved,
    ScheduleRestored,
)
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.schedules import ScheduleSpec
from orchestrator.core.specs import EVENT_PAYLOAD

#: A fake clock at a round minute (2026-11-29T00:00:00Z), so cron firings are readable.
MIDNIGHT_S = datetime(2026, 11, 29, tzinfo=UTC).timestamp()


def _template(spec: Any, *task_ids: str) -> PackedWorkflow:
    workflow = spec.workflow(*(spec.task(t) for t in task_ids or ("job",)), name="nightly")
    return PackedWorkflow.pack(workflow.model_copy(update={"id": None}))


def _sim(make_sim: Any, clock: Any, duration_s: float = 1.0) -> Any:
    clock.set(MIDNIGHT_S)
    return make_sim(duration_s=duration_s, clock=clock)


def _add(sim: Any, spec: Any, **fields: Any) -> Any:
    schedule = ScheduleSpec(name="nightly", **fields)
    return sim.send(ScheduleAdded(schedule=schedule, workflow=_template(spec)))


def _runs(sim: Any) -> list[str]:
    return [run_id for _, run_id in sim.ledger.scheduled_runs]


def test_an_interval_schedule_starts_a_run_every_interval(
    spec: Any, make_sim: Any, clock: Any
) -> None:
    sim = _sim(make_sim, clock)
    added = _add(sim, spec, every_s=60.0)
    assert [e.event for e in added.of(type(sim.ledger.schedule_events[0]))] == ["added"]
    sim.run(until_s=MIDNIGHT_S + 150.0)
    assert _runs(sim) == [
        "nightly@20261129T000000Z",
        "nightly@20261129T000100Z",
        "nightly@20261129T000200Z",
    ]
    for run_id in _runs(sim):
        assert sim.scheduler.workflow_status(run_id).state is WorkflowState.SUCCEEDED
    [info] = sim.scheduler.schedules()
    assert (info.runs, info.next_s, info.last_run_id) == (
        3,
        MIDNIGHT_S + 180.0,
        "nightly@20261129T000200Z",
    )


def test_a_cron_schedule_fires_at_its_times_in_its_time_zone(
    spec: Any, make_sim: Any, clock: Any
) -> None:
    sim = _sim(make_sim, clock)
    # 01:30 in Paris is 00:30 UTC in winter
    _add(sim, spec, cron="30 1 * * *", timezone="Europe/Paris")
    sim.run(until_s=MIDNIGHT_S + 3600.0)
    assert _runs(sim) == ["nightly@20261129T003000Z"]


def test_without_overlap_a_firing_is_skipped_while_the_previous_run_runs(
    spec: Any, make_sim: Any, clock: Any
) -> None:
    sim = _sim(make_sim, clock, duration_s=25.0)  # each run takes 25 s; one every 10 s
    _add(sim, spec, every_s=10.0)
    sim.run(until_s=MIDNIGHT_S + 55.0)
    assert _runs(sim) == ["nightly@20261129T000000Z", "nightly@20261129T000030Z"]
    [info] = sim.scheduler.schedules()
    assert info.skipped_overlaps == 4  # at 10, 20, 40 and 50
    skipped = [e for e in sim.ledger.schedule_events if e.event == "skipped"]
    assert "still runs" in skipped[0].message


def test_with_overlap_runs_run_side_by_side(spec: Any, make_sim: Any, clock: Any) -> None:
    sim = _sim(make_sim, clock, duration_s=25.0)
    _add(sim, spec, every_s=10.0, overlap=True)
    sim.run(until_s=MIDNIGHT_S + 25.0)
    assert len(_runs(sim)) == 3


@pytest.mark.parametrize(
    ("missed", "expected_runs"),
    [("skip", []), ("run_once", ["nightly@20261129T000400Z"]), ("run_all", 4)],
)
def test_runs_missed_while_down_follow_the_missed_policy(
    spec: Any, make_sim: Any, clock: Any, missed: str, expected_runs: Any
) -> None:
    # Given a schedule saved at 00:00:30 (next firing 00:01), restored at 00:04:30
    before = _sim(make_sim, clock)
    _add(before, spec, every_s=60.0, missed=missed)
    before.run(until_s=MIDNIGHT_S + 30.0)
    [(state, template)] = before.scheduler.schedule_entries().values()
    state = json.loads(json.dumps(state))
    schedule = ScheduleSpec.model_validate(state["spec"])
    after = make_sim(duration_s=1.0)
    after.clock.set(MIDNIGHT_S + 270.0)
    after.send(ScheduleRestored(schedule=schedule, workflow=template, state=state))
    after.run(until_s=MIDNIGHT_S + 275.0)
    runs = _runs(after)
    if isinstance(expected_runs, int):
        assert len(runs) == expected_runs
        assert runs[0] == "nightly@20261129T000100Z"
    else:
        assert runs == expected_runs
    [info] = after.scheduler.schedules()
    assert info.missed_runs == 4
    assert info.next_s == MIDNIGHT_S + 300.0


def test_a_removed_schedule_fires_no_more(spec: Any, make_sim: Any, clock: Any) -> None:
    sim = _sim(make_sim, clock)
    _add(sim, spec, every_s=60.0)
    sim.run(until_s=MIDNIGHT_S + 30.0)
    sim.send(ScheduleRemoved(name="nightly"))
    sim.run(until_s=MIDNIGHT_S + 300.0)
    assert len(_runs(sim)) == 1
    assert sim.scheduler.schedules() == []
    with pytest.raises(KeyError, match="nightly"):
        sim.send(ScheduleRemoved(name="nightly"))


def test_a_duplicate_name_or_an_invalid_workflow_is_refused(
    spec: Any, make_sim: Any, clock: Any
) -> None:
    sim = _sim(make_sim, clock)
    _add(sim, spec, every_s=60.0)
    with pytest.raises(ValueError, match="a schedule named 'nightly' exists"):
        _add(sim, spec, every_s=30.0)
    bad = PackedWorkflow.pack(
        spec.workflow(spec.task("a", depends_on=["ghost"])).model_copy(update={"id": None})
    )
    with pytest.raises(WorkflowRejectedError, match="ghost"):
        sim.send(ScheduleAdded(schedule=ScheduleSpec(name="other", every_s=5), workflow=bad))
    assert [info.name for info in sim.scheduler.schedules()] == ["nightly"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cron": "61 * * * *"}, "five-field cron"),
        ({"cron": "* * * *"}, "five-field cron"),
        ({"cron": "0 1 * * *", "every_s": 5.0}, "exactly one of"),
        ({}, "exactly one of"),
        ({"topic": ""}, "at least 1 character"),
        ({"every_s": 0}, "greater than 0"),
        ({"every_s": 5, "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"every_s": 5, "missed": "sometimes"}, "missed"),
        ({"every_s": 5, "start_at": datetime(2030, 1, 1)}, "time zone"),
    ],
)
def test_an_invalid_schedule_is_refused_naming_the_field(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ScheduleSpec(name="s", **fields)


# -- event-triggered workflows ---------------------------------------------------------


def _on_topic(sim: Any, spec: Any, **fields: Any) -> None:
    workflow = spec.workflow(
        spec.task("handle", args=(EVENT_PAYLOAD, {"nested": [EVENT_PAYLOAD]})), name="orders"
    )
    template = PackedWorkflow.pack(workflow.model_copy(update={"id": None}))
    schedule = ScheduleSpec(name="on-order", topic="orders", **fields)
    sim.send(ScheduleAdded(schedule=schedule, workflow=template))


def test_each_message_on_a_topic_starts_a_run_with_its_payload(
    spec: Any, make_sim: Any, clock: Any
) -> None:
    sim = _sim(make_sim, clock)
    _on_topic(sim, spec, overlap=True)
    [info] = sim.scheduler.schedules()
    assert (info.topic, info.next_s) == ("orders", None)
    sim.send(MessagePublished(topic="orders", payload={"id": 7}))
    sim.send(MessagePublished(topic="orders", payload={"id": 8}))
    sim.send(MessagePublished(topic="invoices", payload={"id": 9}))  # nobody listens
    sim.run(until_s=MIDNIGHT_S + 10.0)
    assert _runs(sim) == ["on-order@event-000001", "on-order@event-000002"]
    orders = [o for _, _, o in sim.ledger.attempts]
    assert [o.args for o in orders] == [
        ({"id": 7}, {"nested": [{"id": 7}]}),
        ({"id": 8}, {"nested": [{"id": 8}]}),
    ]


def test_without_overlap_a_message_is_skipped_while_the_last_run_runs(
    spec: Any, make_sim: Any, clock: Any
) -> None:
    sim = _sim(make_sim, clock, duration_s=5.0)
    _on_topic(sim, spec, overlap=False)
    sim.send(MessagePublished(topic="orders", payload=1))
    sim.run(until_s=MIDNIGHT_S + 1.0)
    sim.send(MessagePublished(topic="orders", payload=2))
    sim.run(until_s=MIDNIGHT_S + 10.0)
    assert _runs(sim) == ["on-order@event-000001"]
    assert sim.scheduler.schedules()[0].skipped_overlaps == 1


def test_a_trigger_survives_a_checkpoint_and_fires_no_missed_runs(
    spec: Any, make_sim: Any, clock: Any
) -> None:
    before = _sim(make_sim, clock)
    _on_topic(before, spec)
    before.send(MessagePublished(topic="orders", payload=1))
    [(state, template)] = before.scheduler.schedule_entries().values()
    state = json.loads(json.dumps(state))  # JSON has no infinity: next_s is null
    after = make_sim()
    after.clock.set(MIDNIGHT_S + 3600.0)
    after.send(
        ScheduleRestored(
            schedule=ScheduleSpec.model_validate(state["spec"]), workflow=template, state=state
        )
    )
    after.run(until_s=MIDNIGHT_S + 3610.0)
    assert _runs(after) == []
    after.send(MessagePublished(topic="orders", payload=2))
    after.run(until_s=MIDNIGHT_S + 3620.0)
    assert _runs(after) == ["on-order@event-000002"]


def test_a_topic_and_a_time_rule_together_are_refused() -> None:
    with pytest.raises(ValueError, match="exactly one of 'cron', 'every_s' and 'topic'"):
        ScheduleSpec(name="both", topic="t", every_s=5)
