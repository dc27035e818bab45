"""Prefetching: an agent gets its next long task just before its running one ends.

Short tasks are pipelined (`BatchPolicy`): each agent always has a call more than it
runs. Long tasks are not, so that priorities stay exact and the load balanced, but then
each one costs a round trip to the supervisor (outcome in, next attempt out) during
which the agent's slot is idle. Prefetching sends an agent whose slots are all taken one
more call when one of its calls is expected to end within ``window_s``: the next task
waits on the agent, not in the supervisor, and starts the moment the slot frees.

A call's expected end is when it starts (now, or the expected end of the call it queues
behind) plus its task's expected duration: its ``estimated_duration_s``, else the learned
duration of its kind (`durations`), else its pool's moving average. An agent whose call
is overdue by more than the window (the estimate was wrong) is not prefetched for: its
next task would wait behind a task of unknown length while another agent may free first.
One prefetched call per agent at most; the scheduler wakes up when a window opens
(`next_due_s`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from orchestrator.core.batching import BatchPolicy
from orchestrator.core.clock import Clock
from orchestrator.core.durations import DurationBook, task_kind
from orchestrator.core.gates import PoolGates
from orchestrator.core.records import AgentRecord, CallRecord, PoolRecord, TaskRecord


class Prefetch:
    """When to send an agent its next long task, and when to look again."""

    __slots__ = ("_clock", "_due", "_durations", "_running", "window_s")

    def __init__(
        self,
        clock: Clock,
        window_s: float,
        durations: DurationBook | None,
        running: Mapping[int, TaskRecord],
    ) -> None:
        """Prefetch ``window_s`` ahead, with the durations learned in ``durations``.

        ``running``: the task of each attempt in flight (`InFlight.tasks`).
        """
        self._clock = clock
        self._running = running
        self.window_s = window_s
        self._durations = durations
        #: Pool -> when one of its agents' windows opens (the pool has ready tasks).
        self._due: dict[PoolRecord, float] = {}

    def fill(
        self,
        pool: PoolRecord,
        policy: BatchPolicy,
        gates: PoolGates,
        send: Callable[[AgentRecord], int],
    ) -> None:
        """Send the agents of ``pool`` about to free a slot their next long task.

        Args:
            pool: A pool with ready tasks, after its free slots were filled.
            policy: Its batching: short work is pipelined already, not prefetched.
            gates: Its breaker and rate limit, which prefetched calls obey too.
            send: Sends one ready task of ``pool`` to an agent; returns how many it sent.
        """
        batch, max_calls = policy.limits(pool)
        if batch != 1 or max_calls != pool.spec.max_concurrency or pool.isolated:
            self.forget(pool)  # suspects run alone
            return
        budget = gates.budget(pool)
        if budget == 0 or pool in gates.gated:
            return
        for agent in self.candidates(pool, max_calls, self._clock.now_s()):
            if not pool.ready or budget == 0:
                break
            sent = send(agent)
            if budget is not None:
                budget = gates.spend(pool, sent, budget)

    def expected_s(self, task: TaskRecord) -> float | None:
        """Return how long ``task`` is expected to run, or None when nothing says."""
        if task.estimate_s is not None:
            return task.estimate_s
        if self._durations is not None:
            learned_s = self._durations.estimate_s(task.kind or task_kind(task))
            if learned_s is not None:
                return learned_s
        return task.pool.ewma_task_s

    def expected_end_s(self, agent: AgentRecord, task: TaskRecord, now_s: float) -> float | None:
        """Return when a call of ``task`` sent now to ``agent`` is expected to end.

        It starts now if ``agent`` has a free slot, else when its soonest call ends.
        """
        expected_s = self.expected_s(task)
        if expected_s is None:
            return None
        if len(agent.calls) < agent.pool.spec.max_concurrency:
            return now_s + expected_s
        soonest_s = _soonest_end_s(agent)
        return None if soonest_s is None else max(soonest_s, now_s) + expected_s

    def candidates(self, pool: PoolRecord, full_at: int, now_s: float) -> list[AgentRecord]:
        """Return ``pool``'s agents to prefetch for now, soonest end first.

        Args:
            pool: A pool with ready tasks and no free slot left.
            full_at: Calls in flight of an agent whose slots are all taken.
            now_s: The time.

        Also notes when the next window of ``pool`` opens (`next_due_s`).
        """
        window_s = self.window_s
        chosen: list[tuple[float, AgentRecord]] = []
        next_s = math.inf
        for agent in pool.agents.values():
            if len(agent.calls) != full_at or agent.isolating or agent.draining:
                continue
            end_s = _soonest_end_s(agent)
            if end_s is None or now_s > end_s + window_s:
                continue  # nothing to go by, or the estimate was wrong: wait for it
            if now_s >= end_s - window_s:
                if not self._releases_more_urgent(agent, end_s, pool):
                    chosen.append((end_s, agent))
            else:
                next_s = min(next_s, end_s - window_s)
        if next_s < math.inf:
            self._due[pool] = next_s
        else:
            self._due.pop(pool, None)
        chosen.sort(key=lambda pair: pair[0])
        return [agent for _, agent in chosen]

    def _releases_more_urgent(self, agent: AgentRecord, end_s: float, pool: PoolRecord) -> bool:
        """Return whether ``agent``'s call ending at ``end_s`` readies a more urgent task.

        A task of ``pool`` more urgent than its queue's head that becomes ready when the
        call ends should have the slot, not the head.
        """
        head_key = pool.ready.peek_key()
        for call in agent.calls:
            if call.expected_end_s != end_s:
                continue
            for attempt_id in call.attempt_ids:
                task = self._running.get(attempt_id)
                if task is None:
                    continue
                tasks = task.workflow.tasks
                for child_id in task.workflow.graph.released_by(task.task_id):
                    child = tasks[child_id]
                    key = (child.priority, child.deadline_s, -child.rank)
                    if child.pool is pool and key < head_key:
                        return True
        return False

    def next_due_s(self) -> float | None:
        """Return when a prefetch window next opens, or None."""
        return min(self._due.values(), default=None)

    def reopen(self, now_s: float) -> list[PoolRecord]:
        """Return the pools whose window opened by ``now_s`` (to dispatch again)."""
        due = [pool for pool, due_s in self._due.items() if due_s <= now_s]
        for pool in due:
            del self._due[pool]
        return due

    def forget(self, pool: PoolRecord) -> None:
        """Drop ``pool``'s next window (nothing of it is ready any more)."""
        self._due.pop(pool, None)


def _soonest_end_s(agent: AgentRecord) -> float | None:
    """Return the soonest expected end of ``agent``'s calls, or None if one has none."""
    soonest_s = math.inf
    call: CallRecord
    for call in agent.calls:
        end_s = call.expected_end_s
        if end_s is None:
            return None
        soonest_s = min(soonest_s, end_s)
    return soonest_s if soonest_s < math.inf else None
