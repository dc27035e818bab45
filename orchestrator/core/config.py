"""Tuning knobs of the scheduler (the runtime fills them from the settings files)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.breaker import BreakerPolicy
from orchestrator.core.resources import ResourceSpec


class SchedulerConfig(BaseModel):
    """How the scheduler batches, pipelines, sizes and retires agents.

    Attributes:
        max_batch_size: Most attempts in one call to an agent.
        target_batch_s: Aim for calls that run about this long when tasks are short.
        independent_batch_s: Calls at least this long (as many tasks as it takes), for the
            tasks of a workflow without dependencies when no other workflow waits in their
            pool: nothing waits for their outcomes, so fewer, longer calls save the
            per-call overhead (tasks of ``pipeline_below_s`` or more still go one per
            call). These calls are prefetched
            rather than pipelined (with ``prefetch_window_s`` > 0): an agent gets its next
            call when a quarter of its running one is left (at least 5 ms, at most
            ``prefetch_window_s`` before its expected end), so a workflow that comes
            meanwhile waits for about what is left of one call, not for a whole call
            queued behind it, and with ``hand_back_batches`` not even that.
        hand_back_batches: When another workflow starts waiting in a pool, its calls
            longer than ``target_batch_s`` (expected) hand back the attempts
            they have not started (re-queued, not a failure; see `core.hand_back`), so
            the newcomer waits for one running attempt rather than for a long call.
        pipeline_below_s: Tasks shorter than this (moving average per pool) are pipelined:
            each agent gets one call more than it can run at once, so it never waits for
            the supervisor. Longer tasks are neither batched nor pipelined, which keeps
            priorities exact and load balanced.
        pipeline_depth: Extra calls in flight per agent when pipelining.
        duration_smoothing: Weight of the newest sample in the moving average of durations.
        learn_durations: Learn the duration of each kind of task (`core.durations`) and use
            it where a task has no ``estimated_duration_s``: critical-path ranks (running
            workflows are re-ranked as kinds are learnt) and prefetching.
        prefetch_window_s: A task too long to pipeline is sent to an agent this long before
            the agent's running attempt is expected to end (its estimate, or its kind's
            learned duration), so it starts without waiting for the supervisor's round
            trip; 0: an agent gets its next task only when its slot is free.
        idle_agent_timeout_s: Agents idle this long are stopped (down to ``min_replicas``).
        default_function_resources: Resources of a function task that declares none.
        max_function_replicas: Most replicas of each function pool.
        gang_functions: Run a plain function that needs k times
            ``default_function_resources`` on k agents of that size on one node (one runs
            it, the others are held for it: `core.gangs`), so a mix of sizes never stops
            agents to start others. False: on an agent of its own size. Ray gives a 1-CPU
            agent ``OMP_NUM_THREADS=1``, so a ganged task's numpy/BLAS threads are one
            unless it sets them itself; turn ganging off for such tasks.
        rank_by_critical_path: Within a priority and deadline, run first the tasks with the
            longest chain of work after them (estimated durations, or one per task).
        max_finished_workflows: Finished workflows kept (with their results) before the
            oldest are released; release one earlier with ``WorkflowRun.release()``.
        default_breaker: The circuit breaker of every pool that declares none (function
            pools included); None: no breaker.
        max_running_attempts: Most attempts running at once over every workflow (None:
            as many as the pools allow).
        tenant_max_running: Most attempts running at once per tenant (workflows name
            theirs in ``tenant``); a tenant not listed has no limit of its own.
        tenant_weights: Each tenant's share of capacity against other tenants (see
            `orchestrator.core.fair_queue`); a tenant not listed, and the default tenant
            of workflows without one, weigh 1.
        fair_burst_s: Work (expected seconds) a workflow that starts waiting may take
            ahead of those already waiting at its priority, before sharing by weight: a
            workflow smaller than that runs as if alone (0: strict fair queuing).
        aging_s: A ready task gains one priority level per this many seconds waited, up
            to HIGH (see `orchestrator.core.aging`); None: no aging.
        urgent_lane: Pools whose agents have an urgent lane (the function pools, and
            agents declaring ``urgent_lane``) start a CRITICAL task that finds every slot
            taken in that lane at once; False: it waits for a slot (or a preemption).
        preemption_grace_s: How long a preemptible attempt asked to stop for a waiting
            CRITICAL task has before its agent is stopped (see `core.preemption`).
        admission_slice_tasks: A workflow of more tasks than this, submitted by a runtime
            that admits in slices (``WorkflowSubmitted.in_slices``), is admitted this many
            tasks at a time, other events handled between slices (see
            `orchestrator.core.admitting`); None: every workflow at once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_batch_size: int = Field(default=64, ge=1)
    target_batch_s: float = Field(default=0.005, gt=0)
    independent_batch_s: float = Field(default=0.02, gt=0)
    hand_back_batches: bool = True
    pipeline_below_s: float = Field(default=0.05, ge=0)
    pipeline_depth: int = Field(default=1, ge=0)
    duration_smoothing: float = Field(default=0.2, gt=0, le=1)
    learn_durations: bool = True
    prefetch_window_s: float = Field(default=0.02, ge=0, allow_inf_nan=False)
    idle_agent_timeout_s: float = Field(default=30.0, ge=0)
    default_function_resources: ResourceSpec = ResourceSpec(num_cpus=1.0)
    max_function_replicas: int = Field(default=64, ge=1)
    gang_functions: bool = True
    rank_by_critical_path: bool = True
    max_finished_workflows: int = Field(default=1000, ge=0)
    default_breaker: BreakerPolicy | None = None
    max_running_attempts: int | None = Field(default=None, ge=1)
    tenant_max_running: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    fair_burst_s: float = Field(default=0.5, ge=0, allow_inf_nan=False)
    tenant_weights: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=dict
    )
    aging_s: float | None = Field(default=60.0, gt=0)
    urgent_lane: bool = True
    preemption_grace_s: float = Field(default=10.0, gt=0)
    admission_slice_tasks: int | None = Field(default=2_000, ge=1)
