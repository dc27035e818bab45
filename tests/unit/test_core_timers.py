"""`Timers`: retries and timeouts come due in time order; stale ones never do."""

from __future__ import annotations

import pytest

from orchestrator.core import RetryPolicy, TaskGraph, TaskState
from orchestrator.core.pools import AgentPoolSpec
from orchestrator.core.records import (
    AgentRecord,
    InFlight,
    PoolRecord,
    TaskRecord,
    WorkflowRecord,
    call_record,
    task_record,
)
from orchestrator.core.resources import ResourceSpec
from orchestrator.core.timers import Timers

S = TaskState


def make_task(task_id: str, state: TaskState, attempts: int = 1) -> TaskRecord:
    workflow = WorkflowRecord(name="wf", workflow_id="wf", graph=TaskGraph(), submitted_s=0.0)
    spec = AgentPoolSpec(key="p", agent_class="m:C", resources=ResourceSpec(), max_replicas=1)
    task = task_record(
        workflow=workflow,
        task_id=task_id,
        function=None,
        args=(),
        kwargs={},
        retry=RetryPolicy(),
        timeout_s=5.0,
        pool=PoolRecord(spec=spec, shape=spec.resources.as_vector()),
        inputs=(),
        priority=2,
        deadline_s=0.0,
        rank=0.0,
        estimate_s=None,
    )
    task.state = state
    task.attempts = attempts
    return task


def occupy(in_flight: InFlight, attempt_id: int, task: TaskRecord) -> None:
    """Record ``attempt_id`` of ``task`` as sent in a call of its own."""
    agent = AgentRecord(agent_id="p#1", pool=task.pool, started_s=0.0)
    in_flight.calls[attempt_id] = call_record(
        call_id=attempt_id, agent=agent, attempt_ids=(attempt_id,), open_attempts=1
    )
    in_flight.tasks[attempt_id] = task
    task.attempt_id = attempt_id


# -- retries ----------------------------------------------------------------------------------


def test_retries_come_due_in_time_order_and_not_before() -> None:
    timers = Timers(InFlight())
    late, early = make_task("late", S.RETRY_WAIT), make_task("early", S.RETRY_WAIT)
    timers.add_retry(20.0, late)
    timers.add_retry(10.0, early)
    assert timers.next_due_s() == 10.0
    assert list(timers.due_retries(9.9)) == []
    assert list(timers.due_retries(25.0)) == [early, late]
    assert timers.next_due_s() is None
    assert list(timers.due_retries(99.0)) == []  # each comes due once


@pytest.mark.parametrize(
    ("state", "attempts", "live"),
    [
        (S.RETRY_WAIT, 1, True),
        (S.CANCELLED, 1, False),  # cancelled while it waited
        (S.RUNNING, 2, False),  # already retried (re-queued after a loss, then sent)
        (S.RETRY_WAIT, 2, False),  # waiting for a later retry than this one
    ],
)
def test_a_retry_is_stale_once_its_task_moved_on(
    state: TaskState, attempts: int, live: bool
) -> None:
    timers = Timers(InFlight())
    task = make_task("t", S.RETRY_WAIT, attempts=1)
    timers.add_retry(10.0, task)
    task.state, task.attempts = state, attempts
    assert timers.next_due_s() == (10.0 if live else None)
    assert list(timers.due_retries(10.0)) == ([task] if live else [])


# -- timeouts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "live"),
    [
        ("running", True),
        ("cancelled, still on its agent", True),
        ("cancelled, its outcome arrived", False),
        ("outcome arrived", False),
        ("a later attempt runs", False),
    ],
)
def test_a_timeout_is_live_while_its_attempt_holds_its_agent(case: str, live: bool) -> None:
    in_flight = InFlight()
    timers = Timers(in_flight)
    task = make_task("t", S.RUNNING)
    occupy(in_flight, 1, task)
    timers.add_timeout(5.0, 1, task)
    if case.startswith("cancelled"):
        task.state = S.CANCELLED
        del in_flight.tasks[1]  # the scheduler gave up on the outcome
        if case.endswith("arrived"):
            del in_flight.calls[1]
    elif case == "outcome arrived":
        task.state = S.SUCCEEDED
        del in_flight.tasks[1], in_flight.calls[1]
    elif case == "a later attempt runs":
        del in_flight.tasks[1], in_flight.calls[1]
        occupy(in_flight, 2, task)
    assert timers.next_due_s() == (5.0 if live else None)
    assert list(timers.due_timeouts(5.0)) == ([(1, task)] if live else [])


def test_each_timeout_is_judged_when_reached() -> None:
    # Two attempts time out at once; handling the first ends the second (its agent was
    # stopped), so the second must not come due.
    in_flight = InFlight()
    timers = Timers(in_flight)
    first, second = make_task("a", S.RUNNING), make_task("b", S.RUNNING)
    occupy(in_flight, 1, first)
    occupy(in_flight, 2, second)
    timers.add_timeout(5.0, 1, first)
    timers.add_timeout(5.0, 2, second)
    due = []
    for _, task in timers.due_timeouts(6.0):
        due.append(task.task_id)
        in_flight.tasks.pop(2, None)
        in_flight.calls.pop(2, None)
    assert due == ["a"]


def test_next_due_is_the_earliest_live_timer_of_either_kind() -> None:
    in_flight = InFlight()
    timers = Timers(in_flight)
    stale_retry = make_task("r0", S.RETRY_WAIT)
    timers.add_retry(1.0, stale_retry)
    stale_retry.state = S.CANCELLED
    running = make_task("t", S.RUNNING)
    occupy(in_flight, 7, running)
    timers.add_timeout(4.0, 7, running)
    timers.add_retry(3.0, make_task("r1", S.RETRY_WAIT))
    assert timers.next_due_s() == 3.0
    assert len(timers) == 2  # the stale retry was dropped on the way
    list(timers.due_retries(3.0))
    assert timers.next_due_s() == 4.0


def test_no_timer_means_no_wakeup() -> None:
    assert Timers(InFlight()).next_due_s() is None
