"""Lost results are computed again (lineage), bounded, and the workflow continues.

An attempt that cannot fetch an upstream result (lost with its node or owner) reports it
in ``lost_inputs``; the task that produced it goes back to PENDING and runs again, the
tasks that were queued for it wait for it again, and the attempt is not charged.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from orchestrator.core import (
    AttemptOutcome,
    AttemptsFinished,
    RetryPolicy,
    TaskGraph,
    TaskState,
    WorkflowState,
)

S = TaskState


def input_lost(order: Any, *lost: str, at_s: float) -> AttemptsFinished:
    return AttemptsFinished(
        outcomes=(
            AttemptOutcome(
                order.attempt_id,
                False,
                at_s,
                at_s,
                error_type="InputLost",
                error_message="lost",
                lost_inputs=lost,
            ),
        )
    )


def test_a_lost_result_is_computed_again_then_its_dependent_runs(driver: Any, spec: Any) -> None:
    # Given a -> b, a done, b running
    commands = driver.submit(spec.workflow(spec.task("a"), spec.task("b", depends_on=["a"])))
    commands = driver.finish(*commands.orders)
    [b_order] = commands.orders
    assert b_order.task_id == "b"
    # When b cannot fetch a's result
    commands = driver.send(input_lost(b_order, "a", at_s=driver.clock.now_s()))
    # Then a is computed again (published: its result is void) and b waits for it
    assert commands.states("a") == [S.PENDING]
    assert "its result was lost" in commands.task_events[0].message
    assert commands.states("b") == [S.PENDING]
    assert [(o.task_id, o.attempt) for o in commands.orders] == [("a", 2)]
    commands = driver.finish(*commands.orders)
    assert commands.states("a") == [S.SUCCEEDED]
    assert [(o.task_id, o.attempt) for o in commands.orders] == [("b", 2)]
    commands = driver.finish(*commands.orders)
    # And the workflow ends well: nothing was charged as a failure
    assert commands.workflow_events[0].state is WorkflowState.SUCCEEDED
    for name in "ab":
        info = driver.scheduler.task_info("wf", name)
        assert (info.state, info.attempts, info.error_type) == (S.SUCCEEDED, 2, None)
    assert driver.scheduler.workflow_status("wf").counts == {S.SUCCEEDED: 2}


def test_tasks_queued_for_a_lost_result_wait_for_it_again(driver: Any, spec: Any) -> None:
    # Given a -> b and a -> c on one agent: b runs, c waits in the queue
    workflow = spec.workflow(
        spec.task("a"),
        spec.task("b", depends_on=["a"], priority="high"),
        spec.task("c", depends_on=["a"]),
        agents=[spec.agent("worker", replicas=1)],
    )
    commands = driver.submit(workflow)
    commands = driver.finish(*commands.orders)
    [b_order] = commands.orders
    assert driver.state("c") is S.READY
    # When b finds a's result lost
    commands = driver.send(input_lost(b_order, "a", at_s=driver.clock.now_s()))
    # Then c leaves the queue and waits too, and only a is dispatched
    assert commands.states("c") == [S.PENDING]
    assert commands.dispatched_ids == ["a"]
    commands = driver.finish(*commands.orders)
    assert sorted(commands.dispatched_ids) == ["b"]  # one agent: b first (high), then c
    commands = driver.finish(*commands.orders)
    commands = driver.finish(*commands.orders)
    assert commands.workflow_events[0].state is WorkflowState.SUCCEEDED


def test_a_result_lost_too_often_fails_the_task_that_needs_it(driver: Any, spec: Any) -> None:
    # Given a result that may be computed again once
    retry = RetryPolicy(max_agent_losses=1)
    commands = driver.submit(
        spec.workflow(spec.task("a", retry=retry), spec.task("b", depends_on=["a"], retry=retry))
    )
    commands = driver.finish(*commands.orders)
    for _ in range(2):
        [b_order] = commands.orders
        commands = driver.send(input_lost(b_order, "a", at_s=driver.clock.now_s()))
        if commands.orders and commands.orders[0].task_id == "a":
            commands = driver.finish(*commands.orders)
    # Then b fails, saying its input was lost too often
    info = driver.scheduler.task_info("wf", "b")
    assert (info.state, info.error_type) == (S.FAILED, "InputLost")
    assert "'a'" in (info.error_message or "")
    assert driver.scheduler.workflow_status("wf").state is WorkflowState.FAILED


def test_random_result_losses_never_lose_a_task(spec: Any, make_sim: Any) -> None:
    # Given a 300-task random DAG where 5% of upstream fetches find the result lost
    rng = random.Random(7)
    retry = RetryPolicy(max_agent_losses=50)
    tasks = []
    for index in range(300):
        window = range(max(0, index - 20), index)
        deps = [f"t{j}" for j in rng.sample(window, min(len(window), rng.choice([0, 1, 2, 3])))]
        tasks.append(spec.task(f"t{index}", depends_on=deps, retry=retry))
    sim = make_sim(rng=rng, result_loss_rate=0.05)
    sim.submit(spec.workflow(*tasks, agents=[spec.agent("worker", replicas=4)]))
    # When it runs to the end
    sim.run()
    # Then every task succeeded, no dependency ran before its (current) result existed,
    # and each task recorded its result once more per time it was lost
    assert sim.ledger.violations == []
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    lost_counts: Counter[str] = Counter()
    for _, _, lost in sim.ledger.input_losses:
        lost_counts.update(lost)
    recomputed = Counter(
        e.task_id
        for e in sim.ledger.task_events
        if e.state is S.PENDING and "its result was lost" in e.message
    )
    assert len(sim.ledger.input_losses) >= 10  # the faults really happened
    for index in range(300):
        name = f"t{index}"
        assert sim.ledger.results[("wf", name)] == 1 + recomputed[name]
        assert recomputed[name] <= lost_counts[name]


def test_graph_undo_and_hold() -> None:
    graph = TaskGraph()
    graph.add("a")
    graph.add("b", ["a"])
    graph.add("c", ["a", "x"])
    graph.add("x")
    graph.prepare()
    assert sorted(graph.ready()) == ["a", "x"]
    graph.mark_done("a")
    assert graph.ready() == ["b"]
    # a's result is lost: a runs again, c (still waiting for x) waits for a too
    graph.undo("a")
    assert graph.ready() == ["a"]
    graph.hold("b")  # b was ready: it waits for a again
    assert graph.ready() == []
    graph.mark_done("x")
    assert graph.ready() == []  # c still waits for a
    graph.mark_done("a")
    assert sorted(graph.ready()) == ["b", "c"]


def test_graph_undo_and_hold_refuse_wrong_states() -> None:
    graph = TaskGraph()
    graph.add("a")
    graph.add("b", ["a"])
    graph.prepare()
    with pytest.raises(ValueError, match="cannot undo 'a'"):
        graph.undo("a")  # not done
    with pytest.raises(ValueError, match="cannot hold 'b'"):
        graph.hold("b")  # still waiting
    graph.ready()
    graph.mark_done("a")
    with pytest.raises(ValueError, match="cannot hold 'a'"):
        graph.hold("a")  # done
