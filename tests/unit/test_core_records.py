"""Records: `move` (the one way a task changes state) and the keyword-only constructors."""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from typing import Any

import pytest

from orchestrator.core import IllegalTransitionError, RetryPolicy, TaskGraph, TaskState
from orchestrator.core.pools import AgentPoolSpec
from orchestrator.core.records import (
    AgentRecord,
    CallRecord,
    PoolRecord,
    TaskRecord,
    WorkflowRecord,
    call_record,
    move,
    task_record,
)
from orchestrator.core.resources import ResourceSpec
from orchestrator.core.states import NEXT_TASK_STATES, TASK_TRANSITIONS, WorkflowState

S = TaskState


def make_pool() -> PoolRecord:
    spec = AgentPoolSpec(key="p", agent_class="m:C", resources=ResourceSpec(), max_replicas=1)
    return PoolRecord(spec=spec, shape=spec.resources.as_vector())


def make_task(state: TaskState = S.PENDING) -> TaskRecord:
    workflow = WorkflowRecord(name="wf", workflow_id="wf", graph=TaskGraph(), submitted_s=0.0)
    task = task_record(
        workflow=workflow,
        task_id="t",
        function=None,
        args=(),
        kwargs={},
        retry=RetryPolicy(),
        timeout_s=None,
        pool=make_pool(),
        inputs=(),
        priority=2,
        deadline_s=0.0,
        rank=0.0,
        estimate_s=None,
    )
    task.state = state
    workflow.counts[state] = 1
    return task


@pytest.mark.parametrize(("current", "requested"), sorted(TASK_TRANSITIONS))
def test_move_follows_the_table_and_counts(current: TaskState, requested: TaskState) -> None:
    task = make_task(current)
    move(task, requested)
    assert task.state is requested
    assert task.workflow.counts == {current: 0, requested: 1}


@pytest.mark.parametrize(
    ("current", "requested"),
    sorted(set(itertools.product(TaskState, TaskState)) - TASK_TRANSITIONS),
)
def test_move_refuses_what_the_table_refuses_and_changes_nothing(
    current: TaskState, requested: TaskState
) -> None:
    task = make_task(current)
    with pytest.raises(IllegalTransitionError) as exc:
        move(task, requested)
    assert (exc.value.task, exc.value.current, exc.value.requested) == ("t", current, requested)
    assert task.state is current
    assert task.workflow.counts == {current: 1}


def test_move_reads_the_table_and_assumes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # READY -> RUNNING, the dispatch hot path, used to be taken without asking the table.
    # With that pair taken out of the table, `move` refuses it.
    table = dict(NEXT_TASK_STATES)
    table[S.READY] = table[S.READY] - {S.RUNNING}
    monkeypatch.setattr("orchestrator.core.records.NEXT_TASK_STATES", table)
    task = make_task(S.READY)
    with pytest.raises(IllegalTransitionError):
        move(task, S.RUNNING)
    assert task.state is S.READY


CONSTRUCTORS = [(TaskRecord, task_record), (CallRecord, call_record)]


@pytest.mark.parametrize(("cls", "factory"), CONSTRUCTORS, ids=["task_record", "call_record"])
def test_each_keyword_lands_in_its_own_field(cls: type[Any], factory: Any) -> None:
    # The constructors call the class positionally (cheaper); a distinct value per field
    # shows that none is swapped with another.
    values = {name: object() for name in inspect.signature(factory).parameters}
    record = factory(**values)
    assert isinstance(record, cls)
    for name, value in values.items():
        assert getattr(record, name) is value, name


@pytest.mark.parametrize(("cls", "factory"), CONSTRUCTORS, ids=["task_record", "call_record"])
def test_the_constructors_take_every_field_without_a_default(cls: type[Any], factory: Any) -> None:
    # A field added to a record without a default must be added to its constructor too.
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert required <= set(inspect.signature(factory).parameters)


@pytest.mark.parametrize(
    ("cancel_reason", "succeeded", "expected"),
    [
        (None, 2, WorkflowState.SUCCEEDED),
        (None, 1, WorkflowState.FAILED),
        ("stop", 2, WorkflowState.CANCELLED),
    ],
)
def test_workflow_outcome(
    cancel_reason: str | None, succeeded: int, expected: WorkflowState
) -> None:
    workflow = WorkflowRecord(name="wf", workflow_id="wf", graph=TaskGraph(), submitted_s=0.0)
    pool = make_pool()
    for task_id in ("a", "b"):
        workflow.tasks[task_id] = dataclasses.replace(make_task(), task_id=task_id, pool=pool)
    workflow.counts = {S.SUCCEEDED: succeeded}
    workflow.cancel_reason = cancel_reason
    assert workflow.outcome() is expected


def test_agent_record_starts_without_calls() -> None:
    agent = AgentRecord(agent_id="p#1", pool=make_pool(), started_s=1.0)
    assert agent.calls == set()
    assert agent.idle_since_s is None


def test_admission_puts_each_row_value_in_its_own_field() -> None:
    # `add_task_records` calls `TaskRecord` positionally too (admission's loop): a
    # distinct value per row field shows that none lands in another's field.
    from orchestrator.core.admission import add_task_records
    from orchestrator.core.packed import TaskRow

    values: list[Any] = [object() for _ in TaskRow._fields]
    row = TaskRow(*values)._replace(id="t")
    workflow = WorkflowRecord(name="wf", workflow_id="wf", graph=TaskGraph(), submitted_s=0.0)
    pool = make_pool()
    rank = object()
    ranks: dict[str, Any] = {"t": rank}
    add_task_records(workflow, [row], [pool], ranks)
    record = workflow.tasks["t"]
    expected = {
        "workflow": workflow,
        "task_id": "t",
        "function": row.function,
        "args": row.args,
        "kwargs": row.kwargs,
        "retry": row.retry,
        "timeout_s": row.timeout_s,
        "pool": pool,
        "inputs": row.inputs,
        "priority": row.priority,
        "deadline_s": row.deadline_s,
        "rank": rank,
        "estimate_s": row.estimated_duration_s,
        "extras": row.extras,
    }
    for name, value in expected.items():
        assert getattr(record, name) is value, name
    assert record.state is S.PENDING
    assert (pool.open_tasks, workflow.open_tasks, workflow.counts) == (1, 1, {S.PENDING: 1})
