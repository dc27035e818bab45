"""Pause and resume: a paused workflow starts nothing; resuming goes on without re-runs."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import (
    TaskState,
    WorkflowCancelRequested,
    WorkflowPauseRequested,
    WorkflowResumeRequested,
    WorkflowState,
)

S = TaskState


def _wide(spec: Any, n: int = 40) -> Any:
    """``n`` independent tasks then one that joins them, on two agents of one pool."""
    tasks = [spec.task(f"t{i}") for i in range(n)]
    join = spec.task("join", depends_on=[t.id for t in tasks])
    return spec.workflow(*tasks, join, agents=[spec.agent(replicas=2)])


def test_a_paused_workflow_starts_nothing_and_resume_finishes_it_without_reruns(
    spec: Any, make_sim: Any
) -> None:
    # Given a wide workflow running midway
    sim = make_sim(duration_s=0.01)
    sim.submit(_wide(spec))
    sim.run(until_s=sim.clock.now_s() + 0.1)
    done_before = sim.scheduler.workflow_status("wf").count(S.SUCCEEDED)
    assert 0 < done_before < 40
    # When it is paused (running attempts allowed to finish)
    commands = sim.send(WorkflowPauseRequested(workflow_id="wf"))
    assert [e.state for e in commands.workflow_events] == [WorkflowState.PAUSED]
    dispatched_at_pause = len(sim.ledger.attempts)
    sim.run(until_s=sim.clock.now_s() + 5.0)
    # Then nothing new starts: only attempts already sent ended; the workflow stays paused
    status = sim.scheduler.workflow_status("wf")
    assert status.state is WorkflowState.PAUSED
    assert len(sim.ledger.attempts) == dispatched_at_pause
    assert status.count(S.RUNNING) == 0
    assert status.count(S.READY) == 40 - status.count(S.SUCCEEDED)
    # When it is resumed, Then it ends with every task run exactly once
    resumed = sim.send(WorkflowResumeRequested(workflow_id="wf"))
    assert [e.state for e in resumed.workflow_events] == [WorkflowState.RUNNING]
    sim.run()
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    assert len(sim.ledger.attempts_of("wf", "join")) == 1
    assert all(len(sim.ledger.attempts_of("wf", f"t{i}")) == 1 for i in range(40))
    assert max(sim.ledger.results.values()) == 1


def test_pausing_with_stop_running_gives_up_running_attempts_without_charging_them(
    spec: Any, make_sim: Any
) -> None:
    sim = make_sim(duration_s=1.0)
    sim.submit(_wide(spec, 4))
    sim.run(until_s=sim.clock.now_s() + 0.5)
    running = [i.task_id for i in sim.scheduler.task_infos("wf") if i.state is S.RUNNING]
    assert running
    sim.send(WorkflowPauseRequested(workflow_id="wf", stop_running=True))
    status = sim.scheduler.workflow_status("wf")
    assert status.count(S.RUNNING) == 0
    sim.run(until_s=sim.clock.now_s() + 5.0)
    # The given-up attempts ended on their agents, but their outcomes did not count
    assert sim.scheduler.workflow_status("wf").count(S.SUCCEEDED) == 0
    sim.send(WorkflowResumeRequested(workflow_id="wf"))
    sim.run()
    infos = {i.task_id: i for i in sim.scheduler.task_infos("wf")}
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    for task_id in running:
        assert infos[task_id].attempts == 2  # one given up, one that counted
        assert infos[task_id].error_type is None


def test_tasks_that_become_ready_while_paused_wait_too(spec: Any, make_sim: Any) -> None:
    # Given a chain a -> b whose a runs when the pause comes
    sim = make_sim(duration_s=1.0)
    sim.submit(spec.workflow(*spec.chain("a", "b")))
    sim.run(until_s=sim.clock.now_s() + 0.5)
    sim.send(WorkflowPauseRequested(workflow_id="wf"))
    # When a finishes while paused, Then b is ready but does not start
    sim.run(until_s=sim.clock.now_s() + 5.0)
    assert sim.scheduler.task_info("wf", "a").state is S.SUCCEEDED
    assert sim.scheduler.task_info("wf", "b").state is S.READY
    assert sim.ledger.attempts_of("wf", "b") == []
    sim.send(WorkflowResumeRequested(workflow_id="wf"))
    sim.run()
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED


def test_a_paused_workflow_can_be_cancelled(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=0.01)
    sim.submit(_wide(spec, 10))
    sim.send(WorkflowPauseRequested(workflow_id="wf"))
    sim.send(WorkflowCancelRequested(workflow_id="wf"))
    sim.run()
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.CANCELLED
    # Resuming a cancelled workflow does nothing
    assert sim.send(WorkflowResumeRequested(workflow_id="wf")).workflow_events == []


def test_pausing_a_finished_or_unknown_workflow_is_refused(spec: Any, make_sim: Any) -> None:
    sim = make_sim()
    sim.submit(spec.workflow(spec.task("a")))
    sim.run()
    with pytest.raises(ValueError, match="has finished"):
        sim.send(WorkflowPauseRequested(workflow_id="wf"))
    with pytest.raises(KeyError, match="nope"):
        sim.send(WorkflowPauseRequested(workflow_id="nope"))
    with pytest.raises(KeyError, match="nope"):
        sim.send(WorkflowResumeRequested(workflow_id="nope"))


def test_pausing_twice_is_one_pause(spec: Any, make_sim: Any) -> None:
    sim = make_sim()
    sim.submit(_wide(spec, 6))
    first = sim.send(WorkflowPauseRequested(workflow_id="wf"))
    second = sim.send(WorkflowPauseRequested(workflow_id="wf"))
    assert len(first.workflow_events) == 1
    assert second.workflow_events == []
