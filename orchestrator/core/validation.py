"""Cross-reference checks of a submitted workflow, reporting every problem at once."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from orchestrator.core.errors import Problem
from orchestrator.core.graph import TaskGraph
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.pools import AgentPoolSpec, pool_for_task
from orchestrator.core.resources import NodeCapacity, ResourceSpec, describe_infeasible
from orchestrator.core.specs import AgentSpec

_MAX_TASKS_NAMED = 5


@dataclass(frozen=True, slots=True)
class ValidatedWorkflow:
    """A workflow that passed validation, with what validation had to compute anyway.

    Attributes:
        graph: The dependency graph, not yet prepared.
        task_pools: Pool key of each row, in row order.
        pools: Every pool the workflow uses, by key.
    """

    graph: TaskGraph
    task_pools: list[str]
    pools: dict[str, AgentPoolSpec]


def _name_tasks(task_ids: list[str], count: int) -> str:
    shown = ", ".join(repr(task_id) for task_id in task_ids[:_MAX_TASKS_NAMED])
    more = count - _MAX_TASKS_NAMED
    label = "task" if count == 1 else "tasks"
    return f"{label} {shown}" + (f" and {more} more" if more > 0 else "")


def validate_workflow(
    spec: PackedWorkflow,
    *,
    known_workflow_ids: Collection[str],
    known_pools: Mapping[str, AgentPoolSpec],
    nodes: tuple[NodeCapacity, ...],
    default_function_resources: ResourceSpec,
    max_function_replicas: int,
) -> tuple[ValidatedWorkflow | None, list[Problem]]:
    """Check ids, agents, the graph and resources of ``spec``.

    Returns:
        The validated workflow and no problems, or None and every problem found.
    """
    problems: list[Problem] = []
    if spec.id is None:
        problems.append(Problem("id", "the workflow has no id"))
    elif spec.id in known_workflow_ids:
        problems.append(Problem("id", f"a workflow with id {spec.id!r} was already submitted"))
    agents = _agents_by_name(spec, problems)

    graph = TaskGraph()
    task_pools: list[str] = []
    pools: dict[str, AgentPoolSpec] = {}
    pool_tasks: dict[str, list[str]] = {}
    pool_counts: dict[str, int] = {}
    # Most tasks share a handful of (agent, resources) pairs: build each pool once.
    pool_cache: dict[tuple[str | None, ResourceSpec | None], AgentPoolSpec | None] = {}
    for task in spec.rows:
        graph.add(task.id, task.inputs)
        cache_key = (task.agent, task.resources)
        if cache_key in pool_cache:
            pool = pool_cache[cache_key]
        else:
            pool = pool_for_task(task, agents, default_function_resources, max_function_replicas)
            pool_cache[cache_key] = pool
        if pool is None:
            declared = ", ".join(sorted(agents)) or "none"
            problems.append(
                Problem(
                    f"tasks[{task.id!r}].agent",
                    f"agent {task.agent!r} is not declared in the workflow (declared: {declared})",
                )
            )
            continue
        pools.setdefault(pool.key, pool)
        task_pools.append(pool.key)
        named = pool_tasks.setdefault(pool.key, [])
        if len(named) <= _MAX_TASKS_NAMED:  # enough to name them in a message
            named.append(task.id)
        pool_counts[pool.key] = pool_counts.get(pool.key, 0) + 1

    for problem in graph.problems():
        problems.append(Problem(f"tasks[{problem.node!r}]", problem.message))
    problems.extend(_pool_problems(pools, pool_tasks, pool_counts, known_pools, nodes))
    if problems:
        return None, problems
    return ValidatedWorkflow(graph, task_pools, pools), []


def _agents_by_name(spec: PackedWorkflow, problems: list[Problem]) -> dict[str, AgentSpec]:
    agents: dict[str, AgentSpec] = {}
    for index, agent in enumerate(spec.agents):
        if agent.name in agents:
            problems.append(
                Problem(f"agents[{index}].name", f"agent name {agent.name!r} is used twice")
            )
        agents[agent.name] = agent
    return agents


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
