"""Learned task durations: what each kind of task took, for ranks and prefetching.

Users often give no ``estimated_duration_s``. Tasks of one *kind* take about as long as
each other, so the scheduler learns a duration per kind from the attempts that ended and
uses it wherever an estimate is missing: the critical-path ranks of new workflows
(`admission.critical_path_ranks`), the ranks of running workflows when a kind is first
learnt or its duration moves (`RankLearner`), when to send an agent its next attempt
(`Dispatcher`'s prefetching) and how many attempts to batch in one call (`BatchPolicy`).

Estimates that are given are checked too: per kind, the scheduler learns how far they are
off (the log of duration / estimate: its bias and spread) and how much the kind's
durations vary. Once a few were checked, `expected_duration_s` weighs the corrected
estimate against the kind's typical duration by those two spreads: exact estimates keep
their say, noisy ones of a kind whose tasks all take about as long give way to it.

A task's kind is its handler (function import path or callable name, or agent name) and
its id without a trailing number: ``mProject_00000012`` and ``mProject_00000013`` of one
function are one kind (a WfCommons category), ``fetch-3`` and ``fetch-7`` another.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.core.records import TaskRecord

#: Characters stripped from the end of a task id to find its kind.
_DIGITS = "0123456789"
_SEPARATORS = "-_.:#/ "
#: A kind's duration must move by this factor before running workflows are re-ranked.
_MOVE_FACTOR = 1.25
#: Kinds remembered at most (the oldest learnt is forgotten first).
MAX_KINDS = 10_000
#: Estimates of a kind checked against what its attempts took before they are corrected.
MIN_ERRORS = 3
#: Below these, a kind's estimates count as exact (log-error variance, and bias).
_EXACT_VAR = 1e-6
_EXACT_BIAS = 1e-3
#: Durations are floored here before taking logs (a no-op can take 0 s on a coarse clock).
_SHORTEST_S = 1e-6

#: One string per kind, shared by the records of its tasks (cleared past `_MAX_NAMES`).
_NAMES: dict[str, str] = {}
_MAX_NAMES = 100_000

#: Reads the learned duration of a kind, or None.
Lookup = Callable[[str], "float | None"]


def handler_name(handler: Any) -> str:
    """Return a stable name of a task's handler: its import path, or module and name."""
    if isinstance(handler, str):
        return handler
    module = getattr(handler, "__module__", None) or "?"
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return f"{module}.{name}"


def kind_of(handler: Any, task_id: str) -> str:
    """Return the kind of the task ``task_id`` run by ``handler`` (see the module docstring)."""
    return f"{handler_name(handler)}|{task_id.rstrip(_DIGITS).rstrip(_SEPARATORS)}"


def task_kind(task: TaskRecord) -> str:
    """Return the kind of ``task``; an agent task's handler is its pool (named by the agent).

    Found once per task and kept on its record (tasks of a kind share one string).
    """
    kind = task.kind
    if kind is None:
        handler = task.function
        if handler is None:
            handler = task.pool.spec.key.split("[", 1)[0]
        # `kind_of`, inlined: once per task.
        name = handler if type(handler) is str else handler_name(handler)
        kind = f"{name}|{task.task_id.rstrip(_DIGITS).rstrip(_SEPARATORS)}"
        if len(_NAMES) >= _MAX_NAMES:
            _NAMES.clear()
        kind = task.kind = _NAMES.setdefault(kind, kind)
    return kind


class _KindStats:
    """What the attempts of one kind took, and how far their estimates were off.

    ``mean_s``: the moving average duration (plain over the first samples, then
    exponential); ``log_mean``/``log_var``: the same, of the log of the duration;
    ``error_*``: of the log of duration / estimate, over the attempts that had an estimate.
    """

    __slots__ = (
        "anchor_s",
        "count",
        "error_count",
        "error_mean",
        "error_var",
        "log_mean",
        "log_var",
        "mean_s",
    )

    def __init__(self, duration_s: float, log_s: float) -> None:
        self.count = 1
        self.mean_s = duration_s
        self.anchor_s = duration_s
        self.log_mean = log_s
        self.log_var = 0.0
        self.error_count = 0
        self.error_mean = 0.0
        self.error_var = 0.0


def _moving(mean: float, var: float, sample: float, weight: float) -> tuple[float, float]:
    """Fold ``sample`` into an exponentially weighted mean and variance."""
    delta = sample - mean
    return mean + weight * delta, (1.0 - weight) * (var + weight * delta * delta)


