"""Event-triggered workflows over the bus: a message published while the supervisor is
down waits on the bus and starts its run once the supervisor is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from orchestrator import EVENT_PAYLOAD, Orchestrator, Workflow, WorkflowState
from orchestrator.settings import CheckpointSettings
from tests.integration import workloads

pytestmark = pytest.mark.integration


@pytest.fixture
def durable(orchestrator: Orchestrator, tmp_path: Path) -> Iterator[Orchestrator]:
    """An orchestrator of its own (its own supervisor and bus) with durable state."""
    settings = orchestrator.settings
    durable_settings = settings.model_copy(
        update={
            "ray": settings.ray.model_copy(update={"supervisor_name": "bus-triggers"}),
            "checkpoint": CheckpointSettings(storage=str(tmp_path / "state")),
        }
    )
    with Orchestrator(settings=durable_settings) as orch:
        yield orch


def _runs(orch: Orchestrator, prefix: str) -> list[str]:
    return [s.workflow_id for s in orch.workflows() if s.workflow_id.startswith(prefix)]


def test_a_trigger_published_while_the_supervisor_is_down_runs_when_it_is_back(
    durable: Orchestrator,
) -> None:
    # Given a workflow triggered by "orders", and one message handled as usual
    wf = Workflow("order")
    wf.task("echo", workloads.sleep_then, args=(0.0, EVENT_PAYLOAD))
    durable.on("orders", wf, name="on-order")
    [first] = durable.publish("orders", 1, timeout_s=60)
    assert durable.attach(first).wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    # When the supervisor dies and a message is published before any new one exists
    ray.kill(durable.supervisor, no_restart=True)
    time.sleep(0.5)
    assert durable.publish("orders", {"n": 2}, wait=False) == []
    stats = durable.bus.statistics().subscription("supervisor.triggers")
    assert stats.depth == 1  # held on the bus for the supervisor that is gone
    # Then the supervisor that replaces it (made by the next driver call) starts its run
    deadline = time.monotonic() + 90
    while len(_runs(durable, "on-order@")) < 2:
        assert time.monotonic() < deadline, "the message waiting on the bus started no run"
        time.sleep(0.2)
    [second] = [r for r in _runs(durable, "on-order@") if r != first]
    run = durable.attach(second)
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    assert run.result("echo") == {"n": 2}
    assert durable.bus.statistics().subscription("supervisor.triggers").depth == 0
