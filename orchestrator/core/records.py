"""The scheduler's mutable bookkeeping: plain slotted records, kept out of the public API.

Records compare and hash by identity, so they can sit in sets, dicts and the ready queue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.graph import TaskGraph
from orchestrator.core.pools import AgentPoolSpec
from orchestrator.core.queue import PriorityTaskQueue
from orchestrator.core.resources import ResourceVector
from orchestrator.core.specs import RetryPolicy
from orchestrator.core.states import TaskState, WorkflowState


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


@dataclass(slots=True, eq=False)
class CallRecord:
    """One call to an agent carrying a batch of attempts."""

    call_id: int
    agent: AgentRecord
    attempt_ids: tuple[int, ...]
    open_attempts: int


@dataclass(slots=True, eq=False)
class AgentRecord:
    """One live agent replica."""

    agent_id: str
    pool: PoolRecord
    started_s: float
    calls: set[CallRecord] = field(default_factory=set)
    idle_since_s: float | None = None


@dataclass(slots=True, eq=False)
class PoolRecord:
    """One agent pool: its ready queue, its agents and what it learnt about task durations."""

    spec: AgentPoolSpec
    shape: ResourceVector
    ready: PriorityTaskQueue[TaskRecord] = field(default_factory=PriorityTaskQueue)
    agents: dict[str, AgentRecord] = field(default_factory=dict)
    ewma_task_s: float | None = None
    started_total: int = 0
    open_tasks: int = 0