class DurationBook:
    """What each kind of task took, and how good the estimates given for it were.

    The first samples of a kind are averaged plainly (the weight of a new sample is the
    larger of ``smoothing`` and 1 / samples), later ones exponentially. ``changed``
    collects the kinds whose duration was first learnt or moved by over a quarter since the
    ranks last used it, and ``new_kinds`` whether a kind was first learnt, for `RankLearner`.
    """

    __slots__ = ("_kinds", "_smoothing", "changed", "new_kinds")

    def __init__(self, smoothing: float = 0.2) -> None:
        """Learn with ``smoothing``, the weight of the newest sample once warmed up."""
        self._smoothing = smoothing
        self._kinds: dict[str, _KindStats] = {}
        self.changed: set[str] = set()
        self.new_kinds = False

    def learn(self, kind: str, duration_s: float, estimate_s: float | None = None) -> None:
        """Fold one attempt of ``kind`` that lasted ``duration_s`` into what is known.

        ``estimate_s``: the attempt's task's estimated duration, if it had one.
        """
        log_s = math.log(max(duration_s, _SHORTEST_S))
        stats = self._kinds.get(kind)
        if stats is None:
            if len(self._kinds) >= MAX_KINDS:
                self._forget_oldest()
            stats = self._kinds[kind] = _KindStats(duration_s, log_s)
            self.changed.add(kind)
            self.new_kinds = True
        else:
            stats.count += 1
            weight = max(self._smoothing, 1.0 / stats.count)
            stats.mean_s += weight * (duration_s - stats.mean_s)
            stats.log_mean, stats.log_var = _moving(stats.log_mean, stats.log_var, log_s, weight)
            new_s, anchor_s = stats.mean_s, stats.anchor_s
            if new_s > anchor_s * _MOVE_FACTOR or new_s * _MOVE_FACTOR < anchor_s:
                stats.anchor_s = new_s
                self.changed.add(kind)
        if estimate_s is not None and estimate_s > 0:
            error = log_s - math.log(estimate_s)
            stats.error_count += 1
            weight = max(self._smoothing, 1.0 / stats.error_count)
            stats.error_mean, stats.error_var = _moving(
                stats.error_mean, stats.error_var, error, weight
            )

    def lookup(self) -> Lookup | None:
        """Return `estimate_s`, or None while nothing is learnt (no kind to look up)."""
        return self.estimate_s if self._kinds else None

    def estimate_s(self, kind: str) -> float | None:
        """Return the learned duration of ``kind``, or None if none of it ended yet."""
        stats = self._kinds.get(kind)
        return None if stats is None else stats.mean_s

    def expected_s(self, task: TaskRecord) -> float | None:
        """Return how long ``task`` is expected to run (see `expected_duration_s`)."""
        estimate_s = task.estimate_s
        stats = self._kinds.get(task_kind(task)) if self._kinds else None
        if estimate_s is None:
            return task.pool.ewma_task_s if stats is None else stats.mean_s
        if stats is None or stats.error_count < MIN_ERRORS or estimate_s <= 0:
            return estimate_s
        error_var = stats.error_var
        if error_var <= _EXACT_VAR and abs(stats.error_mean) <= _EXACT_BIAS:
            return estimate_s  # the estimates of this kind have been right
        # Weigh the corrected estimate and the kind's typical duration by how much each
        # varies: exact estimates win, so does the kind when its tasks all take alike.
        kind_var = stats.log_var
        spread = kind_var + error_var
        estimate_weight = kind_var / spread if spread > _EXACT_VAR else 1.0
        log_s = (
            estimate_weight * (math.log(estimate_s) + stats.error_mean)
            + (1.0 - estimate_weight) * stats.log_mean
        )
        return math.exp(log_s)

    def __len__(self) -> int:
        return len(self._kinds)

    def _forget_oldest(self) -> None:
        oldest = next(iter(self._kinds))
        del self._kinds[oldest]
        self.changed.discard(oldest)


def expected_duration_s(task: TaskRecord, book: DurationBook | None) -> float | None:
    """Return how long ``task`` is expected to run, or None when nothing says.

    The one rule, for prefetching, batching and re-ranking: the task's estimate, weighed
    against its kind's learned duration once a few estimates of the kind were checked
    against what the attempts took (`MIN_ERRORS`); without an estimate, the kind's learned
    duration; else the moving average of its pool. ``book``: None when durations are not
    learnt (`SchedulerConfig.learn_durations`).
    """
    if book is not None:
        return book.expected_s(task)
    estimate_s = task.estimate_s
    return task.pool.ewma_task_s if estimate_s is None else estimate_s
