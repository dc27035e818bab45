"""Concurrency limits: per workflow, per tenant and overall; held tasks wait their turn."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import (
    SchedulerConfig,
    TaskState,
    WorkflowCancelRequested,
    WorkflowPauseRequested,
    WorkflowResumeRequested,
    WorkflowState,
)

S = TaskState


def _most_at_once(sim: Any, workflow_ids: set[str] | None = None) -> int:
    """The most attempts that ran at the same time (from the ledger), of some workflows."""
    edges = []
    for (workflow_id, _), spans in sim.ledger.effect_times.items():
        if workflow_ids is None or workflow_id in workflow_ids:
            for start, end in spans:
                edges += [(start, 1), (end, -1)]
    running = most = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        running += step
        most = max(most, running)
    return most


def _wide(spec: Any, n: int, workflow_id: str = "wf", **fields: Any) -> Any:
    workflow = spec.workflow(
        *[spec.task(f"t{i}") for i in range(n)],
        agents=[spec.agent(replicas=4)],
        workflow_id=workflow_id,
    )
    return workflow.model_copy(update=fields)


def test_a_workflow_never_runs_more_than_its_max_concurrency(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=1.0)
    sim.submit(_wide(spec, 10, max_concurrency=2))
    sim.run()
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    assert _most_at_once(sim) == 2
    unlimited = make_sim(duration_s=1.0)
    unlimited.submit(_wide(spec, 10))
    unlimited.run()
    assert _most_at_once(unlimited) == 4  # the pool's own limit: its replicas


def test_held_tasks_go_in_priority_order(spec: Any, make_sim: Any) -> None:
    tasks = [spec.task("first"), *[spec.task(f"low{i}", priority="low") for i in range(3)]]
    tasks.append(spec.task("urgent", priority="critical", depends_on=["first"]))
    workflow = spec.workflow(*tasks, agents=[spec.agent(replicas=4)]).model_copy(
        update={"max_concurrency": 1}
    )
    sim = make_sim(duration_s=1.0)
    sim.submit(workflow)
    sim.run()
    order = [o.task_id for _, _, o in sim.ledger.attempts]
    assert order[:2] == ["first", "urgent"]  # urgent went before the low ones held earlier


def test_a_tenant_limit_is_shared_by_its_workflows(spec: Any, make_sim: Any) -> None:
    config = SchedulerConfig(tenant_max_running={"team-a": 3})
    sim = make_sim(config=config, duration_s=1.0)
    agents = [spec.agent(replicas=8)]
    for workflow_id, tenant in (("a1", "team-a"), ("a2", "team-a"), ("b1", "team-b")):
        workflow = spec.workflow(
            *[spec.task(f"t{i}") for i in range(6)], agents=agents, workflow_id=workflow_id
        )
        sim.submit(workflow.model_copy(update={"tenant": tenant}))
    sim.run()
    assert all(
        sim.scheduler.workflow_status(w).state is WorkflowState.SUCCEEDED
        for w in ("a1", "a2", "b1")
    )
    assert _most_at_once(sim, {"a1", "a2"}) == 3
    assert _most_at_once(sim, {"b1"}) >= 4  # team-b has no limit of its own


def test_the_global_limit_bounds_every_workflow_together(spec: Any, make_sim: Any) -> None:
    sim = make_sim(config=SchedulerConfig(max_running_attempts=2), duration_s=1.0)
    sim.submit(_wide(spec, 5, workflow_id="one"))
    sim.submit(_wide(spec, 5, workflow_id="two"))
    sim.run()
    assert _most_at_once(sim) == 2
    assert sim.all_workflows_ended()


def test_held_tasks_cancelled_or_paused_never_start_and_the_slots_stay_right(
    spec: Any, make_sim: Any
) -> None:
    # Given a limit of 1: t0 runs, the others are held
    sim = make_sim(duration_s=1.0)
    sim.submit(_wide(spec, 4, max_concurrency=1))
    sim.run(until_s=sim.clock.now_s() + 0.5)
    # When it is paused, nothing more starts
    sim.send(WorkflowPauseRequested(workflow_id="wf"))
    sim.run(until_s=sim.clock.now_s() + 5.0)
    assert len(sim.ledger.attempts) == 1
    # When it resumes, the rest runs one at a time
    sim.send(WorkflowResumeRequested(workflow_id="wf"))
    sim.run()
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    assert _most_at_once(sim) == 1
    # And a held task cancelled never starts, and frees nothing it did not take
    other = make_sim(duration_s=1.0)
    other.submit(_wide(spec, 3, max_concurrency=1))
    other.run(until_s=other.clock.now_s() + 0.5)
    other.send(WorkflowCancelRequested(workflow_id="wf"))
    other.run()
    assert [o.task_id for _, _, o in other.ledger.attempts] == ["t0"]


def test_a_lost_agent_frees_its_slots(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=1.0)
    sim.submit(_wide(spec, 6, max_concurrency=2))
    sim.run(until_s=sim.clock.now_s() + 0.5)
    [agent_id, *_] = sorted(sim.agents)
    sim.kill(agent_id, cause="killed")
    sim.run()
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    assert _most_at_once(sim) <= 2 + 1  # the killed attempt's effect may overlap its re-run


@pytest.mark.parametrize("value", [0, -1])
def test_a_limit_below_one_is_refused(spec: Any, value: int) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        spec.workflow(spec.task("a")).model_validate(
            {**spec.workflow(spec.task("a")).model_dump(), "max_concurrency": value}
        )
    with pytest.raises(ValueError, match="tenant_max_running"):
        SchedulerConfig(tenant_max_running={"x": value})
