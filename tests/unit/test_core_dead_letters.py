"""Dead letters: tasks that failed for good are kept, listed, re-queued and purged."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import (
    DeadLettersPurgeRequested,
    DeadLettersRequeueRequested,
    RetryPolicy,
    TaskState,
    WorkflowReleaseRequested,
    WorkflowState,
)

S = TaskState


def _failed_run(spec: Any, make_sim: Any, make_behaviour: Any) -> tuple[Any, set[str]]:
    """Run a -> b -> c beside d, with a failing for good (two attempts); return the sim."""
    failing = {"a"}

    def behaviour(order: Any) -> Any:
        return make_behaviour(0.01, ok=order.task_id not in failing)

    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.0)
    workflow = spec.workflow(
        spec.task("a", retry=retry, args=(1, 2), kwargs={"mode": "fast"}),
        spec.task("b", depends_on=["a"]),
        spec.task("c", depends_on=["b"]),
        spec.task("d"),
    )
    sim = make_sim(behaviour=behaviour)
    sim.submit(workflow)
    sim.run()
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.FAILED
    return sim, failing


def test_a_task_that_fails_for_good_is_a_dead_letter_with_its_arguments_and_error(
    spec: Any, make_sim: Any, make_behaviour: Any
) -> None:
    sim, _ = _failed_run(spec, make_sim, make_behaviour)
    [letter] = sim.scheduler.dead_letters()
    assert (letter.workflow_id, letter.task_id, letter.attempts) == ("wf", "a", 2)
    assert (letter.args, letter.kwargs) == ((1, 2), {"mode": "fast"})
    assert letter.error_type == "RuntimeError"
    assert letter.traceback is not None
    assert sim.scheduler.dead_letters("other") == []


def test_requeued_dead_letters_run_again_with_what_they_skipped(
    spec: Any, make_sim: Any, make_behaviour: Any
) -> None:
    sim, failing = _failed_run(spec, make_sim, make_behaviour)
    info = {i.task_id: i.state for i in sim.scheduler.task_infos("wf")}
    assert (info["b"], info["c"], info["d"]) == (S.SKIPPED, S.SKIPPED, S.SUCCEEDED)
    # When the cause is fixed and the dead letter re-queued
    failing.clear()
    commands = sim.send(DeadLettersRequeueRequested(workflow_id="wf"))
    # Then the workflow runs again, a first, and b and c wait for it
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.RUNNING
    assert [e.state for e in commands.workflow_events] == [WorkflowState.RUNNING]
    assert commands.dispatched_ids == ["a"]
    assert sim.scheduler.dead_letters() == []
    sim.run()
    # And it succeeds this time; d did not run again
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    assert sim.ledger.workflow_events[-1].state is WorkflowState.SUCCEEDED
    assert sim.ledger.results[("wf", "d")] == 1
    assert sim.ledger.results[("wf", "c")] == 1
    a = sim.scheduler.task_info("wf", "a")
    assert (a.state, a.error_type, a.attempts) == (S.SUCCEEDED, None, 3)
    assert sim.ledger.violations == []


def test_a_skipped_task_still_held_up_by_another_failure_stays_skipped(
    driver: Any, spec: Any
) -> None:
    workflow = spec.workflow(
        spec.task("x"),
        spec.task("y"),
        spec.task("z", depends_on=["x", "y"]),
        agents=[spec.agent("worker", replicas=2)],
    )
    commands = driver.submit(workflow)
    driver.finish(*commands.orders, ok=False)  # x and y both fail
    assert driver.state("z") is S.SKIPPED
    commands = driver.send(DeadLettersRequeueRequested(workflow_id="wf", task_ids=("x",)))
    assert commands.dispatched_ids == ["x"]
    assert driver.state("z") is S.SKIPPED  # y is still failed
    driver.finish(*commands.orders)
    assert driver.scheduler.workflow_status("wf").state is WorkflowState.FAILED
    assert [letter.task_id for letter in driver.scheduler.dead_letters()] == ["y"]


def test_requeue_of_something_not_dead_changes_nothing(
    spec: Any, make_sim: Any, make_behaviour: Any
) -> None:
    sim, _ = _failed_run(spec, make_sim, make_behaviour)
    with pytest.raises(KeyError, match="not dead letters"):
        sim.send(DeadLettersRequeueRequested(workflow_id="wf", task_ids=("a", "d")))
    assert [letter.task_id for letter in sim.scheduler.dead_letters()] == ["a"]
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.FAILED
    with pytest.raises(KeyError, match="no workflow"):
        sim.send(DeadLettersRequeueRequested(workflow_id="nope"))


def test_purge_and_release_drop_dead_letters(spec: Any, make_sim: Any, make_behaviour: Any) -> None:
    sim, _ = _failed_run(spec, make_sim, make_behaviour)
    sim.send(DeadLettersPurgeRequested(workflow_id="wf", task_ids=("a",)))
    assert sim.scheduler.dead_letters() == []
    sim.submit(spec.workflow(spec.task("a"), workflow_id="wf2"))  # fails too
    sim.run()
    assert [letter.workflow_id for letter in sim.scheduler.dead_letters()] == ["wf2"]
    sim.send(WorkflowReleaseRequested(workflow_id="wf2"))
    assert sim.scheduler.dead_letters() == []
    assert sim.send(DeadLettersPurgeRequested()) == []
