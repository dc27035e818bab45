"""Checkpoint entries: a workflow exported midway comes back where it was, in a new scheduler."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.core import (
    DeadLettersRequeueRequested,
    RetryPolicy,
    TaskState,
    WorkflowPauseRequested,
    WorkflowReleaseRequested,
    WorkflowRestored,
    WorkflowResumeRequested,
    WorkflowState,
)
from orchestrator.core.checkpoint_state import merge
from orchestrator.core.packed import PackedWorkflow

S = TaskState


def _entry(sim: Any, task_ids: Any = None) -> dict[str, Any]:
    """The workflow's entry as a checkpoint stores it (through JSON)."""
    entry: dict[str, Any] = json.loads(json.dumps(sim.scheduler.checkpoint_entry("wf", task_ids)))
    return entry


def _restore(make_sim: Any, workflow: Any, entry: dict[str, Any], **sim_args: Any) -> Any:
    sim = make_sim(**sim_args)
    sim.send(WorkflowRestored(workflow=PackedWorkflow.pack(workflow), progress=entry))
    return sim


def _diamondish(spec: Any) -> Any:
    """Twelve roots, each with a child, and a join: 25 tasks on two agents."""
    roots = [spec.task(f"r{i}") for i in range(12)]
    kids = [spec.task(f"k{i}", depends_on=[f"r{i}"]) for i in range(12)]
    join = spec.task("join", depends_on=[k.id for k in kids])
    return spec.workflow(*roots, *kids, join, agents=[spec.agent(replicas=2)])


def test_a_restored_workflow_finishes_without_running_finished_tasks_again(
    spec: Any, make_sim: Any
) -> None:
    # Given a workflow exported midway, with tasks succeeded, running and waiting
    workflow = _diamondish(spec)
    before = make_sim(duration_s=0.1)
    before.submit(workflow)
    before.run(until_s=before.clock.now_s() + 0.55)
    infos = {i.task_id: i for i in before.scheduler.task_infos("wf")}
    succeeded = {t for t, i in infos.items() if i.state is S.SUCCEEDED}
    running = {t for t, i in infos.items() if i.state is S.RUNNING}
    assert succeeded and running
    entry = _entry(before)
    # When a new scheduler restores it and runs to the end
    after = _restore(make_sim, workflow, entry, duration_s=0.1)
    restored = {i.task_id: i for i in after.scheduler.task_infos("wf")}
    assert {t for t, i in restored.items() if i.state is S.SUCCEEDED} == succeeded
    after.run()
    # Then it succeeds; no succeeded task ran again; the running ones ran once more,
    # charged one agent loss each
    assert after.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    for task_id in succeeded:
        assert after.ledger.attempts_of("wf", task_id) == []
    for task_id in running:
        assert len(after.ledger.attempts_of("wf", task_id)) == 1
    assert after.scheduler.workflow_status("wf").count(S.SUCCEEDED) == 25
    assert sum(after.ledger.results.values()) == 25 - len(succeeded)
    assert after.scheduler.summary("wf").wall_s >= 0.55  # measured from the first submit


def test_running_attempts_lost_with_the_supervisor_are_bounded_by_max_agent_losses(
    spec: Any, make_sim: Any
) -> None:
    retry = RetryPolicy(max_agent_losses=0)
    workflow = spec.workflow(spec.task("a", retry=retry), spec.task("b", depends_on=["a"]))
    before = make_sim(duration_s=1.0)
    before.submit(workflow)
    before.run(until_s=before.clock.now_s() + 0.5)
    assert before.scheduler.task_info("wf", "a").state is S.RUNNING
    after = _restore(make_sim, workflow, _entry(before))
    after.run()
    info = after.scheduler.task_info("wf", "a")
    assert (info.state, info.error_type) == (S.FAILED, "AgentLost")
    assert "lost with the supervisor" in (info.error_message or "")
    assert after.scheduler.task_info("wf", "b").state is S.SKIPPED
    assert after.scheduler.workflow_status("wf").state is WorkflowState.FAILED


