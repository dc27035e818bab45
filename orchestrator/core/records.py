"""The scheduler's mutable bookkeeping: plain slotted records, kept out of the public API.

Records compare and hash by identity, so they can sit in sets, dicts and the ready queue.
`move` is the one way a task changes state: through the transition table, counted.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from orchestrator.core.breaker import CircuitBreaker
from orchestrator.core.fair_queue import FairShare, FairTaskQueue
from orchestrator.core.graph import TaskGraph
from orchestrator.core.packed import TaskExtras
from orchestrator.core.pools import AgentPoolSpec
from orchestrator.core.queue import PriorityTaskQueue
from orchestrator.core.rate_limit import TokenBucket
from orchestrator.core.resources import ResourceVector
from orchestrator.core.specs import RetryPolicy
from orchestrator.core.states import (
    NEXT_TASK_STATES,
    IllegalTransitionError,
    TaskState,
    WorkflowState,
)


@dataclass(slots=True, eq=False)
class WorkflowRecord:
    """One submitted workflow (its spec is not kept: each task keeps what it needs)."""

    name: str
    workflow_id: str
    graph: TaskGraph
    submitted_s: float
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    counts: dict[TaskState, int] = field(default_factory=dict)
    open_tasks: int = 0
    state: WorkflowState = WorkflowState.RUNNING
    finished_s: float | None = None
    cancel_reason: str | None = None
    # Retries its tasks may still make together (None: no workflow budget).
    retries_left: int | None = None
    # Compensations still to run, in order (None: not started; see `compensation`).
    compensations: deque[TaskRecord] | None = None
    # Ready tasks held while the workflow is paused (see `pausing`).
    parked: list[TaskRecord] = field(default_factory=list)
    # Its tasks whose deadline passed before they ended.
    deadline_misses: int = 0
    # The concurrency limits it runs under (`limits.LimitGroup`); empty: none.
    limits: tuple[Any, ...] = ()
    # Its tenant and weights: how its pools' ready queues share capacity (`fair_queue`).
    share: FairShare = field(default_factory=FairShare)
    # No task depends on another (found when first needed; see `batching`).
    independent: bool | None = None
    # Tasks counted (PENDING) whose record is not made yet (see `admitting`).
    unmade_tasks: int = 0

    def outcome(self) -> WorkflowState:
        """Return the state the workflow ends in, once none of its tasks is open.

        Succeeded: every task succeeded or was skipped, and none failed (a task skipped
        because another failed leaves that failure). Skips come from trigger rules,
        ``run_if`` predicates and deadlines, branches the workflow chose not to take.
        """
        if self.cancel_reason is not None:
            return WorkflowState.CANCELLED
        counts = self.counts
        done = counts.get(TaskState.SUCCEEDED, 0) + counts.get(TaskState.SKIPPED, 0)
        if done == len(self.tasks) and not counts.get(TaskState.FAILED, 0):
            return WorkflowState.SUCCEEDED
        return WorkflowState.FAILED


@dataclass(slots=True, eq=False)
class TaskRecord:
    """One task of a workflow and its attempts.

    It copies from the `TaskSpec` only what scheduling and dispatch need, so the specs
    (about 1 KB each as pydantic models) can be dropped once a workflow is admitted.
    """

    workflow: WorkflowRecord
    task_id: str
    function: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    retry: RetryPolicy
    timeout_s: float | None
    pool: PoolRecord
    inputs: tuple[str, ...]
    priority: int
    deadline_s: float = math.inf
    rank: float = 0.0
    estimate_s: float | None = None
    extras: TaskExtras | None = None
    state: TaskState = TaskState.PENDING
    attempts: int = 0
    failures: int = 0
    losses: int = 0
    attempt_id: int = -1
    agent_id: str | None = None
    started_s: float | None = None
    finished_s: float | None = None
    run_time_s: float = 0.0
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    # What the handler last reported with ``ctx.heartbeat`` (handed to the next attempt).
    last_heartbeat: Any = None
    last_progress_s: float | None = None
    # Was in a batch whose agent died: it runs alone from now on, so that a death while
    # it runs can be charged to it, and only to it.
    suspect: bool = False
    # Times its result was lost and computed again (bounded by max_agent_losses).
    recomputes: int = 0
    # When it was first ready (its schedule-to-close clock starts then).
    first_ready_s: float | None = None
    # For a compensation: the task whose effect it undoes (it is outside the graph).
    compensates: str | None = None
    # Its deadline passed before it ended.
    deadline_missed: bool = False
    # When it was last queued for an agent (aging counts from there).
    ready_s: float = 0.0
    # Its kind (`durations.task_kind`), found when first needed.
    kind: str | None = None


#: A task's flow in fair sharing: its workflow's share (read in C, once per push).
_share_of: Callable[[TaskRecord], FairShare] = attrgetter("workflow.share")


def is_independent(workflow: WorkflowRecord) -> bool:
    """Return whether no task of ``workflow`` depends on another (worked out once).

    An edit of the workflow (`editing.edit`) forgets the answer: it may add dependencies.
    """
    independent = workflow.independent
    if independent is None:
        independent = not any(task.inputs for task in workflow.tasks.values())
        workflow.independent = independent
    return independent


def _cost_of(task: TaskRecord) -> float:
    """A task's fair-share cost: its estimate, else its pool's mean duration, else 1."""
    return task.estimate_s or task.pool.ewma_task_s or 1.0


def ready_queue() -> FairTaskQueue[TaskRecord]:
    """Return an empty ready queue for a pool: fair between workflows and tenants."""
    return FairTaskQueue(_share_of, _cost_of)


@dataclass(slots=True, eq=False)
class CallRecord:
    """One call to an agent carrying a batch of attempts."""

    call_id: int
    agent: AgentRecord
    attempt_ids: tuple[int, ...]
    open_attempts: int
    # Sent to the agent's urgent lane (one CRITICAL attempt beside its other calls).
    urgent: bool = False
    # When it is expected to end (its attempts' expected durations known; see `prefetch`).
    expected_end_s: float | None = None
    # How long before ``expected_end_s`` its agent may get its next call (`prefetch`).
    lead_s: float = 0.0
    # A gang's call (`gangs`): every agent it reserves, its own first; and the ledger keys
    # holding the capacity of reserved partners lost while it runs.
    gang: list[AgentRecord] | None = None
    lost_partner_holds: list[str] | None = None


@dataclass(slots=True, eq=False)
class AgentRecord:
    """One live agent replica."""

    agent_id: str
    pool: PoolRecord
    started_s: float
    calls: set[CallRecord] = field(default_factory=set)
    idle_since_s: float | None = None
    # Runs a suspect task alone: it gets nothing else until that call ends.
    isolating: bool = False
    # Kept free of new calls so that a waiting suspect can run on it alone.
    draining: bool = False
    # Its urgent lane's call, while one runs (see `Dispatcher` and `preemption`).
    urgent_call: CallRecord | None = None
    # The gang call it belongs to (`gangs`): it takes no other work until that call ends.
    reserved_by: CallRecord | None = None
    # The ganged pool it is kept free for while a gang forms (`gangs`).
    held_for: PoolRecord | None = None

    @property
    def spoken_for(self) -> bool:
        """Return whether the agent is reserved or held for a gang (it takes no other work)."""
        return self.reserved_by is not None or self.held_for is not None


@dataclass(slots=True, eq=False)
class PoolRecord:
    """One agent pool: its ready queues, its agents and what it learnt about task durations.

    Ready tasks wait in ``ready``, shared by workflows and tenants by weight (see
    `fair_queue`), except suspects (see `TaskRecord.suspect`), which wait in ``isolated``
    for an agent with nothing else to do.
    """

    spec: AgentPoolSpec
    shape: ResourceVector
    ready: FairTaskQueue[TaskRecord] = field(default_factory=ready_queue)
    isolated: PriorityTaskQueue[TaskRecord] = field(default_factory=PriorityTaskQueue)
    agents: dict[str, AgentRecord] = field(default_factory=dict)
    ewma_task_s: float | None = None
    started_total: int = 0
    open_tasks: int = 0
    # Some agent is kept free of new calls for a waiting suspect (see `Dispatcher`).
    draining: bool = False
    # Why no node of the cluster can hold one of its agents any more (after a node loss).
    infeasible: str | None = None
    # Its gates: a circuit breaker and a rate limit, when its spec declares them.
    breaker: CircuitBreaker | None = None
    bucket: TokenBucket | None = None
    # A ganged pool (`gangs`): the function pool whose agents run its tasks, and how many
    # of them each task takes. A host pool knows its ganged pools.
    host: PoolRecord | None = None
    gang_size: int = 1
    gangs: list[PoolRecord] = field(default_factory=list)
    # A ganged pool's agents of its host kept free for its next gang while it forms.
    held: list[AgentRecord] = field(default_factory=list)

    def family_head_key(self) -> tuple[int, float, float] | None:
        """Return the most urgent waiting task's key over the pool and its ganged pools."""
        keys = [pool.head_key() for pool in (self, *self.gangs) if pool.has_ready()]
        return min(keys) if keys else None

    def has_ready(self) -> bool:
        """Return whether a task of the pool waits for an agent."""
        return bool(self.ready) or bool(self.isolated)

    def queued(self) -> int:
        """Return how many tasks of the pool wait for an agent."""
        return len(self.ready) + len(self.isolated)

    def head_key(self) -> tuple[int, float, float]:
        """Return the queue key of the most urgent waiting task. Raises `IndexError` if none."""
        if not self.isolated:
            return self.ready.peek_key()
        if not self.ready:
            return self.isolated.peek_key()
        return min(self.ready.peek_key(), self.isolated.peek_key())

    def queue_of(self, task: TaskRecord) -> PriorityTaskQueue[TaskRecord]:
        """Return the queue ``task`` waits in when it is ready."""
        return self.isolated if task.suspect else self.ready


