"""Agent-to-agent messages: a planner asks a worker pool from its handler, over the bus."""

from __future__ import annotations

import pytest

from agents.fanout import Planner, Squarer
from orchestrator import Orchestrator, Workflow, WorkflowState
from orchestrator.runtime.bus import BusTimeoutError

pytestmark = pytest.mark.integration


def test_a_planner_fans_work_out_to_a_worker_pool(orchestrator: Orchestrator) -> None:
    # Given a driver following the planner's progress, and workers that are up
    progress = orchestrator.bus.subscribe("fanout.progress", capacity=100)
    wf = Workflow("fanout")
    warm = [wf.task(f"warm-{n}", Squarer) for n in range(2)]
    wf.task("plan", Planner, kwargs={"items": [1, 2, 3, 4, 5]}, depends_on=warm)
    # When the planner runs
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=120).state is WorkflowState.SUCCEEDED
    # Then every item was answered by a replica of the pool, and its progress told
    result = run.result("plan")
    assert result["squares"] == [1, 4, 9, 16, 25]
    replicas = {run.result(f"warm-{n}") for n in range(2)}
    assert set(result["workers"]) <= replicas
    told = [m.payload for m in progress.get_batch(100, 10.0)]
    assert told[-1] == {"done": 5, "of": 5}
    progress.unsubscribe()
    # And the driver can ask one replica by its id (agent.<id>)
    agent_id = result["workers"][0]
    from agents.fanout import SquareReply, SquareRequest
    from orchestrator.runtime.bus.agents import agent_topic

    reply = orchestrator.bus.request(agent_topic(agent_id), SquareRequest(value=7), timeout_s=30)
    assert reply.parse(SquareReply) == SquareReply(value=7, square=49, worker=agent_id)


def test_a_request_nobody_answers_times_out_in_the_handler(orchestrator: Orchestrator) -> None:
    wf = Workflow("lonely")
    kwargs = {"items": [1], "timeout_s": 0.5, "pool": "Nobody"}
    wf.task("plan", Planner, kwargs=kwargs, retry={"max_attempts": 1})
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=120).state is WorkflowState.FAILED
    info = run.task("plan")
    assert info.error_type == BusTimeoutError.__name__
    assert "pool.Nobody" in (info.error_message or "")
