"""Prefetching: an agent gets its next call just before its running one ends.

Short tasks are pipelined (`BatchPolicy`): each agent always has a call more than it
runs. Long tasks are not, so that priorities stay exact and the load balanced, but then
each one costs a round trip to the supervisor (outcome in, next attempt out) during
which the agent's slot is idle. Prefetching sends an agent whose slots are all taken one
more call when one of its calls is expected to end within its lead: the next task
waits on the agent, not in the supervisor, and starts the moment the slot frees.

The same goes for the long batches of a workflow without dependencies alone in its pool
(``independent_batch_s``): pipelined, a workflow that comes meanwhile would wait behind a
whole call queued on each agent; prefetched, only for what is left of the running one.

A call's expected end is when it starts (now, or the expected end of the call it queues
behind) plus its tasks' expected duration (`durations.expected_duration_s` of its first
task, times the attempts it carries: a batch is of one kind of task, mostly; the task's
``estimated_duration_s`` checked against what its kind took, else the learned duration
of its kind, else its pool's moving average). Its lead is ``window_s`` for one attempt; a
batch's is a quarter of its expected length (`BATCH_LEAD`), so that the next call is not
sent long before it can start, but never under a round trip (`MIN_BATCH_LEAD_S`): a
batch of tiny tasks gets its successor at once, as if pipelined. An agent whose call is
overdue by more than the window (the estimate was wrong) is not prefetched for: its next
task would wait behind a task of unknown length while another agent may free first. One
prefetched call per agent at most; the scheduler wakes up when a lead opens
(`next_due_s`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from orchestrator.core.batching import BatchPolicy
from orchestrator.core.clock import Clock
from orchestrator.core.durations import DurationBook, expected_duration_s
from orchestrator.core.gates import PoolGates
from orchestrator.core.records import AgentRecord, CallRecord, PoolRecord, TaskRecord

#: A batch's agent gets its next call when this share of the batch is expected to be left,
BATCH_LEAD = 0.25
#: but at least this long before (about a round trip through a busy supervisor, so that
#: short batches still never wait for their successor), and at most the window.
MIN_BATCH_LEAD_S = 0.005


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
        send: Callable[[AgentRecord, int, float], int],
    ) -> None:
        """Send the agents of ``pool`` about to free a slot their next call.

        Args:
            pool: A pool with ready tasks, after its free slots were filled.
            policy: Its batching: short work of a DAG is pipelined already, not prefetched.
            gates: Its breaker and rate limit, which prefetched calls obey too.
            send: Sends up to that many ready tasks of ``pool``, running about that long,
                to an agent in one call; returns how many it sent.
        """
        batch, max_calls, target_s = policy.plan(pool)
        if max_calls != pool.spec.max_concurrency or pool.isolated:
            self.forget(pool)  # pipelined; suspects run alone
            return
        budget = gates.budget(pool)
        if budget == 0 or pool in gates.gated:
            return
        for agent in self.candidates(pool, max_calls, self._clock.now_s()):
            if not pool.ready or budget == 0:
                break
            sent = send(agent, batch if budget is None else min(batch, budget), target_s)
            if budget is not None:
                budget = gates.spend(pool, sent, budget)

    def expected_s(self, task: TaskRecord) -> float | None:
        """Return how long ``task`` is expected to run, or None when nothing says."""
        return expected_duration_s(task, self._durations)

    def expect(
        self, agent: AgentRecord, first: TaskRecord, attempts: int, now_s: float
    ) -> tuple[float | None, float]:
        """Return when a call sent now to ``agent`` is expected to end, and its lead.

        The call starts with ``first`` and carries ``attempts``. It starts now if
        ``agent`` has a free slot, else when its soonest call ends. None: nothing says.
        """
        expected_s = self.expected_s(first)
        if expected_s is None:
            return None, self.window_s
        length_s = expected_s * attempts
        lead_s = self.window_s
        if attempts > 1:
            lead_s = min(lead_s, max(MIN_BATCH_LEAD_S, length_s * BATCH_LEAD))
        if len(agent.calls) < agent.pool.spec.max_concurrency:
            return now_s + length_s, lead_s
        soonest = _soonest_call(agent)
        if soonest is None:
            return None, lead_s
        return max(soonest.expected_end_s or now_s, now_s) + length_s, lead_s

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
            if agent.spoken_for:
                continue
            soonest = _soonest_call(agent)
            if soonest is None:
                continue  # nothing to go by
            end_s = soonest.expected_end_s
            assert end_s is not None  # `_soonest_call` answers only calls with one
            if now_s > end_s + window_s:
                continue  # the estimate was wrong: wait for it
            if now_s >= end_s - soonest.lead_s:
                if not self._releases_more_urgent(agent, end_s, pool):
                    chosen.append((end_s, agent))
            else:
                next_s = min(next_s, end_s - soonest.lead_s)
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


def _soonest_call(agent: AgentRecord) -> CallRecord | None:
    """Return ``agent``'s call expected to end first, or None if one has no expected end."""
    soonest: CallRecord | None = None
    soonest_s = math.inf
    call: CallRecord
    for call in agent.calls:
        end_s = call.expected_end_s
        if end_s is None:
            return None
        if end_s < soonest_s:
            soonest, soonest_s = call, end_s
    return soonest
