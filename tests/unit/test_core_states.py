"""The one table of legal task transitions."""

from __future__ import annotations

import itertools

import pytest

from orchestrator.core import IllegalTransitionError, TaskState, WorkflowState
from orchestrator.core.states import TASK_TRANSITIONS, TERMINAL_TASK_STATES, check_transition

S = TaskState

#: The life of a task as the design describes it, written out independently of the table.
LEGAL = {
    (S.PENDING, S.READY),
    (S.PENDING, S.SKIPPED),
    (S.PENDING, S.CANCELLED),
    (S.READY, S.RUNNING),
    (S.READY, S.CANCELLED),
    (S.RUNNING, S.SUCCEEDED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.RETRY_WAIT),
    (S.RUNNING, S.READY),
    (S.RUNNING, S.CANCELLED),
    (S.RETRY_WAIT, S.READY),
    (S.RETRY_WAIT, S.CANCELLED),
    # A lost result: its task is computed again, the tasks needing it wait for it again
    (S.SUCCEEDED, S.PENDING),
    (S.RUNNING, S.PENDING),
    (S.READY, S.PENDING),
    # Failed without running (no node can hold it any more, its time ran out)
    (S.PENDING, S.FAILED),
    (S.READY, S.FAILED),
    (S.RETRY_WAIT, S.FAILED),
    # Re-queued from the dead-letter queue, with what its failure skipped
    (S.FAILED, S.PENDING),
    (S.SKIPPED, S.PENDING),
    # Skipped before it started: its deadline passed (on_deadline_miss="skip")
    (S.READY, S.SKIPPED),
    (S.RETRY_WAIT, S.SKIPPED),
    (S.RUNNING, S.SKIPPED),  # its run_if predicate answered false
}


def test_the_table_is_exactly_the_legal_pairs() -> None:
    assert TASK_TRANSITIONS == LEGAL


@pytest.mark.parametrize(("current", "requested"), sorted(LEGAL))
def test_legal_transitions_are_accepted(current: TaskState, requested: TaskState) -> None:
    check_transition("t", current, requested)


ILLEGAL = sorted(set(itertools.product(TaskState, TaskState)) - LEGAL)


@pytest.mark.parametrize(("current", "requested"), ILLEGAL)
def test_illegal_transitions_raise(current: TaskState, requested: TaskState) -> None:
    with pytest.raises(IllegalTransitionError) as exc:
        check_transition("task-7", current, requested)
    assert exc.value.task == "task-7"
    assert (exc.value.current, exc.value.requested) == (current, requested)
    assert f"illegal transition {current.value} -> {requested.value}" in str(exc.value)


#: Pairs the design rules out by name, written without reference to `LEGAL`: a finished
#: task never comes back, a task runs only from READY, a task never enters its own state.
NOTABLE_ILLEGAL = [
    (S.SUCCEEDED, S.RUNNING),
    (S.FAILED, S.READY),
    (S.CANCELLED, S.RUNNING),
    (S.SKIPPED, S.READY),
    (S.PENDING, S.RUNNING),
    (S.RETRY_WAIT, S.RUNNING),
    (S.READY, S.SUCCEEDED),
    (S.RUNNING, S.RUNNING),
    (S.READY, S.READY),
]


@pytest.mark.parametrize(("current", "requested"), NOTABLE_ILLEGAL)
def test_notable_illegal_pairs_are_refused_by_the_table(
    current: TaskState, requested: TaskState
) -> None:
    assert (current, requested) not in TASK_TRANSITIONS
    with pytest.raises(IllegalTransitionError):
        check_transition("t", current, requested)


def test_terminal_states_have_no_way_out_but_recompute_and_requeue() -> None:
    assert frozenset(s for s in TaskState if s.is_terminal) == TERMINAL_TASK_STATES
    assert {S.SUCCEEDED, S.FAILED, S.SKIPPED, S.CANCELLED} == TERMINAL_TASK_STATES
    ways_out = {pair for pair in TASK_TRANSITIONS if pair[0] in TERMINAL_TASK_STATES}
    # A lost result computed again; a dead letter re-queued with what it skipped
    assert ways_out == {(S.SUCCEEDED, S.PENDING), (S.FAILED, S.PENDING), (S.SKIPPED, S.PENDING)}


def test_every_non_terminal_state_can_end() -> None:
    # From every state there is a path to a terminal state (nothing can get stuck by design).
    reachable = {s for s in TaskState if s.is_terminal}
    changed = True
    while changed:
        changed = False
        for current, requested in TASK_TRANSITIONS:
            if requested in reachable and current not in reachable:
                reachable.add(current)
                changed = True
    assert reachable == set(TaskState)


def test_workflow_terminal_states() -> None:
    assert [s for s in WorkflowState if not s.is_terminal] == [
        WorkflowState.RUNNING,
        WorkflowState.PAUSED,
    ]
