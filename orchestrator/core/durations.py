"""Learned task durations: what each kind of task took, for ranks and prefetching.

Users often give no ``estimated_duration_s``. Tasks of one *kind* take about as long as
each other, so the scheduler learns a duration per kind from the attempts that ended and
uses it wherever an estimate is missing: the critical-path ranks of new workflows
(`admission.critical_path_ranks`), the ranks of running workflows when a kind is first
learnt or its duration moves (`RankLearner`), and when to send an agent its next attempt
(`Dispatcher`'s prefetching).

A task's kind is its handler (function import path or callable name, or agent name) and
its id without a trailing number: ``mProject_00000012`` and ``mProject_00000013`` of one
function are one kind (a WfCommons category), ``fetch-3`` and ``fetch-7`` another.
"""

from __future__ import annotations

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


class DurationBook:
    """A moving average of the durations of each kind of task.

    The first samples are averaged plainly (the weight of a new sample is the larger of
    ``smoothing`` and 1 / samples), later ones exponentially. ``changed`` collects the
    kinds whose duration was first learnt or moved by over a quarter since the ranks
    last used it, and ``new_kinds`` whether a kind was first learnt, for `RankLearner`.
    """

    __slots__ = ("_anchors", "_counts", "_estimates", "_smoothing", "changed", "new_kinds")

    def __init__(self, smoothing: float = 0.2) -> None:
        """Learn with ``smoothing``, the weight of the newest sample once warmed up."""
        self._smoothing = smoothing
        self._estimates: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._anchors: dict[str, float] = {}
        self.changed: set[str] = set()
        self.new_kinds = False

    def learn(self, kind: str, duration_s: float) -> None:
        """Fold one attempt of ``kind`` that lasted ``duration_s`` into its average."""
        estimates = self._estimates
        old_s = estimates.get(kind)
        if old_s is None:
            if len(estimates) >= MAX_KINDS:
                self._forget_oldest()
            estimates[kind] = duration_s
            self._counts[kind] = 1
            self._anchors[kind] = duration_s
            self.changed.add(kind)
            self.new_kinds = True
            return
        count = self._counts[kind] + 1
        self._counts[kind] = count
        new_s = old_s + max(self._smoothing, 1.0 / count) * (duration_s - old_s)
        estimates[kind] = new_s
        anchor_s = self._anchors[kind]
        if new_s > anchor_s * _MOVE_FACTOR or new_s * _MOVE_FACTOR < anchor_s:
            self._anchors[kind] = new_s
            self.changed.add(kind)

    def lookup(self) -> Lookup | None:
        """Return `estimate_s`, or None while nothing is learnt (no kind to look up)."""
        return self.estimate_s if self._estimates else None

    def estimate_s(self, kind: str) -> float | None:
        """Return the learned duration of ``kind``, or None if none of it ended yet."""
        return self._estimates.get(kind)

    def __len__(self) -> int:
        return len(self._estimates)

    def _forget_oldest(self) -> None:
        oldest = next(iter(self._estimates))
        del self._estimates[oldest], self._counts[oldest], self._anchors[oldest]
        self.changed.discard(oldest)
