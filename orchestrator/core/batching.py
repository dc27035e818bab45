"""`BatchPolicy`: how many attempts go in one call to an agent, and how many calls at once.

Long tasks go one per call, at most ``max_concurrency`` calls per agent: priorities stay
exact and the load balanced. Short tasks (below ``pipeline_below_s``) are batched so that a
call runs about ``target_batch_s``, and pipelined: each agent gets ``pipeline_depth`` calls
more than it runs at once, so it never waits for the supervisor between calls. The tasks
of a workflow without dependencies, when no other workflow waits in the pool, are batched
to ``independent_batch_s`` instead: no task waits for their outcomes, so longer calls only
save the per-call overhead (the supervisor's and Ray's, about a millisecond here).

The expected duration of the next attempt is `durations.expected_duration_s`: its estimate
(checked against what its kind took), else its kind's learned duration, else the pool's
moving average of finished attempts, which the policy keeps (`learn`).
"""

from __future__ import annotations

from orchestrator.core.config import SchedulerConfig
from orchestrator.core.durations import DurationBook, expected_duration_s
from orchestrator.core.records import PoolRecord, TaskRecord, is_independent


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
        # A long task's agent may get one call more just before a slot frees (`prefetch`).
        self._prefetched_calls = 1 if config.prefetch_window_s > 0 else 0
        #: A batch stops before its attempts' estimated durations add up past this.
        self.target_batch_s = config.target_batch_s
        self._independent_batch_s = config.independent_batch_s

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
        """Return `limits` and how long the call should run (`batch_target_s`).

        It follows the task at the head of the queue: a pool shared by workflows of very
        different tasks would otherwise batch long tasks after a run of short ones.
        """
        ready = pool.ready
        target_s = self.target_batch_s
        if ready:
            head = ready.peek()
            expected_s = expected_duration_s(head, self._durations)
            target_s = self.batch_target_s(head, ready.waiting_flows())
        else:
            expected_s = pool.ewma_task_s
        concurrency = pool.spec.max_concurrency
        if expected_s is None or expected_s >= self._pipeline_below_s:
            return 1, concurrency, target_s
        batch = int(target_s / max(expected_s, 1e-7))
        batch = max(1, min(batch, self._max_batch_size))
        return batch, concurrency + self._pipeline_depth, target_s

    def batch_target_s(self, head: TaskRecord, flows: int) -> float:
        """Return how long a call whose first task is ``head`` should run, about.

        ``flows``: how many workflows have tasks waiting in the pool's queue; a longer
        batch of an independent workflow would hold up another's tasks.
        """
        if flows <= 1 and is_independent(head.workflow):
            return self._independent_batch_s
        return self.target_batch_s

    def most_calls(self, pool: PoolRecord) -> int:
        """Return the most calls in flight an agent of ``pool`` may ever have."""
        return pool.spec.max_concurrency + max(self._pipeline_depth, self._prefetched_calls)

    def agents_wanted(self, pool: PoolRecord) -> int:
        """Return how many agents to start for ``pool``'s backlog: one full round of calls each."""
        batch, max_calls = self.limits(pool)
        return -(-len(pool.ready) // (batch * max_calls)) + len(pool.isolated)
