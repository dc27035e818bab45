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
        pool_counts: How many tasks each pool runs.
    """

    task_pools: list[str]
    pools: dict[str, AgentPoolSpec]
    pool_counts: dict[str, int]


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


@dataclass(frozen=True, slots=True)
class Placement:
    """Where each task of a workflow runs: what `check_fit` reads of every row.

    It depends on the workflow and three settings only, so a runtime can make it beside
    the rest of `admission.prepare`, off its event loop.

    Attributes:
        defaults: The settings it was made with (``default_function_resources``,
            ``max_function_replicas``, ``default_breaker``, ``gang_functions``).
        task_pools: Pool key of each row, in row order (rows naming an undeclared agent,
            which `check_structure` reports, are left out).
        pools: Every pool the workflow uses, by key.
        pool_tasks: The first few tasks of each pool (named in messages).
        pool_counts: How many tasks each pool runs.
    """

    defaults: tuple[ResourceSpec, int, BreakerPolicy | None, bool]
    task_pools: list[str]
    pools: dict[str, AgentPoolSpec]
    pool_tasks: dict[str, list[str]]
    pool_counts: dict[str, int]


def place_tasks(
    spec: PackedWorkflow,
    structure: WorkflowStructure,
    default_function_resources: ResourceSpec,
    max_function_replicas: int,
    default_breaker: BreakerPolicy | None = None,
    gang_functions: bool = True,
) -> Placement:
    """Return the pool of each task of ``spec`` (see `Placement`); reads no scheduler."""
    agents = structure.agents
    task_pools: list[str] = []
    pools: dict[str, AgentPoolSpec] = {}
    pool_tasks: dict[str, list[str]] = {}
    pool_counts: dict[str, int] = {}
    # Most tasks share a handful of (agent, resources) pairs: build each pool once.
    pool_cache: dict[tuple[str | None, ResourceSpec | None], AgentPoolSpec | None] = {}
    for task in spec.rows:
        cache_key = (task.agent, task.resources)
        if cache_key in pool_cache:
            pool = pool_cache[cache_key]
        else:
            pool = pool_for_task(
                task,
                agents,
                default_function_resources,
                max_function_replicas,
                default_breaker,
                gang=gang_functions,
            )
            pool_cache[cache_key] = pool
        if pool is None:
            continue  # an undeclared agent: a structure problem
        key = pool.key
        pools.setdefault(key, pool)
        task_pools.append(key)
        named = pool_tasks.setdefault(key, [])
        if len(named) <= _MAX_TASKS_NAMED:  # enough to name them in a message
            named.append(task.id)
        pool_counts[key] = pool_counts.get(key, 0) + 1
    defaults = (default_function_resources, max_function_replicas, default_breaker, gang_functions)
    return Placement(defaults, task_pools, pools, pool_tasks, pool_counts)


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
    gang_functions: bool = True,
    placement: Placement | None = None,
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
        gang_functions: Gang multi-core function tasks (`pools.ganged_function_pool`).
        placement: `place_tasks` made beforehand (used if made with the same settings).

    Returns:
        Where each task runs, and every problem found.
    """
    problems: list[Problem] = []
    if spec.id is None:
        problems.append(Problem("id", "the workflow has no id"))
    elif spec.id in known_workflow_ids:
        problems.append(Problem("id", f"a workflow with id {spec.id!r} was already submitted"))
    defaults = (default_function_resources, max_function_replicas, default_breaker, gang_functions)
    if placement is None or placement.defaults != defaults:
        placement = place_tasks(spec, structure, *defaults)
    pools = placement.pools
    problems.extend(
        _pool_problems(pools, placement.pool_tasks, placement.pool_counts, known_pools, nodes)
    )
    return WorkflowFit(placement.task_pools, pools, placement.pool_counts), problems


def _agents_by_name(spec: RowSource, problems: list[Problem]) -> dict[str, AgentSpec]:
    agents: dict[str, AgentSpec] = {}
    for index, agent in enumerate(spec.agents):
        if agent.name in agents:
            problems.append(
                Problem(f"agents[{index}].name", f"agent name {agent.name!r} is used twice")
            )
        agents[agent.name] = agent
    return agents


def _name_tasks(task_ids: list[str], count: int) -> str:
    shown = ", ".join(repr(task_id) for task_id in task_ids[:_MAX_TASKS_NAMED])
    more = count - _MAX_TASKS_NAMED
    label = "task" if count == 1 else "tasks"
    return f"{label} {shown}" + (f" and {more} more" if more > 0 else "")


def _pool_problems(
    pools: Mapping[str, AgentPoolSpec],
    pool_tasks: Mapping[str, list[str]],
    pool_counts: Mapping[str, int],
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
                problems.append(
                    Problem(
                        f"tasks[{pool_tasks[key][0]!r}].resources",
                        f"{_name_tasks(pool_tasks[key], pool_counts[key])} on agent {key!r} "
                        "cannot run on "
                        f"this cluster: {reason}",
                    )
                )
    return problems