def test_failures_dead_letters_and_skips_come_back_and_can_be_requeued(
    spec: Any, make_sim: Any, make_behaviour: Any
) -> None:
    # Given a workflow whose task a failed for good (b skipped) and d succeeded
    failing = {"a"}

    def behaviour(order: Any) -> Any:
        return make_behaviour(0.01, ok=order.task_id not in failing)

    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.0)
    workflow = spec.workflow(
        spec.task("a", retry=retry), spec.task("b", depends_on=["a"]), spec.task("d")
    )
    before = make_sim(behaviour=behaviour)
    before.submit(workflow)
    before.run()
    finished_s = before.scheduler.workflow_status("wf").finished_s
    # When it is restored
    after = _restore(make_sim, workflow, _entry(before))
    # Then it is finished as it was, with its dead letter, errors and attempts
    status = after.scheduler.workflow_status("wf")
    assert (status.state, status.finished_s) == (WorkflowState.FAILED, finished_s)
    a = after.scheduler.task_info("wf", "a")
    assert (a.state, a.attempts, a.error_type) == (S.FAILED, 2, "RuntimeError")
    assert after.scheduler.task_info("wf", "b").state is S.SKIPPED
    [letter] = after.scheduler.dead_letters("wf")
    assert letter.task_id == "a"
    # And re-queuing the dead letter runs a and b, not d
    after.send(DeadLettersRequeueRequested(workflow_id="wf"))
    after.run()
    assert after.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    assert after.ledger.attempts_of("wf", "d") == []
    # And a restored finished workflow can be released
    after.send(WorkflowReleaseRequested(workflow_id="wf"))
    assert after.scheduler.workflow_ids() == []


def test_a_paused_workflow_stays_paused_after_a_restore(spec: Any, make_sim: Any) -> None:
    workflow = _diamondish(spec)
    before = make_sim(duration_s=0.1)
    before.submit(workflow)
    before.run(until_s=before.clock.now_s() + 0.25)
    before.send(WorkflowPauseRequested(workflow_id="wf"))
    before.run(until_s=before.clock.now_s() + 1.0)
    after = _restore(make_sim, workflow, _entry(before))
    after.run(until_s=after.clock.now_s() + 5.0)
    assert after.scheduler.workflow_status("wf").state is WorkflowState.PAUSED
    assert after.ledger.attempts == []
    after.send(WorkflowResumeRequested(workflow_id="wf"))
    after.run()
    assert after.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED


def test_a_partial_entry_merged_over_an_older_one_equals_a_full_one(
    spec: Any, make_sim: Any
) -> None:
    # Given a full entry at one time, and later only the tasks that changed since then
    workflow = _diamondish(spec)
    sim = make_sim(duration_s=0.1)
    sim.submit(workflow)
    sim.run(until_s=sim.clock.now_s() + 0.25)
    older = _entry(sim)
    states = {i.task_id: (i.state, i.attempts) for i in sim.scheduler.task_infos("wf")}
    sim.run(until_s=sim.clock.now_s() + 0.4)
    changed = [
        i.task_id
        for i in sim.scheduler.task_infos("wf")
        if (i.state, i.attempts) != states[i.task_id]
    ]
    assert changed
    partial = _entry(sim, changed)
    assert len(partial["tasks"]) == len(changed) < 25
    # Then merging the two equals the full entry now
    assert merge(older, partial) == _entry(sim)


@pytest.mark.parametrize(
    ("tasks", "error"),
    [
        ({"r0": ["succeeded", 1]}, "2 fields in its entry"),
        ({"r0": ["exploded", *[0] * 14]}, "exploded"),
    ],
)
def test_a_malformed_entry_is_refused(
    spec: Any, make_sim: Any, tasks: dict[str, Any], error: str
) -> None:
    entry = {"id": "wf", "name": "wf", "submitted_s": 1000.0, "state": "running", "tasks": tasks}
    with pytest.raises(ValueError, match=error):
        _restore(make_sim, _diamondish(spec), entry)


def test_succeeded_tasks_whose_results_were_not_kept_run_again_only_when_needed(
    spec: Any, make_sim: Any
) -> None:
    # Given a -> b -> c and x (alone), with a, b and x succeeded and c waiting
    workflow = spec.workflow(*spec.chain("a", "b", "c"), spec.task("x"))
    before = make_sim(duration_s=1.0)
    before.submit(workflow)
    before.run(until_s=before.clock.now_s() + 3.5)
    states = {i.task_id: i.state for i in before.scheduler.task_infos("wf")}
    assert states["a"] is states["b"] is states["x"] is S.SUCCEEDED
    assert states["c"] is not S.SUCCEEDED
    # When it is restored with no result kept for a, b and x
    after = make_sim(duration_s=1.0)
    after.send(
        WorkflowRestored(
            workflow=PackedWorkflow.pack(workflow),
            progress=_entry(before),
            missing_results=("a", "b", "x"),
        )
    )
    after.run()
    # Then c's chain runs again: c needs b, and b, running again, needs a
    assert after.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    ran = {o.task_id for _, _, o in after.ledger.attempts}
    assert ran == {"a", "b", "c"}  # b needs a again; x is needed by nobody
    assert after.scheduler.task_info("wf", "x").state is S.SUCCEEDED
