"""`Dispatcher`: hands ready tasks to agents, in batches, and keeps the calls in flight.

Admission control lives here: an attempt is handed to an agent only when the scheduler
chose it (the ready queues are in priority order), and the calls in flight per agent are
bounded by the `BatchPolicy`, so priorities hold on Ray, which runs what it is given in
arrival order. `_send` is the hottest loop of the scheduler.
"""

from __future__ import annotations

import functools
import itertools

from orchestrator.core import gangs, limits
from orchestrator.core.batching import BatchPolicy
from orchestrator.core.clock import Clock
from orchestrator.core.commands import AttemptOrder, Command, DispatchBatch
from orchestrator.core.conflicts import LockTable
from orchestrator.core.durations import DurationBook, task_kind
from orchestrator.core.events import AttemptOutcome
from orchestrator.core.fleet import AgentFleet
from orchestrator.core.gates import PoolGates
from orchestrator.core.hand_back import HandBack
from orchestrator.core.isolation import isolate
from orchestrator.core.limits import hold_if_full
from orchestrator.core.preemption import (
    PREEMPTED_ERROR,
    Preemption,
    critical_waits,
    lane_takes_critical,
)
from orchestrator.core.prefetch import Prefetch
from orchestrator.core.queue import PriorityTaskQueue
from orchestrator.core.records import AgentRecord, CallRecord, InFlight, PoolRecord, TaskRecord
from orchestrator.core.records import move as _move
from orchestrator.core.specs import Priority
from orchestrator.core.states import TaskState
from orchestrator.core.timers import Timers

_RUNNING = TaskState.RUNNING
_PRIORITIES = tuple(Priority)
_new_order = tuple.__new__


def _calls_of(agent: AgentRecord) -> int:
    return len(agent.calls)