# Keyword-only constructors of the two records made in bulk. Calling a class with keywords
# makes CPython build a dict of them on every call: measured with callgrind, a `TaskRecord`
# made so costs 5,600 instructions more than a positional call, enough to slow admission
# of 100,000 tasks by a tenth, where a keyword call of a plain function costs 1,500. The
# positional calls below and in `admission.add_task_records` (admission's loop, which
# skips even this function's frame) are the places that rely on the field order;
# tests/unit/test_core_records.py checks that every value lands in its own field.


def task_record(
    *,
    workflow: WorkflowRecord,
    task_id: str,
    function: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    retry: RetryPolicy,
    timeout_s: float | None,
    pool: PoolRecord,
    inputs: tuple[str, ...],
    priority: int,
    deadline_s: float,
    rank: float,
    estimate_s: float | None,
    extras: TaskExtras | None = None,
) -> TaskRecord:
    """Return a new PENDING `TaskRecord` (see the fields of the class)."""
    return TaskRecord(
        workflow,
        task_id,
        function,
        args,
        kwargs,
        retry,
        timeout_s,
        pool,
        inputs,
        priority,
        deadline_s,
        rank,
        estimate_s,
        extras,
    )


def call_record(
    *,
    call_id: int,
    agent: AgentRecord,
    attempt_ids: tuple[int, ...],
    open_attempts: int,
    urgent: bool = False,
    expected_end_s: float | None = None,
    lead_s: float = 0.0,
) -> CallRecord:
    """Return a new `CallRecord` (see the fields of the class)."""
    return CallRecord(call_id, agent, attempt_ids, open_attempts, urgent, expected_end_s, lead_s)


