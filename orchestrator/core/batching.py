"""`BatchPolicy`: how many attempts go in one call to an agent, and how many calls at once.

Long tasks go one per call, at most ``max_concurrency`` calls per agent: priorities stay
exact and the load balanced. Short tasks (below ``pipeline_below_s``) are batched so that a
call runs at most about ``target_batch_s`` (a dependent task waits for the outcomes of the
whole call), and pipelined: each agent gets ``pipeline_depth`` calls more than it runs at
once, so it never waits for the supervisor between calls. The tasks of a workflow without
dependencies, when no other workflow waits in the pool, are batched to at least
``independent_batch_s`` instead: no task waits for their outcomes, so longer calls only
save the per-call overhead (the supervisor's and Ray's, one to two milliseconds of CPU
here). Those long calls are prefetched rather than pipelined (`prefetch`): a pipelined
call would make a workflow that comes meanwhile wait behind a whole long call.

The expected duration of the next attempt is `durations.expected_duration_s`: its estimate
(checked against what its kind took), else its kind's learned duration, else the pool's
moving average of finished attempts, which the policy keeps (`learn`).
"""

from __future__ import annotations

import math

from orchestrator.core.config import SchedulerConfig
from orchestrator.core.durations import DurationBook, expected_duration_s
from orchestrator.core.records import PoolRecord, is_independent


class BatchPolicy:
    """Batch sizes and calls in flight per agent, from the scheduler's configuration."""

    __slots__ = (
        "_duration_smoothing",
        "_durations",
        "_independent_batch_s",
        "_max_batch_size",
        "_pipeline_below_s",
        "_pipeline_depth",
        "_prefetched_calls",
        "hand_back",
        "prefetch_window_s",
        "target_batch_s",
    )

    def __init__(self, config: SchedulerConfig, durations: DurationBook | None = None) -> None:
        """Read the batching knobs of ``config`` (see `SchedulerConfig`).

        ``durations``: what each kind of task took, when durations are learnt.
        """
        self._durations = durations
        self._max_batch_size = config.max_batch_size
        self._pipeline_below_s = config.pipeline_below_s
        self._pipeline_depth = config.pipeline_depth
        self._duration_smoothing = config.duration_smoothing
        #: How long before a slot frees its agent may get its next call (`prefetch`).
        self.prefetch_window_s = config.prefetch_window_s
        # A long task's agent may get one call more just before a slot frees (`prefetch`).
        self._prefetched_calls = 1 if config.prefetch_window_s > 0 else 0
        #: A batch stops before its attempts' estimated durations add up past this.
        self.target_batch_s = config.target_batch_s
        self._independent_batch_s = config.independent_batch_s
        #: Long calls hand back what they have not started when another workflow waits.
        self.hand_back = config.hand_back_batches

    def learn(self, pool: PoolRecord, duration_s: float) -> None:
        """Fold the duration of an attempt that ended into ``pool``'s moving average."""
        ewma_s = pool.ewma_task_s
        alpha = self._duration_smoothing
        pool.ewma_task_s = duration_s if ewma_s is None else ewma_s + alpha * (duration_s - ewma_s)

    def limits(self, pool: PoolRecord) -> tuple[int, int]:
        """Return (batch size, most calls in flight per agent) for ``pool``'s next call."""
        batch, max_calls, _ = self.plan(pool)
        return batch, max_calls

    def plan(self, pool: PoolRecord) -> tuple[int, int, float]:
        """Return `limits` and how long the call should run, about.

        It follows the task at the head of the queue: a pool shared by workflows of very
        different tasks would otherwise batch long tasks after a run of short ones. The
        head's workflow without dependencies, and no other waiting in the pool (a longer
        call would hold up the other's tasks): at least ``independent_batch_s``,
        prefetched. Else at most ``target_batch_s``, pipelined. As many calls as slots (no
        pipelining) is what tells `Prefetch` that it sends the next call.
        """
        ready = pool.ready
        target_s = self.target_batch_s
        alone = False
        if ready:
            head = ready.peek()
            expected_s = expected_duration_s(head, self._durations)
            alone = ready.waiting_flows() <= 1 and is_independent(head.workflow)
            if alone:
                target_s = self._independent_batch_s
        else:
            expected_s = pool.ewma_task_s
        concurrency = pool.spec.max_concurrency
        if expected_s is None or expected_s >= self._pipeline_below_s:
            return 1, concurrency, target_s
        expected_s = max(expected_s, 1e-7)
        if alone and self._prefetched_calls:
            # At least the target: it is there to spread the per-call overhead, and no
            # task waits for these outcomes. Prefetched, not pipelined (`prefetch`).
            batch = max(1, min(math.ceil(target_s / expected_s - 1e-6), self._max_batch_size))
            return batch, concurrency, max(target_s, batch * expected_s)
        # At most the target: a dependent task waits for the whole call's outcomes.
        batch = max(1, min(int(target_s / expected_s), self._max_batch_size))
        return batch, concurrency + self._pipeline_depth, target_s

    def most_calls(self, pool: PoolRecord) -> int:
        """Return the most calls in flight an agent of ``pool`` may ever have."""
        return pool.spec.max_concurrency + max(self._pipeline_depth, self._prefetched_calls)

    def agents_wanted(self, pool: PoolRecord) -> int:
        """Return how many agents to start for ``pool``'s backlog: one full round of calls each."""
        batch, max_calls = self.limits(pool)
        return -(-len(pool.ready) // (batch * max_calls)) + len(pool.isolated)
