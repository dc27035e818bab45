"""Cross-reference checks of a submitted workflow, in two parts, each reporting every problem.

- `check_structure` needs nothing but the workflow: agent names, the agents tasks name,
  task ids and the dependency graph. Drivers, the loader and the scheduler all run it.
- `check_fit` needs the scheduler's context: the workflow's id against those already
  submitted, the pools the tasks run in against the pools already running, and their
  resources against the cluster's nodes. Only the scheduler runs it.

The scheduler runs both and reports their problems together, so a user sees every problem
of a submission at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from orchestrator.core.breaker import BreakerPolicy
from orchestrator.core.errors import Problem
from orchestrator.core.graph import TaskGraph
from orchestrator.core.packed import PackedWorkflow, TaskRow
from orchestrator.core.pools import AgentPoolSpec, pool_for_task
from orchestrator.core.resources import NodeCapacity, ResourceSpec, describe_infeasible
from orchestrator.core.specs import AgentSpec

_MAX_TASKS_NAMED = 5


class RowSource(Protocol):
    """What `check_structure` reads: agents and rows (a `PackedWorkflow`, or rows made lazily).

    Rows are read once, in order, and not kept: a driver can check a large workflow's
    structure from rows packed one at a time, without a packed copy of the whole.
    """

    @property
    def agents(self) -> tuple[AgentSpec, ...]:
        """Agent declarations."""
        ...

    @property
    def rows(self) -> Iterable[TaskRow]:
        """One row per task, in submission order."""
        ...


@dataclass(frozen=True, slots=True)
class WorkflowStructure:
    """What `check_structure` had to build anyway, for `check_fit` and the scheduler.

    Attributes:
        graph: The dependency graph, not yet prepared.
        agents: The declared agents by name (the last one of a name used twice).
    """

    graph: TaskGraph
    agents: dict[str, AgentSpec]


@dataclass(frozen=True, slots=True)
class WorkflowFit:
    """Where the tasks of a workflow run, as `check_fit` found it.

    Attributes:
        task_pools: Pool key of each row, in row order (rows naming an undeclared agent,
            which `check_structure` reports, are left out).
        pools: Every pool the workflow uses, by key.
    """

    task_pools: list[str]
    pools: dict[str, AgentPoolSpec]


def check_structure(spec: RowSource) -> tuple[WorkflowStructure, list[Problem]]:
    """Check agent names, the agents tasks name, task ids and the graph of ``spec``.

    Returns:
        The structure and every problem found (none when the workflow is well formed).
    """
    problems: list[Problem] = []
    agents = _agents_by_name(spec, problems)
    graph = TaskGraph()
    declared = ", ".join(sorted(agents)) or "none"

    def nodes() -> Iterator[tuple[str, tuple[str, ...]]]:
        for task in spec.rows:
            agent = task.agent
            if agent is not None and agent not in agents:
                problems.append(
                    Problem(
                        f"tasks[{task.id!r}].agent",
                        f"agent {agent!r} is not declared in the workflow (declared: {declared})",
                    )
                )
            yield task.id, task.inputs

    graph.add_all(nodes())
    for problem in graph.problems():
        problems.append(Problem(f"tasks[{problem.node!r}]", problem.message))
    return WorkflowStructure(graph, agents), problems


def check_fit(
    spec: PackedWorkflow,
    structure: WorkflowStructure,
    *,
    known_workflow_ids: Collection[str],
    known_pools: Mapping[str, AgentPoolSpec],
    nodes: tuple[NodeCapacity, ...],
    default_function_resources: ResourceSpec,
    max_function_replicas: int,
    default_breaker: BreakerPolicy | None = None,
) -> tuple[WorkflowFit, list[Problem]]:
    """Check ``spec``'s id and pools against the scheduler's workflows, pools and nodes.

    Args:
        spec: The workflow.
        structure: What `check_structure` returned for it.
        known_workflow_ids: Ids of the workflows the scheduler keeps.
        known_pools: Pools that must not be redefined (those with unfinished tasks).
        nodes: The cluster's nodes; when empty, resources are not checked.
        default_function_resources: Resources of a function task that declares none.
        max_function_replicas: Most replicas of each function pool.
        default_breaker: The breaker of pools that declare none.

    Returns:
        Where each task runs, and every problem found.
    """
    problems: list[Problem] = []
    if spec.id is None:
        problems.append(Problem("id", "the workflow has no id"))
    elif spec.id in known_workflow_ids:
        problems.append(Problem("id", f"a workflow with id {spec.id!r} was already submitted"))
    agents = structure.agents
    task_pools: list[str] = []
    pools: dict[str, AgentPoolSpec] = {}
    # Most tasks share a handful of (agent, resources) pairs: build each pool once, and
    # while a row has the very objects of the row before, take its pool without a lookup.
    pool_cache: dict[tuple[str | None, ResourceSpec | None], AgentPoolSpec | None] = {}
    last_agent: object = _UNSET
    last_resources: object = _UNSET
    key: str | None = None
    for task in spec.rows:
        agent, resources = task.agent, task.resources
        if agent is not last_agent or resources is not last_resources:
            last_agent, last_resources = agent, resources
            cache_key = (agent, resources)
            if cache_key in pool_cache:
                pool = pool_cache[cache_key]
            else:
                pool = pool_for_task(
                    task, agents, default_function_resources, max_function_replicas, default_breaker
                )
                pool_cache[cache_key] = pool
            key = None if pool is None else pool.key
            if pool is not None:
                pools.setdefault(pool.key, pool)
        if key is not None:  # else an undeclared agent: a structure problem
            task_pools.append(key)
    problems.extend(_pool_problems(spec, pool_cache, pools, known_pools, nodes))
    return WorkflowFit(task_pools, pools), problems


_UNSET = object()


def _agents_by_name(spec: RowSource, problems: list[Problem]) -> dict[str, AgentSpec]:
    agents: dict[str, AgentSpec] = {}
    for index, agent in enumerate(spec.agents):
        if agent.name in agents:
            problems.append(
                Problem(f"agents[{index}].name", f"agent name {agent.name!r} is used twice")
            )
        agents[agent.name] = agent
    return agents


def _name_tasks(task_ids: list[str]) -> str:
    shown = ", ".join(repr(task_id) for task_id in task_ids[:_MAX_TASKS_NAMED])
    more = len(task_ids) - _MAX_TASKS_NAMED
    label = "task" if len(task_ids) == 1 else "tasks"
    return f"{label} {shown}" + (f" and {more} more" if more > 0 else "")


def _pool_problems(
    spec: PackedWorkflow,
    pool_cache: Mapping[tuple[str | None, ResourceSpec | None], AgentPoolSpec | None],
    pools: Mapping[str, AgentPoolSpec],
    known_pools: Mapping[str, AgentPoolSpec],
    nodes: tuple[NodeCapacity, ...],
) -> list[Problem]:
    problems = []
    for key, pool in pools.items():
        known = known_pools.get(key)
        if known is not None and not known.same_definition(pool):
            problems.append(
                Problem(
                    f"agents[{key!r}]",
                    f"agent {key!r} is already running with a different definition",
                )
            )
        if nodes:
            reason = describe_infeasible(pool.resources.as_vector(), nodes)
            if reason is not None:
                task_ids = _tasks_in(spec, pool_cache, key)  # found only to be named
                problems.append(
                    Problem(
                        f"tasks[{task_ids[0]!r}].resources",
                        f"{_name_tasks(task_ids)} on agent {key!r} cannot run on "
                        f"this cluster: {reason}",
                    )
                )
    return problems


def _tasks_in(
    spec: PackedWorkflow,
    pool_cache: Mapping[tuple[str | None, ResourceSpec | None], AgentPoolSpec | None],
    key: str,
) -> list[str]:
    """Return the ids of ``spec``'s tasks that run in pool ``key``, in order."""
    task_ids = []
    for task in spec.rows:
        pool = pool_cache[(task.agent, task.resources)]
        if pool is not None and pool.key == key:
            task_ids.append(task.id)
    return task_ids
