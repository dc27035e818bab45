"""Placement by node, and the loss of a node: agents on it replaced, its work re-queued.

The scheduler places each agent on one node whose free capacity holds it, so an agent no
single node can hold is never started, however much the cluster has in sum. When a node
leaves, its agents are lost (the infrastructure's fault: a loss, not a failure), the
results it held are computed again when needed, and tasks that no node can hold any more
fail with the reason instead of waiting forever.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from orchestrator.core import (
    AgentLost,
    ClusterObserved,
    NodeCapacity,
    RetryPolicy,
    TaskState,
    WorkflowState,
)

S = TaskState


def test_an_agent_is_started_only_where_one_node_can_hold_it(driver: Any, spec: Any) -> None:
    # Given two nodes of 3 CPUs, and two 2-CPU agents of pool `a`, one on each node
    driver.send(spec.nodes(3, 3))
    workflow = spec.workflow(
        spec.task("a1", agent="a"),
        spec.task("a2", agent="a"),
        spec.task("b1", agent="b", priority="low"),
        agents=[
            spec.agent("a", replicas=2, resources={"num_cpus": 2}),
            spec.agent("b", replicas=1, resources={"num_cpus": 2}),
        ],
    )
    commands = driver.submit(workflow)
    placed = {c.agent_id: c.node_id for c in commands.of_start()}
    assert set(placed) == {"a#1", "a#2"}
    assert set(placed.values()) == {"node-0", "node-1"}
    # Then b waits: 2 CPUs are free in sum, but on no single node
    assert driver.state("b1") is S.READY
    # When a's agents are done, one of them makes way for b, which gets its node
    commands = driver.finish(*commands.orders)
    assert commands.stopped == ["a#1"]
    [start_b] = commands.of_start()
    assert (start_b.agent_id, start_b.node_id) == ("b#1", placed["a#1"])


def test_tasks_fail_when_no_node_can_hold_their_agent_any_more(driver: Any, spec: Any) -> None:
    # Given a CPU node and a GPU node, a GPU task running and another queued
    nodes = (
        NodeCapacity(node_id="cpu", num_cpus=4),
        NodeCapacity(node_id="gpu", num_cpus=4, num_gpus=1),
    )
    driver.send(ClusterObserved(nodes=nodes))
    workflow = spec.workflow(
        spec.task("train", agent="gpu"),
        spec.task("train2", agent="gpu"),
        spec.task("report", agent="cpu", depends_on=["train"]),
        agents=[
            spec.agent("gpu", replicas=1, resources={"num_gpus": 1}),
            spec.agent("cpu", replicas=1),
        ],
    )
    commands = driver.submit(workflow)
    assert [c.node_id for c in commands.of_start() if c.agent_id == "gpu#1"] == ["gpu"]
    # When the GPU node leaves the cluster (its agent reported lost with it)
    commands = driver.send(AgentLost(agent_id="gpu#1", cause="node_lost", reason="node gone"))
    assert commands.started == []  # no replacement on a node that is gone
    driver.send(ClusterObserved(nodes=nodes[:1]))  # the observation confirms it later
    # Then both GPU tasks fail, saying why, and what depends on them is skipped
    for name in ("train", "train2"):
        info = driver.scheduler.task_info("wf", name)
        assert (info.state, info.error_type) == (S.FAILED, "Infeasible"), info
        assert "needs 1 GPU but the largest node has 0" in (info.error_message or "")
    assert driver.state("report") is S.SKIPPED
    assert driver.scheduler.workflow_status("wf").state is WorkflowState.FAILED


def test_losing_a_node_midway_loses_nothing(spec: Any, make_sim: Any) -> None:
    # Given 500 tasks on a simulated 4-node cluster (2 CPUs each), in a random DAG
    rng = random.Random(11)
    retry = RetryPolicy(max_agent_losses=5)
    tasks = []
    for index in range(500):
        window = range(max(0, index - 30), index)
        deps = [f"t{j}" for j in rng.sample(window, min(len(window), rng.choice([0, 1, 2])))]
        tasks.append(spec.task(f"t{index}", depends_on=deps, retry=retry))
    sim = make_sim(rng=rng, duration_s=0.05)
    sim.send(spec.nodes(2, 2, 2, 2))
    sim.submit(spec.workflow(*tasks, agents=[spec.agent("worker", replicas=8)]))
    # When one worker node is removed after 200 results
    sim.run(until_s=_time_of_result(sim, 200))
    assert sum(sim.ledger.results.values()) >= 200
    sim.remove_node("node-2")
    sim.run()
    # Then all 500 tasks succeeded, none lost, no result recorded twice unless its
    # result was lost with the node and computed again
    assert sim.ledger.violations == []
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    recomputed = Counter(
        e.task_id
        for e in sim.ledger.task_events
        if e.state is S.PENDING and "its result was lost" in e.message
    )
    for index in range(500):
        assert sim.ledger.results[("wf", f"t{index}")] == 1 + recomputed[f"t{index}"]
    # And re-executions are no more than the attempts in flight on that node, plus the
    # results it held that were needed again
    attempts = len(sim.ledger.attempts)
    input_lost = len(sim.ledger.input_losses)
    extra = attempts - 500 - input_lost
    assert sim.ledger.in_flight_on_removal > 0  # the loss really cost something
    assert extra <= sim.ledger.in_flight_on_removal + sum(recomputed.values())
    # And nothing was started on the node after it left
    killed = set(sim.ledger.agents_killed)
    assert killed and all(sim_agent.node_id != "node-2" for sim_agent in sim.agents.values())


def _time_of_result(sim: Any, count: int) -> float:
    """Run ``sim`` until ``count`` results are recorded; return the time then."""
    step_s = 0.01
    while sum(sim.ledger.results.values()) < count:
        sim.run(until_s=sim.clock.now_s() + step_s)
    now_s: float = sim.clock.now_s()
    return now_s
