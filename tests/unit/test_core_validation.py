"""Validation in two parts: structure (no context needed) and fit (the scheduler's context)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import NodeCapacity, ResourceSpec
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.pools import AgentPoolSpec, agent_pool
from orchestrator.core.validation import check_fit, check_structure
from orchestrator.workflow import structure_problems

NODES = (NodeCapacity(node_id="n", num_cpus=4.0),)


def fit_of(
    packed: PackedWorkflow,
    *,
    known_workflow_ids: tuple[str, ...] = (),
    known_pools: dict[str, AgentPoolSpec] | None = None,
    nodes: tuple[NodeCapacity, ...] = NODES,
) -> tuple[Any, dict[str, str]]:
    structure, _ = check_structure(packed)
    fit, problems = check_fit(
        packed,
        structure,
        known_workflow_ids=known_workflow_ids,
        known_pools=known_pools or {},
        nodes=nodes,
        default_function_resources=ResourceSpec(num_cpus=1.0),
        max_function_replicas=8,
    )
    return fit, {p.where: p.message for p in problems}


def test_structure_needs_no_id_and_no_cluster(spec: Any) -> None:
    # A workflow without id whose task no node could hold is still well formed.
    workflow = spec.workflow(spec.task("t", resources={"num_gpus": 8}))
    packed = PackedWorkflow.pack(workflow.model_copy(update={"id": None}))
    structure, problems = check_structure(packed)
    assert problems == []
    assert structure.graph.nodes() == ["t"]
    assert list(structure.agents) == ["worker"]


@pytest.mark.parametrize(
    ("tasks", "agents", "where", "fragment"),
    [
        ([("a", "ghost", ())], ["worker"], "tasks['a'].agent", "(declared: worker)"),
        ([("a", "worker", ("a",))], ["worker"], "tasks['a']", "depends on itself"),
        ([("a", "worker", ("zz",))], ["worker"], "tasks['a']", "'zz', which is not"),
        ([("a", "worker", ()), ("a", "worker", ())], ["worker"], "tasks['a']", "more than once"),
        ([("a", "worker", ())], ["worker", "worker"], "agents[1].name", "used twice"),
    ],
)
def test_structure_problems_are_named(
    spec: Any,
    tasks: list[tuple[str, str, tuple[str, ...]]],
    agents: list[str],
    where: str,
    fragment: str,
) -> None:
    workflow = spec.workflow(
        *(spec.task(task_id, agent, depends_on=deps) for task_id, agent, deps in tasks),
        agents=[spec.agent(name) for name in agents],
    )
    problems = {p.where: p.message for p in structure_problems(workflow)}
    assert list(problems) == [where]
    assert fragment in problems[where]


@pytest.mark.parametrize(
    ("case", "where", "fragment"),
    [
        ("no id", "id", "the workflow has no id"),
        ("known id", "id", "already submitted"),
        ("too big", "tasks['t'].resources", "needs 8 GPU but the largest node has 0"),
        ("redefined", "agents['worker']", "already running with a different definition"),
    ],
)
def test_fit_problems_are_named(spec: Any, case: str, where: str, fragment: str) -> None:
    resources = {"num_gpus": 8} if case == "too big" else {}
    workflow = spec.workflow(spec.task("t", resources=resources or None), workflow_id="wf")
    if case == "no id":
        workflow = workflow.model_copy(update={"id": None})
    known_pools: dict[str, AgentPoolSpec] = {}
    if case == "redefined":  # a pool of the same name already runs, with other replicas
        known_pools = {"worker": agent_pool(spec.agent("worker", replicas=3))}
    _, problems = fit_of(
        PackedWorkflow.pack(workflow),
        known_workflow_ids=("wf",) if case == "known id" else (),
        known_pools=known_pools,
    )
    assert list(problems) == [where]
    assert fragment in problems[where]


def test_fit_places_each_task_in_its_pool(spec: Any) -> None:
    workflow = spec.workflow(
        spec.task("a"),
        spec.task("b", function="m:f"),
        spec.task("c", resources={"num_cpus": 2}),
    )
    fit, problems = fit_of(PackedWorkflow.pack(workflow))
    assert problems == {}
    assert fit.task_pools == ["worker", "functions[cpu=1,gpu=0,mem=0]", "worker[cpu=2,gpu=0,mem=0]"]
    assert set(fit.pools) == set(fit.task_pools)


def test_fit_without_nodes_does_not_check_resources(spec: Any) -> None:
    workflow = spec.workflow(spec.task("t", resources={"num_gpus": 8}))
    _, problems = fit_of(PackedWorkflow.pack(workflow), nodes=())
    assert problems == {}


@pytest.mark.parametrize(("count", "named"), [(1, "task 'big0'"), (8, "and 3 more")])
def test_tasks_that_fit_no_node_are_named_first_five_then_counted(
    spec: Any, count: int, named: str
) -> None:
    # Rows of one pool, interleaved with rows of others (each change of pool is looked
    # up again); the message names the first tasks of the pool that fits no node.
    tasks = []
    for index in range(count):
        tasks.append(spec.task(f"big{index}", resources={"num_cpus": 64}))
        tasks.append(spec.task(f"small{index}", function="m:f"))
    fit, problems = fit_of(PackedWorkflow.pack(spec.workflow(*tasks)))
    big = "worker[cpu=64,gpu=0,mem=0]"
    assert fit.task_pools == [big, "functions[cpu=1,gpu=0,mem=0]"] * count
    assert list(problems) == ["tasks['big0'].resources"]
    message = problems["tasks['big0'].resources"]
    shown = ", ".join(f"'big{index}'" for index in range(min(count, 5)))
    assert shown in message
    assert named in message
    assert f"on agent {big!r} cannot run on this cluster" in message