class Dispatcher:
    """Sends the ready tasks of the fleet's pools to their agents, and closes the calls."""

    def __init__(
        self,
        clock: Clock,
        policy: BatchPolicy,
        fleet: AgentFleet,
        timers: Timers,
        in_flight: InFlight,
        *,
        urgent_lane: bool = True,
        preemption_grace_s: float = 10.0,
        durations: DurationBook | None = None,
    ) -> None:
        """Dispatch with ``policy`` to ``fleet``'s agents.

        Args:
            clock: When attempts start.
            policy: Batch sizes and calls in flight per agent.
            fleet: The pools and agents; grown when a backlog needs more agents.
            timers: Where the timeout of each attempt is armed.
            in_flight: Where each attempt sent is recorded until it ends.
            urgent_lane: Use the urgent lanes of the pools that have them.
            preemption_grace_s: See `Preemption`.
            durations: Where the duration of each kind of task is learned, or None.

        Prefetching (`Prefetch`) follows ``policy``'s ``prefetch_window_s`` (0: none): the
        policy sends long batches only one per slot when it is on.
        """
        self._clock = clock
        self._policy = policy
        self._fleet = fleet
        self._timers = timers
        self._in_flight = in_flight
        self._attempt_ids = itertools.count(1)
        self._call_ids = itertools.count(1)
        self._gates = PoolGates(clock)
        #: The locks of named resources (`conflicts`), and the attempts holding some.
        self.locks = LockTable()
        self._lock_holders: dict[int, TaskRecord] = {}
        self._urgent_lane = urgent_lane
        #: What is stopped for waiting CRITICAL tasks (`core.preemption`).
        self.preemption = Preemption(in_flight, preemption_grace_s)
        #: What long calls hand back when another workflow waits (`core.hand_back`).
        self.hand_back = HandBack(policy.target_batch_s, in_flight.tasks, enabled=policy.hand_back)
        self._durations = durations
        #: When to send agents their next long task early (None: never).
        self.prefetch = (
            Prefetch(clock, policy.prefetch_window_s, durations, in_flight.tasks)
            if policy.prefetch_window_s
            else None
        )

    def dispatch(self, out: list[Command]) -> None:
        """Send what the fleet's dirty pools have ready, most urgent pool first."""
        fleet = self._fleet
        if fleet.ganged:
            gangs.widen(fleet.dirty)
        pools = [pool for pool in fleet.dirty if pool.has_ready()]
        fleet.dirty.clear()
        pools.sort(key=PoolRecord.head_key)
        for pool in pools:
            if pool.host is not None:  # ganged: runs on its host's agents (`gangs`)
                gangs.assign(pool, fleet, self._gates, functools.partial(self._send_from, out), out)
                continue
            self.hand_back.watch(pool, out)
            self._assign(pool, out)
            if (
                pool.has_ready()
                and pool not in self._gates.gated
                and fleet.grow(pool, self._policy.agents_wanted(pool), out)
            ):
                self._assign(pool, out)
            if pool.has_ready() and self.prefetch is not None:
                send = functools.partial(self._send_next, pool, out)
                self.prefetch.fill(pool, self._policy, self._gates, send)
            if not pool.has_ready():
                fleet.drained(pool)
            elif critical_waits(pool):
                self.preemption.make_room(pool, self._clock.now_s(), out)

    def next_gate_s(self) -> float | None:
        """Return when a gated pool may send again, or None."""
        return self._gates.next_open_s()

    def next_prefetch_s(self) -> float | None:
        """Return when an agent's prefetch window next opens, or None."""
        return None if self.prefetch is None else self.prefetch.next_due_s()

    def reopen_gates(self, now_s: float) -> None:
        """Give the pools whose gate or prefetch window opened by ``now_s`` another dispatch."""
        self._fleet.dirty.update(self._gates.reopen(now_s))
        if self.prefetch is not None:
            self._fleet.dirty.update(self.prefetch.reopen(now_s))

    def close(self, outcome: AttemptOutcome, now_s: float) -> TaskRecord | None:
        """Note that an attempt ended (its outcome arrived at ``now_s``); free its call.

        Returns:
            Its task, its timings updated, when the outcome still counts; None for an
            attempt the scheduler gave up on (cancelled, timed out, lost), or a repeat.
        """
        in_flight = self._in_flight
        attempt_id = outcome.attempt_id
        call = in_flight.calls.pop(attempt_id, None)
        if self._lock_holders:
            self._unlock(attempt_id)
        if call is not None:
            call.open_attempts -= 1
            if call.open_attempts == 0:
                if call.urgent:
                    call.agent.urgent_call = None
                self._fleet.call_ended(call, now_s)
        task = in_flight.tasks.pop(attempt_id, None)
        if task is not None:
            if task.workflow.limits:
                limits.ended(task, self._fleet.dirty)
            duration_s = max(outcome.finished_s - outcome.started_s, 0.0)
            task.started_s = outcome.started_s
            task.finished_s = outcome.finished_s
            task.run_time_s += duration_s
            if outcome.error_type != PREEMPTED_ERROR:  # stopped early, or never started
                self._policy.learn(task.pool, duration_s)
            if self._durations is not None and outcome.ok:
                self._durations.learn(task.kind or task_kind(task), duration_s, task.estimate_s)
        return task

    def time_out(self, task: TaskRecord, attempt_id: int, now_s: float) -> AttemptOutcome:
        """Give up on attempt ``attempt_id`` of ``task``, past its timeout at ``now_s``.

        Returns:
            The outcome the attempt is taken to have, a ``TimeoutError``; its run time so
            far is counted.
        """
        message = f"attempt {task.attempts} ran longer than timeout_s={task.timeout_s:g}"
        return self.interrupted(task, attempt_id, now_s, "TimeoutError", message, forget=True)

    def forget(self, attempt_id: int) -> None:
        """Give up on attempt ``attempt_id`` (cancelled): its outcome will not count.

        The attempt keeps its place in its call until its outcome arrives or its agent is
        gone, so the agent is not handed more work meanwhile.
        """
        self._drop(attempt_id)

    def _drop(self, attempt_id: int) -> None:
        """Stop waiting for attempt ``attempt_id``'s outcome (its limits count it no more)."""
        task = self._in_flight.tasks.pop(attempt_id, None)
        if task is not None and task.workflow.limits:
            limits.ended(task, self._fleet.dirty)

    def _unlock(self, attempt_id: int) -> None:
        """Release the locks of an attempt whose call slot is free (its agent is done)."""
        holder = self._lock_holders.pop(attempt_id, None)
        if holder is not None:
            self.locks.release(holder, self._fleet.dirty)

    def agent_of(self, attempt_id: int) -> AgentRecord:
        """Return the agent whose call holds attempt ``attempt_id``. Raises `KeyError`."""
        return self._in_flight.calls[attempt_id].agent

    def running_task(self, attempt_id: int) -> TaskRecord | None:
        """Return the task whose outcome attempt ``attempt_id`` still counts for, or None."""
        return self._in_flight.tasks.get(attempt_id)

    def running_tasks(self) -> list[TaskRecord]:
        """Return the tasks whose running attempt's outcome is awaited."""
        return list(self._in_flight.tasks.values())

    def attempts_running(self) -> int:
        """Return how many attempts' outcomes are awaited."""
        return len(self._in_flight.tasks)

    def abandon(self, agent: AgentRecord) -> tuple[list[tuple[int, TaskRecord]], int]:
        """Drop every call of ``agent`` (it is gone).

        Returns:
            (attempt id, task) of each attempt whose outcome its task was waiting for, and
            how many attempts occupied the agent in all (cancelled ones included): when
            that is one, whatever happened to the agent happened while it ran that one.
        """
        in_flight = self._in_flight
        waiting = []
        occupying = 0
        self.preemption.forget_agent(agent)
        self.hand_back.forget_agent(agent)
        agent.urgent_call = None
        for call in agent.calls:
            for attempt_id in call.attempt_ids:
                if in_flight.calls.pop(attempt_id, None) is not None:
                    occupying += 1
                if self._lock_holders:
                    self._unlock(attempt_id)
                task = in_flight.tasks.pop(attempt_id, None)
                if task is not None:
                    waiting.append((attempt_id, task))
                    if task.workflow.limits:
                        limits.ended(task, self._fleet.dirty)
        agent.calls.clear()
        agent.isolating = agent.draining = False
        return waiting, occupying

    def interrupted(
        self,
        task: TaskRecord,
        attempt_id: int,
        now_s: float,
        error_type: str,
        message: str,
        *,
        forget: bool = False,
    ) -> AttemptOutcome:
        """Return the outcome of an attempt that ended without an answer.

        Its run time until ``now_s`` is counted. With ``forget``, its outcome, if it ever
        comes, will not count (the attempt keeps its place in its call: its agent is busy
        with it until stopped).
        """
        if forget:
            self._drop(attempt_id)
        started_s = task.started_s if task.started_s is not None else now_s
        task.finished_s = now_s
        task.run_time_s += now_s - started_s
        return AttemptOutcome(
            attempt_id=attempt_id,
            ok=False,
            started_s=started_s,
            finished_s=now_s,
            error_type=error_type,
            error_message=message,
        )

    def _assign(self, pool: PoolRecord, out: list[Command]) -> None:
        """Hand ``pool``'s ready tasks to its agents, round-robin, least loaded first.

        The policy is asked again before each call: it follows the task at the head of the
        queue, so a pipelined call is only ever added for short work. A pool's gates (its
        breaker, its rate limit) bound how many attempts go now.
        """
        budget = self._gates.budget(pool)
        if budget == 0:
            return
        if pool.isolated or pool.draining:
            send_alone = functools.partial(self._send_from, out, pool.isolated)
            budget = isolate(pool, budget, self._gates, send_alone)
            if budget == 0:
                return
        policy = self._policy
        most_calls = policy.most_calls(pool)
        agents = [  # a list comprehension: one frame, where a generator resumes per agent
            agent
            for agent in pool.agents.values()
            if len(agent.calls) < most_calls
            and not (agent.isolating or agent.draining or agent.spoken_for)
        ]
        if most_calls > 1:  # else every agent listed has no call: already in order
            agents.sort(key=_calls_of)
        ready = pool.ready
        lane = self._urgent_lane and pool.spec.urgent_lane
        while ready and agents:
            share = -(-len(ready) // len(agents))
            next_round = []
            for agent in agents:
                if not ready:
                    break
                batch, max_calls, target_s = policy.plan(pool)
                if len(agent.calls) >= max_calls or (lane and self._for_the_lane(pool, agent)):
                    continue
                size = min(batch, share) if budget is None else min(batch, share, budget)
                sent = self._send(agent, ready, size, out, budget_s=target_s)
                if budget is not None:
                    budget = self._gates.spend(pool, sent, budget)
                    if budget == 0:
                        return
                if len(agent.calls) < max_calls:
                    next_round.append(agent)
            agents = next_round
        if lane and critical_waits(pool):
            self._send_urgent(pool, budget, out)

    def _for_the_lane(self, pool: PoolRecord, agent: AgentRecord) -> bool:
        """Return whether ``pool``'s CRITICAL head goes to ``agent``'s urgent lane.

        Rather than queued (pipelined, prefetched) behind the less urgent work that
        takes every slot of ``agent``.
        """
        return (
            len(agent.calls) >= pool.spec.max_concurrency
            and critical_waits(pool)
            and lane_takes_critical(agent, self._in_flight.tasks)
        )

    def _send_from(
        self, out: list[Command], queue: PriorityTaskQueue[TaskRecord], agent: AgentRecord
    ) -> int:
        """Send the next task of ``queue`` to ``agent``; return how many were sent (0 or 1)."""
        return self._send(agent, queue, 1, out)

    def _send_next(
        self, pool: PoolRecord, out: list[Command], agent: AgentRecord, size: int, budget_s: float
    ) -> int:
        """Send up to ``size`` of ``pool``'s ready tasks to ``agent``; return how many."""
        return self._send(agent, pool.ready, size, out, budget_s=budget_s)

    def _send_urgent(self, pool: PoolRecord, budget: int | None, out: list[Command]) -> None:
        """Send waiting CRITICAL tasks to the free urgent lanes of ``pool``'s agents.

        Least loaded agent first, and only agents busy with lower-priority work: among
        CRITICAL tasks, arrival order holds (a lane is for jumping ahead of less urgent
        work, not for running two CRITICAL tasks on one agent's CPUs). The preemptible
        attempts on an agent are asked to stop (`Preemption.clear_for_urgent`).
        """
        ready = pool.ready
        running = self._in_flight.tasks
        for agent in sorted(pool.agents.values(), key=lambda agent: len(agent.calls)):
            if budget == 0 or not critical_waits(pool):
                return
            if not lane_takes_critical(agent, running):
                continue
            task_id = ready.peek().task_id
            sent = self._send(agent, ready, 1, out, urgent=True)
            if sent:
                self.preemption.clear_for_urgent(agent, task_id, out)
                if budget is not None:
                    budget = self._gates.spend(pool, sent, budget)

    def _may_start(self, task: TaskRecord) -> bool:
        """Take ``task``'s concurrency slots and locks, or none: then it waits (False).

        It waits in the queue of the limit (`limits`) or the resource (`conflicts`) that
        held it back, and goes back to its pool's queue when that frees.
        """
        if task.workflow.limits and hold_if_full(task):
            return False
        extras = task.extras
        if extras is not None and extras.locks and not self.locks.acquire(task):
            if task.workflow.limits:
                limits.ended(task, self._fleet.dirty)  # it took its slots: give them back
            return False
        return True

    def _send(
        self,
        agent: AgentRecord,
        ready: PriorityTaskQueue[TaskRecord],
        size: int,
        out: list[Command],
        *,
        urgent: bool = False,
        budget_s: float = 0.0,
    ) -> int:
        """Send up to ``size`` tasks from ``ready`` to ``agent`` in one call; return how many.

        ``urgent``: in the agent's urgent lane (one call at most, beside the others).
        ``budget_s``: with estimates, the batch stops before they add up past this.
        """
        # The hottest loop of the scheduler: everything it uses is bound to a local once.
        now_s = self._clock.now_s()
        move = _move
        running = self._in_flight.tasks
        add_timeout = self._timers.add_timeout
        next_attempt_id = self._attempt_ids.__next__
        agent_id = agent.agent_id
        orders: list[AttemptOrder] = []
        attempt_ids = []
        # With estimates, a batch stops before its estimated length passes the target,
        # so a long task never queues behind short ones in the same call.
        spent_s = 0.0
        budget_s += 1e-9  # sums of estimates are not exact
        while len(orders) < size and ready:
            if orders:
                estimate_s = ready.peek().estimate_s
                if estimate_s is not None and spent_s + estimate_s > budget_s:
                    break
            task = ready.pop()
            extras = task.extras
            if (task.workflow.limits or extras is not None) and not self._may_start(task):
                continue  # held back by a limit or a lock; it goes back when freed
            if task.estimate_s is not None:
                spent_s += task.estimate_s
            move(task, _RUNNING)
            attempt_id = next_attempt_id()
            attempt = task.attempts + 1
            task.attempts = attempt
            task.attempt_id = attempt_id
            task.agent_id = agent_id
            task.started_s = now_s
            task.finished_s = None
            running[attempt_id] = task
            attempt_ids.append(attempt_id)
            if extras is not None and extras.locks:
                # Held until its agent is done with it, even if its outcome stops counting
                self._lock_holders[attempt_id] = task
            if task.timeout_s is not None:
                add_timeout(now_s + task.timeout_s, attempt_id, task)
            watched_s = None if extras is None else extras.heartbeat_timeout_s
            if watched_s is not None:
                task.last_progress_s = None  # until the agent marks the handler's start
                self._timers.add_silence(now_s + watched_s, attempt_id, task)
            orders.append(
                _new_order(  # `AttemptOrder`'s fields, without its Python-level constructor
                    AttemptOrder,
                    (
                        attempt_id,
                        task.workflow.workflow_id,
                        task.task_id,
                        attempt,
                        task.function,
                        task.args,
                        task.kwargs,
                        task.inputs,
                        _PRIORITIES[task.priority],
                        task.last_heartbeat,
                        watched_s,
                        max(now_s - task.ready_s, 0.0),
                        extras.run_if if extras is not None else None,
                    ),
                )
            )
        if not orders:
            return 0
        call = self._open_call(agent, tuple(attempt_ids), now_s, urgent=urgent)
        out.append(DispatchBatch(agent_id, call.call_id, tuple(orders), urgent))
        return len(orders)

    def _open_call(
        self, agent: AgentRecord, attempt_ids: tuple[int, ...], now_s: float, *, urgent: bool
    ) -> CallRecord:
        """Record the call of ``attempt_ids`` to ``agent`` and return it."""
        expected_end_s = None
        lead_s = 0.0
        if self.prefetch is not None and not urgent:
            task = self._in_flight.tasks[attempt_ids[0]]
            expected_end_s, lead_s = self.prefetch.expect(agent, task, len(attempt_ids), now_s)
        # Positional, in the field order (see `records.call_record`): one call per call.
        call_id = next(self._call_ids)
        call = CallRecord(
            call_id, agent, attempt_ids, len(attempt_ids), urgent, expected_end_s, lead_s
        )
        calls = self._in_flight.calls
        for attempt_id in attempt_ids:
            calls[attempt_id] = call
        agent.calls.add(call)
        agent.idle_since_s = None
        if urgent:
            agent.urgent_call = call
        return call
