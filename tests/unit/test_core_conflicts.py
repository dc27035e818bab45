"""Resource conflicts: writers alone, readers together, all locks or none, found at validation."""

from __future__ import annotations

import itertools
from typing import Any

from orchestrator.core import (
    TaskState,
    WorkflowCancelRequested,
    WorkflowPauseRequested,
    WorkflowResumeRequested,
    WorkflowState,
)
from orchestrator.core.conflicts import Conflict, find_conflicts
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.validation import check_structure

S = TaskState


def _spans(sim: Any, task_id: str) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = sim.ledger.effect_times[("wf", task_id)]
    return spans


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)


def _four_agents(spec: Any, *tasks: Any) -> Any:
    return spec.workflow(*tasks, agents=[spec.agent(replicas=4)])


def test_two_writers_of_one_resource_never_run_at_once(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=1.0)
    sim.submit(
        _four_agents(
            spec,
            spec.task("w1", writes=("db.orders",)),
            spec.task("w2", writes=("db.orders",)),
            spec.task("free"),
        )
    )
    sim.run()
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    assert not _overlap(_spans(sim, "w1"), _spans(sim, "w2"))
    assert _overlap(_spans(sim, "w1"), _spans(sim, "free"))  # others are not held up


def test_readers_share_and_a_writer_waits_for_them(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=1.0)
    sim.submit(
        _four_agents(
            spec,
            spec.task("r1", reads=("report.csv",)),
            spec.task("r2", reads=("report.csv",)),
            spec.task("w", writes=("report.csv",), priority="low"),
        )
    )
    sim.run()
    assert _overlap(_spans(sim, "r1"), _spans(sim, "r2"))
    assert not _overlap(_spans(sim, "w"), _spans(sim, "r1") + _spans(sim, "r2"))


def test_all_locks_or_none_so_crossed_needs_never_deadlock(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=1.0)
    sim.submit(
        _four_agents(
            spec,
            spec.task("both", writes=("x", "y")),
            spec.task("only-y", writes=("y",), priority="high"),
            spec.task("only-x", writes=("x",), priority="high"),
        )
    )
    sim.run()
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    for other in ("only-x", "only-y"):
        assert not _overlap(_spans(sim, "both"), _spans(sim, other))


def test_a_task_waiting_for_a_lock_can_be_cancelled(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=1.0)
    sim.submit(_four_agents(spec, spec.task("w1", writes=("f",)), spec.task("w2", writes=("f",))))
    sim.run(until_s=sim.clock.now_s() + 0.5)
    sim.send(WorkflowCancelRequested(workflow_id="wf"))
    sim.run()
    assert len(sim.ledger.attempts) == 1
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.CANCELLED


def test_an_attempt_given_up_keeps_its_lock_until_its_agent_is_done(
    spec: Any, make_sim: Any
) -> None:
    # Given w1 running with the lock, w2 waiting for it
    sim = make_sim(duration_s=2.0)
    sim.submit(_four_agents(spec, spec.task("w1", writes=("f",)), spec.task("w2", writes=("f",))))
    sim.run(until_s=sim.clock.now_s() + 0.5)
    # When the workflow is paused giving up running attempts, then resumed at once
    sim.send(WorkflowPauseRequested(workflow_id="wf", stop_running=True))
    sim.send(WorkflowResumeRequested(workflow_id="wf"))
    sim.run()
    # Then no two attempts touching "f" ever overlapped, the given-up one included
    spans = sorted(_spans(sim, "w1") + _spans(sim, "w2"))
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED


def test_validation_lists_the_conflicts_the_graph_does_not_order(spec: Any) -> None:
    workflow = spec.workflow(
        spec.task("load", writes=("db",)),
        spec.task("report", reads=("db",), depends_on=["load"]),  # ordered: no conflict
        spec.task("backup", reads=("db",)),
        spec.task("audit", reads=("db",)),  # read/read: no conflict
        spec.task("migrate", writes=("db",)),
    )
    packed = PackedWorkflow.pack(workflow)
    structure, problems = check_structure(packed)
    assert problems == []
    assert find_conflicts(packed, structure.graph) == [
        Conflict("load", "backup", "db", "read/write"),
        Conflict("load", "audit", "db", "read/write"),
        Conflict("load", "migrate", "db", "write/write"),
        Conflict("report", "migrate", "db", "read/write"),
        Conflict("backup", "migrate", "db", "read/write"),
        Conflict("audit", "migrate", "db", "read/write"),
    ]
