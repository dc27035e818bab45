"""`Scheduler`: the pure state machine at the heart of the orchestrator.

``handle(event) -> list[Command]``. It owns every workflow's graph, every task's state, the
ready queues (one per agent pool) and the agents' bookkeeping. It never does I/O, never
reads the time except through the injected clock, and never imports Ray; the runtime
decodes what happened into events and carries out the commands.

Admission control lives here: an attempt is handed to an agent only when this scheduler
chose it, and the calls in flight per agent are bounded, so priorities hold on Ray.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

from orchestrator.core.clock import Clock
from orchestrator.core.commands import (
    AttemptOrder,
    Command,
    DispatchBatch,
    PublishTaskEvents,
    PublishWorkflowEvent,
    ReleaseWorkflow,
    StartAgent,
    StopAgent,
    TaskEvent,
)
from orchestrator.core.config import SchedulerConfig
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.events import (
    AgentLost,
    AttemptOutcome,
    AttemptsFinished,
    ClusterObserved,
    Tick,
    WorkflowCancelRequested,
    WorkflowReleaseRequested,
    WorkflowSubmitted,
)
from orchestrator.core.graph import TaskGraph
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.pools import AgentPoolSpec
from orchestrator.core.records import (
    AgentRecord,
    CallRecord,
    PoolRecord,
    TaskRecord,
    WorkflowRecord,
)
from orchestrator.core.resources import ResourceLedger
from orchestrator.core.specs import Priority
from orchestrator.core.states import TaskState, WorkflowState, check_transition
from orchestrator.core.status import (
    PoolStatistics,
    RunSummary,
    SchedulerStatistics,
    TaskInfo,
    WorkflowStatus,
)
from orchestrator.core.validation import WorkflowFit, check_fit, check_structure

_PENDING = TaskState.PENDING
_READY = TaskState.READY
_RUNNING = TaskState.RUNNING
_SUCCEEDED = TaskState.SUCCEEDED
_PRIORITIES = tuple(Priority)


class Scheduler:
    """Decides what runs where and when; see the module docstring."""

    def __init__(self, clock: Clock, config: SchedulerConfig | None = None) -> None:
        self._clock = clock
        self._config = config or SchedulerConfig()
        self._ledger = ResourceLedger()
        self._workflows: dict[str, WorkflowRecord] = {}
        self._pools: dict[str, PoolRecord] = {}
        self._agents: dict[str, AgentRecord] = {}
        self._running: dict[int, TaskRecord] = {}
        self._attempt_calls: dict[int, CallRecord] = {}
        self._retry_timers: list[tuple[float, int, TaskRecord, int]] = []
        self._timeout_timers: list[tuple[float, int, TaskRecord]] = []
        self._dirty_pools: set[PoolRecord] = set()
        # Pools with ready tasks that could not start an agent for lack of capacity: they
        # are looked at again whenever capacity may have come free.
        self._starved_pools: set[PoolRecord] = set()
        self._attempt_ids = itertools.count(1)
        self._call_ids = itertools.count(1)
        self._timer_seq = itertools.count()
        self._task_events: list[TaskEvent] = []
        self._finished_workflows: deque[str] = deque()
        self._handlers: dict[type[Any], Callable[[Any, list[Command]], None]] = {
            ClusterObserved: self._on_cluster_observed,
            WorkflowSubmitted: self._on_workflow_submitted,
            WorkflowCancelRequested: self._on_cancel_requested,
            WorkflowReleaseRequested: self._on_release_requested,
            AttemptsFinished: self._on_attempts_finished,
            AgentLost: self._on_agent_lost,
            Tick: self._on_tick,
        }

    # -- entry point ---------------------------------------------------------------------

    def handle(self, event: Any) -> list[Command]:
        """Apply ``event`` and return the commands it calls for.

        Raises:
            WorkflowRejectedError: for a `WorkflowSubmitted` that fails validation; nothing
                of it is kept.
            KeyError: for a `WorkflowReleaseRequested` naming an unknown workflow.
            ValueError: for a `WorkflowReleaseRequested` of a workflow still running.
            TypeError: for an object that is not an event.
        """
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"not a scheduler event: {event!r}")
        out: list[Command] = []
        try:
            handler(event, out)
            # What happened is published before what it causes (the dispatches).
            self._flush_task_events(out)
            while self._dirty_pools:
                self._dispatch(out)
        finally:
            self._flush_task_events(out)
        return out

    def _flush_task_events(self, out: list[Command]) -> None:
        if self._task_events:
            out.append(PublishTaskEvents(tuple(self._task_events)))
            self._task_events.clear()

    # -- events --------------------------------------------------------------------------

    def _on_cluster_observed(self, event: ClusterObserved, out: list[Command]) -> None:
        self._ledger.observe(event.nodes)
        self._dirty_pools.update(self._starved_pools)

    def _on_workflow_submitted(self, event: WorkflowSubmitted, out: list[Command]) -> None:
        workflow = event.workflow
        spec = workflow if isinstance(workflow, PackedWorkflow) else PackedWorkflow.pack(workflow)
        config = self._config
        structure, problems = check_structure(spec)
        fit, fit_problems = check_fit(
            spec,
            structure,
            known_workflow_ids=self._workflows.keys(),
            # Pools with unfinished tasks keep their definition; idle ones may be redefined.
            known_pools={key: pool.spec for key, pool in self._pools.items() if pool.open_tasks},
            nodes=self._ledger.nodes,
            default_function_resources=config.default_function_resources,
            max_function_replicas=config.max_function_replicas,
        )
        problems.extend(fit_problems)
        if problems:
            raise WorkflowRejectedError(spec.id or spec.name, problems)
        self._admit(spec, structure.graph, fit, out)

    def _admit(
        self, spec: PackedWorkflow, graph: TaskGraph, fit: WorkflowFit, out: list[Command]
    ) -> None:
        now = self._clock.now_s()
        workflow_id = spec.id or ""
        workflow = WorkflowRecord(
            name=spec.name,
            workflow_id=workflow_id,
            graph=graph,
            submitted_s=now,
        )
        for key, pool_spec in fit.pools.items():
            known = self._pools.get(key)
            if known is None or known.spec != pool_spec:
                # New, or an idle pool redefined (validation refused a busy one).
                if known is not None:
                    for agent in list(known.agents.values()):
                        self._remove_agent(agent, "its agent class was redefined", out)
                pool = PoolRecord(spec=pool_spec, shape=pool_spec.resources.as_vector())
                self._pools[key] = pool
                self._top_up(pool, out)
        graph.prepare()
        ranks: dict[str, float] = {}
        if self._config.rank_by_critical_path:
            estimates = {
                row.id: row.estimated_duration_s
                for row in spec.rows
                if row.estimated_duration_s is not None
            }
            ranks = graph.upward_ranks(lambda node: estimates.get(node, 1.0))
        tasks = workflow.tasks
        pools = self._pools
        for row, pool_key in zip(spec.rows, fit.task_pools, strict=True):
            task_id = row.id
            tasks[task_id] = TaskRecord(
                workflow,
                task_id,
                row.function,
                row.args,
                row.kwargs,
                row.retry,
                row.timeout_s,
                pools[pool_key],
                row.inputs,
                row.priority,
                row.deadline_s,
                ranks.get(task_id, 0.0),
                row.estimated_duration_s,
            )
        workflow.counts[_PENDING] = len(tasks)
        workflow.open_tasks = len(tasks)
        for task in tasks.values():
            task.pool.open_tasks += 1
        self._workflows[workflow_id] = workflow
        self._release_ready(workflow)

    def _on_cancel_requested(self, event: WorkflowCancelRequested, out: list[Command]) -> None:
        workflow = self._workflows.get(event.workflow_id)
        if workflow is None or workflow.state.is_terminal:
            return
        workflow.cancel_reason = event.reason
        for task in workflow.tasks.values():
            if task.state.is_terminal:
                continue
            if task.state is _READY:
                task.pool.ready.remove(task)
            elif task.state is _RUNNING:
                # The agent finishes the call; its outcome will be ignored.
                self._running.pop(task.attempt_id, None)
            task.error_message = event.reason
            self._set_state(task, TaskState.CANCELLED, out, event.reason)

    def _on_release_requested(self, event: WorkflowReleaseRequested, out: list[Command]) -> None:
        workflow = self._workflows.get(event.workflow_id)
        if workflow is None:
            raise KeyError(f"no workflow {event.workflow_id!r}")
        if not workflow.state.is_terminal:
            raise ValueError(f"workflow {event.workflow_id!r} is still running; cancel it first")
        self._release(event.workflow_id, out)

    def _release(self, workflow_id: str, out: list[Command]) -> None:
        del self._workflows[workflow_id]
        self._finished_workflows.remove(workflow_id)
        out.append(ReleaseWorkflow(workflow_id=workflow_id))

    def _on_attempts_finished(self, event: AttemptsFinished, out: list[Command]) -> None:
        now = self._clock.now_s()
        alpha = self._config.duration_smoothing
        running = self._running
        for outcome in event.outcomes:
            self._close_attempt(outcome.attempt_id, now)
            task = running.pop(outcome.attempt_id, None)
            if task is None:
                continue  # stale: cancelled, timed out or lost before the outcome came
            duration = max(outcome.finished_s - outcome.started_s, 0.0)
            task.started_s = outcome.started_s
            task.finished_s = outcome.finished_s
            task.run_time_s += duration
            pool = task.pool
            ewma = pool.ewma_task_s
            pool.ewma_task_s = duration if ewma is None else ewma + alpha * (duration - ewma)
            if outcome.ok:
                self._succeed(task, out)
            else:
                self._fail_attempt(task, outcome, out)

    def _on_agent_lost(self, event: AgentLost, out: list[Command]) -> None:
        agent = self._agents.get(event.agent_id)
        if agent is not None:
            self._lose_agent(agent, f"agent {event.agent_id} {event.cause}: {event.reason}", out)

    def _on_tick(self, event: Tick, out: list[Command]) -> None:
        now = self._clock.now_s()
        # Timeouts first: a retry they schedule with no backoff is then due in this tick.
        timeouts = self._timeout_timers
        while timeouts and timeouts[0][0] <= now:
            _, attempt_id, task = heapq.heappop(timeouts)
            if self._running.get(attempt_id) is task:
                self._time_out(task, attempt_id, now, out)
            elif attempt_id in self._attempt_calls and task.state is TaskState.CANCELLED:
                # A cancelled attempt still occupying its agent past its timeout.
                agent = self._attempt_calls[attempt_id].agent
                self._lose_agent(
                    agent, f"stopped: cancelled task {task.task_id!r} ran past its timeout", out
                )
        retries = self._retry_timers
        while retries and retries[0][0] <= now:
            _, _, task, attempts = heapq.heappop(retries)
            if task.state is TaskState.RETRY_WAIT and task.attempts == attempts:
                self._make_ready(task, out)
        self._retire_idle_agents(now, out)

    # -- task life -----------------------------------------------------------------------

    def _set_state(
        self, task: TaskRecord, state: TaskState, out: list[Command], message: str = ""
    ) -> None:
        check_transition(task.task_id, task.state, state)
        workflow = task.workflow
        counts = workflow.counts
        counts[task.state] -= 1
        counts[state] = counts.get(state, 0) + 1
        task.state = state
        if state is _READY and not message:
            return
        self._task_events.append(
            TaskEvent(workflow.workflow_id, task.task_id, state, task.attempts, message)
        )
        if state.is_terminal:
            task.pool.open_tasks -= 1
            workflow.open_tasks -= 1
            if workflow.open_tasks == 0:
                self._finish_workflow(workflow, out)

    def _release_ready(self, workflow: WorkflowRecord) -> None:
        tasks = workflow.tasks
        for task_id in workflow.graph.ready():
            task = tasks[task_id]
            if task.state is _PENDING:
                self._make_ready(task, None)

    def _make_ready(self, task: TaskRecord, out: list[Command] | None, message: str = "") -> None:
        if out is None:
            # Fast path for PENDING -> READY, which publishes nothing.
            check_transition(task.task_id, task.state, _READY)
            counts = task.workflow.counts
            counts[task.state] -= 1
            counts[_READY] = counts.get(_READY, 0) + 1
            task.state = _READY
        else:
            self._set_state(task, _READY, out, message)
        pool = task.pool
        pool.ready.push(task, task.priority, task.deadline_s, task.rank)
        self._dirty_pools.add(pool)

    def _succeed(self, task: TaskRecord, out: list[Command]) -> None:
        self._set_state(task, _SUCCEEDED, out)
        workflow = task.workflow
        workflow.graph.mark_done(task.task_id)
        self._release_ready(workflow)

    def _fail_attempt(self, task: TaskRecord, outcome: AttemptOutcome, out: list[Command]) -> None:
        task.error_type = outcome.error_type
        task.error_message = outcome.error_message
        task.traceback = outcome.traceback
        task.failures += 1
        retry = task.retry
        if outcome.retryable and task.failures < retry.max_attempts:
            due_s = self._clock.now_s() + retry.backoff_s(task.failures)
            heapq.heappush(self._retry_timers, (due_s, next(self._timer_seq), task, task.attempts))
            self._set_state(
                task,
                TaskState.RETRY_WAIT,
                out,
                f"attempt {task.attempts} failed ({outcome.error_type}: {outcome.error_message});"
                f" retry at +{retry.backoff_s(task.failures):.2f}s",
            )
            return
        self._fail(task, f"{outcome.error_type}: {outcome.error_message}", out)

    def _fail(self, task: TaskRecord, message: str, out: list[Command]) -> None:
        self._set_state(task, TaskState.FAILED, out, message)
        workflow = task.workflow
        tasks = workflow.tasks
        reason = f"upstream task {task.task_id!r} failed"
        for task_id in workflow.graph.mark_failed(task.task_id):
            dependent = tasks[task_id]
            if dependent.state is _PENDING:
                dependent.error_message = reason
                self._set_state(dependent, TaskState.SKIPPED, out, reason)

    def _finish_workflow(self, workflow: WorkflowRecord, out: list[Command]) -> None:
        counts = workflow.counts
        if workflow.cancel_reason is not None:
            state = WorkflowState.CANCELLED
        elif counts.get(_SUCCEEDED, 0) == len(workflow.tasks):
            state = WorkflowState.SUCCEEDED
        else:
            state = WorkflowState.FAILED
        workflow.state = state
        workflow.finished_s = self._clock.now_s()
        summary = ", ".join(f"{s.value}={n}" for s, n in counts.items() if n)
        self._flush_task_events(out)
        out.append(
            PublishWorkflowEvent(workflow_id=workflow.workflow_id, state=state, message=summary)
        )
        self._finished_workflows.append(workflow.workflow_id)
        while len(self._finished_workflows) > self._config.max_finished_workflows:
            self._release(self._finished_workflows[0], out)

    def _time_out(self, task: TaskRecord, attempt_id: int, now: float, out: list[Command]) -> None:
        agent = self._agents.get(task.agent_id or "")
        self._running.pop(attempt_id, None)
        limit = task.timeout_s
        started_s = task.started_s if task.started_s is not None else now
        task.finished_s = now
        task.run_time_s += now - started_s
        outcome = AttemptOutcome(
            attempt_id=attempt_id,
            ok=False,
            started_s=started_s,
            finished_s=now,
            error_type="TimeoutError",
            error_message=f"attempt {task.attempts} ran longer than timeout_s={limit:g}",
        )
        self._fail_attempt(task, outcome, out)
        if agent is not None:
            # A running call cannot be interrupted: stop the agent, re-queue its other work.
            self._lose_agent(agent, f"stopped after task {task.task_id!r} timed out", out)

    # -- agents --------------------------------------------------------------------------

    def _close_attempt(self, attempt_id: int, now: float) -> None:
        call = self._attempt_calls.pop(attempt_id, None)
        if call is None:
            return
        call.open_attempts -= 1
        if call.open_attempts == 0:
            agent = call.agent
            agent.calls.discard(call)
            self._dirty_pools.add(agent.pool)
            if not agent.calls:
                agent.idle_since_s = now
                # An idle agent may be reclaimed by a pool waiting with more urgent work.
                if self._starved_pools:
                    self._dirty_pools.update(self._starved_pools)

    def _start_agent(self, pool: PoolRecord, out: list[Command]) -> AgentRecord:
        pool.started_total += 1
        agent_id = f"{pool.spec.key}#{pool.started_total}"
        now = self._clock.now_s()
        agent = AgentRecord(agent_id=agent_id, pool=pool, started_s=now, idle_since_s=now)
        pool.agents[agent_id] = agent
        self._agents[agent_id] = agent
        self._ledger.reserve(pool.shape)
        out.append(StartAgent(agent_id=agent_id, pool=pool.spec))
        return agent

    def _remove_agent(self, agent: AgentRecord, reason: str, out: list[Command]) -> None:
        del self._agents[agent.agent_id]
        del agent.pool.agents[agent.agent_id]
        self._ledger.release(agent.pool.shape)
        out.append(StopAgent(agent_id=agent.agent_id, reason=reason))
        # Its pool may need a replacement, and freed capacity may let a waiting pool grow.
        self._dirty_pools.add(agent.pool)
        self._dirty_pools.update(self._starved_pools)

    def _lose_agent(self, agent: AgentRecord, reason: str, out: list[Command]) -> None:
        self._remove_agent(agent, reason, out)
        for call in list(agent.calls):
            for attempt_id in call.attempt_ids:
                self._attempt_calls.pop(attempt_id, None)
                task = self._running.pop(attempt_id, None)
                if task is None:
                    continue
                task.losses += 1
                if task.losses > task.retry.max_agent_losses:
                    task.error_type = "AgentLost"
                    task.error_message = reason
                    self._fail(task, f"AgentLost: {reason} (lost {task.losses} times)", out)
                else:
                    self._make_ready(task, out, f"re-queued: {reason}")
        agent.calls.clear()
        self._top_up(agent.pool, out)

    def _top_up(self, pool: PoolRecord, out: list[Command]) -> None:
        """Start agents until ``pool`` has its ``min_replicas``, as capacity allows."""
        while len(pool.agents) < pool.spec.min_replicas and self._ledger.can_reserve(pool.shape):
            self._start_agent(pool, out)

    def _retire_idle_agents(self, now: float, out: list[Command]) -> None:
        timeout_s = self._config.idle_agent_timeout_s
        for pool in self._pools.values():
            if pool.ready:
                continue
            for agent in list(pool.agents.values()):
                if len(pool.agents) <= pool.spec.min_replicas:
                    break
                idle_since = agent.idle_since_s
                if not agent.calls and idle_since is not None and now >= idle_since + timeout_s:
                    self._remove_agent(agent, f"idle for {now - idle_since:.1f}s", out)

    def _reclaim_idle(self, pool: PoolRecord, out: list[Command]) -> bool:
        """Stop idle agents of other pools until ``pool``'s shape fits; return whether it does.

        Only pools with nothing ready, or whose most urgent ready task is less urgent than
        ``pool``'s, give up agents: the more urgent work wins the capacity.
        """
        urgency = pool.ready.peek_key()[0] if pool.ready else None
        for other in self._pools.values():
            if other is pool:
                continue
            if other.ready and (urgency is None or other.ready.peek_key()[0] <= urgency):
                continue
            for agent in list(other.agents.values()):
                if self._ledger.can_reserve(pool.shape):
                    return True
                if len(other.agents) <= other.spec.min_replicas:
                    break
                if not agent.calls:
                    self._remove_agent(agent, f"reclaimed for pool {pool.spec.key!r}", out)
        return self._ledger.can_reserve(pool.shape)

    # -- dispatch ------------------------------------------------------------------------

    def _policy(self, pool: PoolRecord) -> tuple[int, int]:
        """Return (batch size, most calls in flight per agent) for ``pool``.

        The expected duration is the next task's own estimate when it has one, else the
        pool's moving average: a pool shared by workflows of very different tasks would
        otherwise batch long tasks after a run of short ones.
        """
        config = self._config
        expected_s = pool.ewma_task_s
        if pool.ready:
            estimate_s = pool.ready.peek().estimate_s
            if estimate_s is not None:
                expected_s = estimate_s
        concurrency = pool.spec.max_concurrency
        if expected_s is None or expected_s >= config.pipeline_below_s:
            return 1, concurrency
        batch = int(config.target_batch_s / max(expected_s, 1e-7))
        batch = max(1, min(batch, config.max_batch_size))
        return batch, concurrency + config.pipeline_depth

    def _dispatch(self, out: list[Command]) -> None:
        pools = [pool for pool in self._dirty_pools if pool.ready]
        self._dirty_pools.clear()
        pools.sort(key=lambda pool: pool.ready.peek_key())
        for pool in pools:
            self._assign(pool, out)
            if pool.ready and self._grow(pool, out):
                self._assign(pool, out)
            if not pool.ready:
                self._starved_pools.discard(pool)

    def _assign(self, pool: PoolRecord, out: list[Command]) -> None:
        """Hand ``pool``'s ready tasks to its agents, round-robin, least loaded first.

        The policy is asked again before each call: it follows the task at the head of the
        queue, so a pipelined call is only ever added for short work.
        """
        most_calls = pool.spec.max_concurrency + self._config.pipeline_depth
        agents = sorted(
            (agent for agent in pool.agents.values() if len(agent.calls) < most_calls),
            key=lambda agent: len(agent.calls),
        )
        ready = pool.ready
        while ready and agents:
            share = -(-len(ready) // len(agents))
            next_round = []
            for agent in agents:
                if not ready:
                    break
                batch, max_calls = self._policy(pool)
                if len(agent.calls) >= max_calls:
                    continue
                self._send(agent, min(batch, share), out)
                if len(agent.calls) < max_calls:
                    next_round.append(agent)
            agents = next_round

    def _send(self, agent: AgentRecord, size: int, out: list[Command]) -> None:
        # The hottest loop of the scheduler: locals bound once, READY -> RUNNING inlined
        # (the only transition allowed from READY besides CANCELLED, checked below).
        ready = agent.pool.ready
        now = self._clock.now_s()
        running = self._running
        next_attempt_id = self._attempt_ids.__next__
        agent_id = agent.agent_id
        orders = []
        attempt_ids = []
        # With estimates, a batch stops before its estimated length passes the target,
        # so a long task never queues behind short ones in the same call.
        budget_s = self._config.target_batch_s
        spent_s = 0.0
        for index in range(min(size, len(ready))):
            if index:
                estimate_s = ready.peek().estimate_s
                if estimate_s is not None and spent_s + estimate_s > budget_s:
                    break
            task = ready.pop()
            if task.estimate_s is not None:
                spent_s += task.estimate_s
            if task.state is not _READY:
                check_transition(task.task_id, task.state, _RUNNING)  # raises: a bug
            counts = task.workflow.counts
            counts[_READY] -= 1
            counts[_RUNNING] = counts.get(_RUNNING, 0) + 1
            task.state = _RUNNING
            attempt_id = next_attempt_id()
            attempt = task.attempts + 1
            task.attempts = attempt
            task.attempt_id = attempt_id
            task.agent_id = agent_id
            task.started_s = now
            task.finished_s = None
            running[attempt_id] = task
            attempt_ids.append(attempt_id)
            timeout_s = task.timeout_s
            if timeout_s is not None:
                heapq.heappush(self._timeout_timers, (now + timeout_s, attempt_id, task))
            orders.append(
                AttemptOrder(
                    attempt_id,
                    task.workflow.workflow_id,
                    task.task_id,
                    attempt,
                    task.function,
                    task.args,
                    task.kwargs,
                    task.inputs,
                    _PRIORITIES[task.priority],
                )
            )
        call = CallRecord(next(self._call_ids), agent, tuple(attempt_ids), len(attempt_ids))
        attempt_calls = self._attempt_calls
        for attempt_id in attempt_ids:
            attempt_calls[attempt_id] = call
        agent.calls.add(call)
        agent.idle_since_s = None
        out.append(DispatchBatch(agent.agent_id, call.call_id, tuple(orders)))

    def _grow(self, pool: PoolRecord, out: list[Command]) -> bool:
        """Start agents for ``pool``'s backlog as capacity allows; return whether any started."""
        spec = pool.spec
        room = spec.max_replicas - len(pool.agents)
        if room <= 0:
            return False
        batch, max_calls = self._policy(pool)
        wanted = min(room, -(-len(pool.ready) // (batch * max_calls)))
        started = False
        for _ in range(wanted):
            if not self._ledger.can_reserve(pool.shape) and not self._reclaim_idle(pool, out):
                self._starved_pools.add(pool)
                return started
            self._start_agent(pool, out)
            started = True
        self._starved_pools.discard(pool)
        return started

    # -- queries -------------------------------------------------------------------------

    def next_wakeup_s(self) -> float | None:
        """Return when a `Tick` is next needed (retry, timeout or idle agent), or None."""
        candidates = []
        if self._retry_timers:
            candidates.append(self._retry_timers[0][0])
        timeouts = self._timeout_timers
        while timeouts and not self._timeout_armed(timeouts[0][1], timeouts[0][2]):
            heapq.heappop(timeouts)
        if timeouts:
            candidates.append(timeouts[0][0])
        timeout_s = self._config.idle_agent_timeout_s
        for pool in self._pools.values():
            if pool.ready or len(pool.agents) <= pool.spec.min_replicas:
                continue  # the same conditions as _retire_idle_agents
            for agent in pool.agents.values():
                if not agent.calls and agent.idle_since_s is not None:
                    candidates.append(agent.idle_since_s + timeout_s)
        return min(candidates) if candidates else None

    def _timeout_armed(self, attempt_id: int, task: TaskRecord) -> bool:
        if self._running.get(attempt_id) is task:
            return True
        return attempt_id in self._attempt_calls and task.state is TaskState.CANCELLED

    def workflow_ids(self) -> list[str]:
        """Return the ids of every workflow known, oldest first."""
        return list(self._workflows)

    def workflow_status(self, workflow_id: str) -> WorkflowStatus:
        """Return a snapshot of a workflow. Raises `KeyError` for an unknown id."""
        workflow = self._workflows[workflow_id]
        return WorkflowStatus(
            workflow_id=workflow_id,
            name=workflow.name,
            state=workflow.state,
            total=len(workflow.tasks),
            counts={state: n for state, n in workflow.counts.items() if n},
            submitted_s=workflow.submitted_s,
            finished_s=workflow.finished_s,
        )

    def task_info(self, workflow_id: str, task_id: str) -> TaskInfo:
        """Return a snapshot of one task. Raises `KeyError` for unknown ids."""
        task = self._workflows[workflow_id].tasks[task_id]
        return TaskInfo(
            task_id=task_id,
            state=task.state,
            priority=_PRIORITIES[task.priority],
            attempts=task.attempts,
            agent_id=task.agent_id,
            started_s=task.started_s,
            finished_s=task.finished_s,
            error_type=task.error_type,
            error_message=task.error_message,
            traceback=task.traceback,
        )

    def task_infos(self, workflow_id: str) -> list[TaskInfo]:
        """Return a snapshot of every task of a workflow, in submission order."""
        return [
            self.task_info(workflow_id, task_id) for task_id in self._workflows[workflow_id].tasks
        ]

    def summary(self, workflow_id: str) -> RunSummary:
        """Return wall time, summed task time, critical path and speed-up of a workflow."""
        workflow = self._workflows[workflow_id]
        end_s = workflow.finished_s if workflow.finished_s is not None else self._clock.now_s()
        wall_s = max(end_s - workflow.submitted_s, 0.0)
        run_times = {task_id: task.run_time_s for task_id, task in workflow.tasks.items()}
        total_s = sum(run_times.values())
        path = workflow.graph.critical_path(run_times)
        counts = workflow.counts
        return RunSummary(
            workflow_id=workflow_id,
            state=workflow.state,
            total=len(workflow.tasks),
            succeeded=counts.get(_SUCCEEDED, 0),
            failed=counts.get(TaskState.FAILED, 0),
            skipped=counts.get(TaskState.SKIPPED, 0),
            cancelled=counts.get(TaskState.CANCELLED, 0),
            wall_s=wall_s,
            task_time_sum_s=total_s,
            critical_path=path.nodes,
            critical_path_s=path.length_s,
            speedup=total_s / wall_s if wall_s > 0 else 0.0,
        )

    def statistics(self) -> SchedulerStatistics:
        """Return a snapshot of workflows, tasks, pools and agents (cheap: counters only)."""
        tasks: dict[TaskState, int] = {}
        running = 0
        for workflow in self._workflows.values():
            if not workflow.state.is_terminal:
                running += 1
            for state, count in workflow.counts.items():
                if count:
                    tasks[state] = tasks.get(state, 0) + count
        pools = {
            key: PoolStatistics(
                ready=len(pool.ready),
                open_tasks=pool.open_tasks,
                agents=len(pool.agents),
                calls_in_flight=sum(len(agent.calls) for agent in pool.agents.values()),
                mean_task_s=pool.ewma_task_s,
            )
            for key, pool in self._pools.items()
        }
        return SchedulerStatistics(
            workflows_running=running,
            workflows_kept=len(self._workflows),
            tasks=tasks,
            attempts_running=len(self._running),
            pools=pools,
        )

    def pool_specs(self) -> dict[str, AgentPoolSpec]:
        """Return every pool's spec by key."""
        return {key: pool.spec for key, pool in self._pools.items()}

    def agents(self) -> dict[str, str]:
        """Return live agent ids and their pool keys."""
        return {agent_id: agent.pool.spec.key for agent_id, agent in self._agents.items()}
