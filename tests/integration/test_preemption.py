"""Preemption on a real Ray: a CRITICAL task takes the place of preemptible BACKGROUND work.

One CPU, so one agent at a time: every CRITICAL task finds its pool busy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import Orchestrator, Workflow
from orchestrator.core.config import SchedulerConfig
from orchestrator.core.resources import ResourceSpec
from orchestrator.core.states import TaskState, WorkflowState
from tests.integration import preemptible
from tests.integration.conftest import fast_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def orchestrator() -> Iterator[Orchestrator]:
    settings = fast_settings()
    settings = settings.model_copy(
        update={
            "ray": settings.ray.model_copy(update={"num_cpus": 1}),
            "scheduler": SchedulerConfig(
                idle_agent_timeout_s=1.0,
                default_function_resources=ResourceSpec(num_cpus=1.0),
                max_function_replicas=1,
                preemption_grace_s=1.0,
            ),
        }
    )
    with Orchestrator(settings=settings) as orch:
        yield orch


def _wait_for(path: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def test_a_preemptible_task_stops_for_a_critical_one_and_runs_again(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    # Given a preemptible BACKGROUND function task running on the only agent
    background = Workflow("background")
    background.task(
        "steady",
        preemptible.patient,
        args=(str(tmp_path),),
        priority="background",
        preemptible=True,
    )
    bg_run = orchestrator.submit(background)
    _wait_for(tmp_path / "steady-1.started")
    # When a CRITICAL task is submitted
    urgent = Workflow("urgent")
    urgent.task("now", preemptible.started_at, priority="critical")
    submitted = time.time()
    hot_run = orchestrator.submit(urgent)
    assert hot_run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    # Then it started at once (in the agent's urgent lane), well before the 3 s of work
    # ahead of it would have ended
    assert hot_run.result("now") - submitted < 1.5
    # And the preempted task stopped, was re-queued without a failure, and its second
    # attempt ran to the end
    assert bg_run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    assert bg_run.result("steady") == 2
    assert bg_run.task("steady").attempts == 2
    assert bg_run.dead_letters() == []


def test_work_that_ignores_the_request_loses_its_agent_after_the_grace(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    # Given a preemptible task that never looks at ctx.should_stop, on an agent without
    # an urgent lane
    background = Workflow("stubborn")
    background.task(
        "sleepy",
        preemptible.Stubborn,
        args=(str(tmp_path), 4.0),
        priority="background",
        preemptible=True,
    )
    bg_run = orchestrator.submit(background)
    _wait_for(tmp_path / "sleepy-1.started")
    # When a CRITICAL task needs that agent
    urgent = Workflow("stubborn-urgent")
    urgent.task("now", preemptible.Stubborn, args=(str(tmp_path), 0.0), priority="critical")
    hot_run = orchestrator.submit(urgent)
    # Then after the grace period the agent is stopped and the CRITICAL task runs on its
    # replacement; the stopped task runs again, and nothing counts as a failure
    assert hot_run.wait(timeout_s=90).state is WorkflowState.SUCCEEDED
    assert bg_run.wait(timeout_s=90).state is WorkflowState.SUCCEEDED
    assert bg_run.task("sleepy").attempts == 2
    assert (tmp_path / "sleepy-2.started").exists()
    first_agent = (tmp_path / "sleepy-1.started").read_text()
    assert hot_run.result("now") != first_agent  # it ran on a replacement
    assert bg_run.dead_letters() == []


def test_a_critical_task_starts_at_once_with_ten_thousand_background_tasks_queued(
    orchestrator: Orchestrator,
) -> None:
    # Given 10,000 BACKGROUND tasks of 20 ms (200 s of work for the only agent), flowing
    background = Workflow("backlog")
    for index in range(10_000):
        background.task(f"bg-{index}", preemptible.hold, args=(0.02,), priority="background")
    bg_run = orchestrator.submit(background)
    while bg_run.status().count(TaskState.SUCCEEDED) < 20:
        time.sleep(0.05)
    # When CRITICAL tasks are submitted, one after the other
    latencies = []
    for probe in range(5):
        urgent = Workflow(f"probe-{probe}")
        urgent.task("now", preemptible.started_at, priority="critical")
        submitted = time.time()
        run = orchestrator.submit(urgent)
        assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
        latencies.append(run.result("now") - submitted)
    # Then each started long before the backlog ahead of it (the benchmark `priority`
    # measures the latency itself; this machine is shared, so the bound here is loose)
    assert max(latencies) < 1.0, latencies
    assert bg_run.status().count(TaskState.SUCCEEDED) < 5_000  # the backlog was still there
    bg_run.cancel("done probing")
    assert bg_run.wait(timeout_s=60).state is WorkflowState.CANCELLED