@dataclass(slots=True, eq=False)
class InFlight:
    """Attempts handed to agents, by attempt id.

    Attributes:
        tasks: The task whose outcome each attempt still counts for. An attempt leaves
            when its outcome arrives or when the scheduler gives up on it (cancelled,
            timed out, agent lost); a late outcome then finds nothing and is ignored.
        calls: The call each attempt occupies, until its outcome arrives or its agent is
            gone: a cancelled attempt still occupies its agent.
    """

    tasks: dict[int, TaskRecord] = field(default_factory=dict)
    calls: dict[int, CallRecord] = field(default_factory=dict)


def move_out(task: TaskRecord, state: TaskState) -> None:
    """`move` ``task`` to ``state``, counting it out of its state only.

    For a caller that counts many tasks into ``state`` at once (`Lifecycle.cancel_all`).
    """
    current = task.state
    if state not in NEXT_TASK_STATES[current]:
        raise IllegalTransitionError(task.task_id, current, state)
    task.workflow.counts[current] -= 1
    task.state = state


def move(task: TaskRecord, state: TaskState) -> None:
    """Move ``task`` to ``state`` and keep its workflow's counts by state.

    Every task state change goes through here, the dispatch hot path included.

    Raises:
        IllegalTransitionError: the transition table does not allow it (a bug); nothing
            is changed.
    """
    current = task.state
    if state not in NEXT_TASK_STATES[current]:  # `check_transition` inlined: the hot path
        raise IllegalTransitionError(task.task_id, current, state)
    counts = task.workflow.counts
    counts[current] -= 1
    counts[state] = counts.get(state, 0) + 1
    task.state = state
