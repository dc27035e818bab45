"""Lower bounds on a workflow's makespan: how fast could any scheduler possibly finish it?

Two classic bounds hold for every schedule on ``slots`` CPUs:

- **critical path**: a task cannot start before its dependencies end, so the makespan is
  at least the longest chain of estimated durations;
- **work**: at most ``slots`` CPUs are busy at any moment, so the makespan is at least the
  total CPU-seconds divided by ``slots``.

Their maximum is what a measured wall time is compared with: a ratio of 1.0 is a perfect
schedule, and the excess is scheduling overhead plus idle slots.

A third, tighter one (`LowerBound.staged_bound_s`) combines them. A task cannot start
before its longest chain of ancestors has run (its *head*), nor end later than the
makespan minus its longest chain of descendants (its *tail*). So for any time ``T``, the
work of the tasks whose head is at least ``T`` happens after ``T``, and the makespan is at
least ``T`` plus that work over ``slots``; likewise with tails, at the end. The largest of
these over every task's head and tail is the staged bound. It catches a long root task
that every other task waits for, which the two classic bounds miss (a workflow whose
first 878 s of 1,057 s are one task).

How a task counts:

- Its duration is ``estimated_duration_s``; a task without one counts as 0 s (still a
  valid lower bound) and is counted in `LowerBound.tasks_without_estimate`.
- Its cores are ``resources.num_cpus``, else its agent's ``num_cpus``, else
  ``default_num_cpus`` (1, what a function task gets). Fractions count as fractions: two
  half-CPU tasks fit in one slot, so each adds half its duration to the work. A task with
  0 CPUs holds no slot: it adds no work but still lengthens its chain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.core.graph import TaskGraph
from orchestrator.core.specs import AgentSpec, TaskSpec, WorkflowSpec


@dataclass(frozen=True, slots=True)
class LowerBound:
    """The makespan no schedule on ``slots`` CPUs can beat, and what it is made of.

    Attributes:
        critical_path_s: Sum of the durations along the longest dependency chain.
        total_work_s: Sum over tasks of duration times cores (CPU-seconds).
        slots: CPUs available.
        critical_path: Task ids of that chain, first task first.
        tasks_without_estimate: Tasks that had no ``estimated_duration_s`` (counted as 0 s).
        staged_bound_s: The head/tail bound of the module docstring (0 when not computed).
        bound_s: ``max(critical_path_s, total_work_s / slots)``; derived, not passed in.
    """

    critical_path_s: float
    total_work_s: float
    slots: int
    critical_path: tuple[str, ...] = ()
    tasks_without_estimate: int = 0
    staged_bound_s: float = 0.0
    bound_s: float = field(init=False)

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"slots must be at least 1, got {self.slots}")
        object.__setattr__(
            self, "bound_s", max(self.critical_path_s, self.total_work_s / self.slots)
        )

    @property
    def work_bound_s(self) -> float:
        """``total_work_s / slots``: the makespan if every slot were busy all the time."""
        return self.total_work_s / self.slots

    @property
    def tight_bound_s(self) -> float:
        """The largest of the classic bound and the staged one (what to judge against)."""
        return max(self.bound_s, self.staged_bound_s)

    def ratio(self, wall_s: float) -> float:
        """Return ``wall_s / bound_s`` (1.0 is optimal); ``inf`` when the bound is 0 s."""
        return _ratio(wall_s, self.bound_s)

    def tight_ratio(self, wall_s: float) -> float:
        """Return ``wall_s / tight_bound_s`` (1.0 is optimal)."""
        return _ratio(wall_s, self.tight_bound_s)


def _ratio(wall_s: float, bound_s: float) -> float:
    if bound_s <= 0:
        return math.inf if wall_s > 0 else 1.0
    return wall_s / bound_s


def staged_bound_s(
    graph: TaskGraph, durations_s: Mapping[str, float], work_s: Mapping[str, float], slots: int
) -> float:
    """Return the head/tail bound of the module docstring.

    Args:
        graph: The dependency graph, valid.
        durations_s: Each task's duration.
        work_s: Each task's CPU-seconds (duration times cores).
        slots: CPUs available.
    """
    order = graph.topological_order()
    head: dict[str, float] = {}
    for node in order:
        head[node] = max(
            (head[dep] + durations_s[dep] for dep in graph.dependencies(node)), default=0.0
        )
    tail: dict[str, float] = {}
    for node in reversed(order):
        tail[node] = max(
            (tail[child] + durations_s[child] for child in graph.dependents(node)), default=0.0
        )
    return max(_energy_bound(head, work_s, slots), _energy_bound(tail, work_s, slots))


def _energy_bound(offsets: Mapping[str, float], work_s: Mapping[str, float], slots: int) -> float:
    """Return max over ``T`` of ``T + (work of the tasks whose offset >= T) / slots``."""
    best = 0.0
    work_after = 0.0
    for node in sorted(offsets, key=offsets.__getitem__, reverse=True):
        work_after += work_s[node]
        best = max(best, offsets[node] + work_after / slots)
    return best


def task_cores(
    task: TaskSpec, agents: Mapping[str, AgentSpec] | None = None, default_num_cpus: float = 1.0
) -> float:
    """Return the CPUs ``task`` holds while it runs (see the module docstring)."""
    if task.resources is not None:
        return task.resources.num_cpus
    if task.agent is not None and agents is not None and task.agent in agents:
        return agents[task.agent].resources.num_cpus
    return default_num_cpus


def lower_bound_s(spec: WorkflowSpec, slots: int, *, default_num_cpus: float = 1.0) -> LowerBound:
    """Return the makespan lower bound of ``spec`` on ``slots`` CPUs.

    Args:
        spec: The workflow; its graph must be valid (see `TaskGraph.validate`).
        slots: CPUs available to the workflow, at least 1.
        default_num_cpus: CPUs of a function task that declares no resources.

    Returns:
        The bound and its two components.

    Raises:
        ValueError: ``slots`` is below 1, or a task needs more CPUs than ``slots`` (then no
            schedule exists at all).
        GraphValidationError: the dependency graph has a cycle or a missing task.
    """
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ValueError(f"slots must be a whole number >= 1, got {slots!r}")
    agents = {agent.name: agent for agent in spec.agents}
    graph = TaskGraph()
    durations_s: dict[str, float] = {}
    work_s: dict[str, float] = {}
    total_work_s = 0.0
    without_estimate = 0
    too_big: list[str] = []
    for task in spec.tasks:
        graph.add(task.id, task.dependencies())
        duration_s = task.estimated_duration_s
        if duration_s is None:
            without_estimate += 1
            duration_s = 0.0
        cores = task_cores(task, agents, default_num_cpus)
        if cores > slots:
            too_big.append(f"{task.id!r} ({cores:g} CPUs)")
        durations_s[task.id] = duration_s
        work_s[task.id] = duration_s * cores
        total_work_s += duration_s * cores
    if too_big:
        shown = ", ".join(too_big[:5]) + (
            f" and {len(too_big) - 5} more" if len(too_big) > 5 else ""
        )
        label = "task" if len(too_big) == 1 else "tasks"
        raise ValueError(
            f"no schedule on {slots} slot(s) exists: {label} {shown} need more CPUs than that"
        )
    graph.validate()
    path = graph.critical_path(durations_s)
    return LowerBound(
        critical_path_s=path.length_s,
        total_work_s=total_work_s,
        slots=slots,
        critical_path=path.nodes,
        tasks_without_estimate=without_estimate,
        staged_bound_s=staged_bound_s(graph, durations_s, work_s, slots),
    )
