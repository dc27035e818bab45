"""Cache hits at admission: named tasks succeed without running; the rest goes on."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import TaskState, WorkflowState, WorkflowSubmitted
from orchestrator.core.errors import WorkflowRejectedError

S = TaskState


def test_cached_tasks_succeed_at_admission_and_their_dependents_run(
    spec: Any, make_sim: Any
) -> None:
    # Given a -> b -> c with a and b found in the cache
    sim = make_sim()
    commands = sim.send(
        WorkflowSubmitted(workflow=spec.workflow(*spec.chain("a", "b", "c")), cached=("a", "b"))
    )
    # Then they are published as succeeded from the cache, and only c runs
    cached = [e for e in commands.task_events if e.message == "from the cache"]
    assert [(e.task_id, e.state) for e in cached] == [("a", S.SUCCEEDED), ("b", S.SUCCEEDED)]
    sim.run()
    assert [o.task_id for _, _, o in sim.ledger.attempts] == ["c"]
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    assert sim.scheduler.task_info("wf", "a").attempts == 0


def test_a_cached_task_whose_upstream_is_not_cached_still_counts_as_done(
    spec: Any, make_sim: Any
) -> None:
    sim = make_sim()
    sim.send(WorkflowSubmitted(workflow=spec.workflow(*spec.chain("a", "b", "c")), cached=("b",)))
    sim.run()
    assert sorted(o.task_id for _, _, o in sim.ledger.attempts) == ["a", "c"]
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED


def test_a_workflow_entirely_cached_ends_at_admission(spec: Any, make_sim: Any) -> None:
    sim = make_sim()
    commands = sim.send(
        WorkflowSubmitted(workflow=spec.workflow(spec.task("a"), spec.task("b")), cached=("a", "b"))
    )
    assert [e.state for e in commands.workflow_events] == [WorkflowState.SUCCEEDED]
    assert commands.dispatches == [] and commands.started == []


def test_naming_an_unknown_task_as_cached_refuses_the_workflow_and_keeps_nothing(
    spec: Any, make_sim: Any
) -> None:
    sim = make_sim()
    with pytest.raises(WorkflowRejectedError, match="no such tasks"):
        sim.send(WorkflowSubmitted(workflow=spec.workflow(spec.task("a")), cached=("zz",)))
    assert sim.scheduler.workflow_ids() == []
