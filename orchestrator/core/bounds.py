"""Lower bounds on a workflow's makespan: how fast could any scheduler possibly finish it?

Two classic bounds hold for every schedule on ``slots`` CPUs:

- **critical path**: a task cannot start before its dependencies end, so the makespan is
  at least the longest chain of estimated durations;
- **work**: at most ``slots`` CPUs are busy at any moment, so the makespan is at least the
  total CPU-seconds divided by ``slots``.

Their maximum is what a measured wall time is compared with: a ratio of 1.0 is a perfect
schedule, and the excess is scheduling overhead plus idle slots.

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
        bound_s: ``max(critical_path_s, total_work_s / slots)``; derived, not passed in.
    """

    critical_path_s: float
    total_work_s: float
    slots: int
    critical_path: tuple[str, ...] = ()
    tasks_without_estimate: int = 0
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

    def ratio(self, wall_s: float) -> float:
        """Return ``wall_s / bound_s`` (1.0 is optimal); ``inf`` when the bound is 0 s."""
        if self.bound_s <= 0:
            return math.inf if wall_s > 0 else 1.0
        return wall_s / self.bound_s


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
    )
