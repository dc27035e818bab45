"""Compensation: a failed workflow undoes its completed tasks, latest first."""

from __future__ import annotations

from typing import Any

from orchestrator.core import OutputOf, TaskState, WorkflowCancelRequested, WorkflowState

S = TaskState
UNDO = "app.undo:refund"


def test_a_failed_workflow_compensates_in_reverse_completion_order(driver: Any, spec: Any) -> None:
    # Given three tasks that can be undone, completed in the order charge, book, email,
    # and a fourth that fails
    workflow = spec.workflow(
        spec.task("charge", compensate=UNDO),
        spec.task("book", compensate=UNDO, depends_on=["charge"]),
        spec.task("email", compensate=UNDO, depends_on=["book"]),
        spec.task("ship", depends_on=["email"]),
        spec.task("plain"),
        agents=[spec.agent("worker", replicas=1)],
    )
    commands = driver.submit(workflow)
    done_order = []
    while commands.orders:
        [order] = commands.orders[:1]
        fails = order.task_id == "ship"
        done_order.append(order.task_id)
        commands = driver.finish(*commands.orders, ok=not fails)
        if fails:
            break
    # When the workflow has failed, its compensations run one at a time
    undone = []
    for _ in range(10):
        orders = commands.orders
        if not orders:
            break
        [order] = orders
        assert order.function == UNDO
        [placeholder] = order.args
        assert placeholder == OutputOf(output_of=order.inputs[0])
        undone.append(order.inputs[0])
        commands = driver.finish(order)
    # Then in reverse order of completion, each with its task's result, and the workflow
    # then ends failed
    completed = [name for name in done_order if name in ("charge", "book", "email")]
    assert undone == list(reversed(completed))
    assert driver.scheduler.workflow_status("wf").state is WorkflowState.FAILED
    assert driver.state("charge:compensate") is S.SUCCEEDED
    assert commands.workflow_events[0].state is WorkflowState.FAILED


def test_a_failed_compensation_does_not_stop_the_next(driver: Any, spec: Any) -> None:
    workflow = spec.workflow(
        spec.task("first", compensate=UNDO),
        spec.task("second", compensate=UNDO, depends_on=["first"]),
        spec.task("boom", depends_on=["second"]),
    )
    commands = driver.submit(workflow)
    commands = driver.finish(*commands.orders)  # first
    commands = driver.finish(*commands.orders)  # second
    commands = driver.finish(*commands.orders, ok=False)  # boom
    [undo_second] = commands.orders
    assert undo_second.task_id == "second:compensate"
    commands = driver.finish(undo_second, ok=False)
    [undo_first] = commands.orders
    assert undo_first.task_id == "first:compensate"
    commands = driver.finish(undo_first)
    assert driver.state("second:compensate") is S.FAILED
    assert driver.state("first:compensate") is S.SUCCEEDED
    assert commands.workflow_events[0].state is WorkflowState.FAILED


def test_nothing_is_compensated_when_the_workflow_succeeds_or_is_cancelled(
    driver: Any, spec: Any
) -> None:
    commands = driver.submit(spec.workflow(spec.task("a", compensate=UNDO)))
    commands = driver.finish(*commands.orders)
    assert commands.workflow_events[0].state is WorkflowState.SUCCEEDED
    assert commands.orders == []

    other = spec.workflow(
        spec.task("a", compensate=UNDO), spec.task("b", depends_on=["a"]), workflow_id="wf2"
    )
    commands = driver.submit(other)
    commands = driver.finish(*commands.orders)
    commands = driver.send(WorkflowCancelRequested(workflow_id="wf2"))
    assert commands.orders == []
    assert driver.scheduler.workflow_status("wf2").state is WorkflowState.CANCELLED
