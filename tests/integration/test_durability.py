"""Durable state on a real Ray: pause/resume, a killed supervisor, a restart on saved state.

Each test runs its own supervisor (a name of its own, checkpoints in its own directory) on
this module's Ray; the ledger files written by the tasks are the oracle: which handler
started, how often.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from orchestrator import Orchestrator, TaskState, Workflow, WorkflowState
from orchestrator.settings import CheckpointSettings, Settings
from tests.integration import workloads

pytestmark = pytest.mark.integration


def _durable(orchestrator: Orchestrator, name: str, storage: Path, **checkpoint: Any) -> Settings:
    settings = orchestrator.settings
    return settings.model_copy(
        update={
            "ray": settings.ray.model_copy(update={"supervisor_name": name}),
            "checkpoint": CheckpointSettings(storage=str(storage), **checkpoint),
        }
    )


@pytest.fixture
def durable(
    orchestrator: Orchestrator, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Orchestrator]:
    """An orchestrator of its own, with checkpoints in ``tmp_path / "state"``."""
    name = f"durable-{request.node.name}"[:60].replace("[", "-").replace("]", "")
    with Orchestrator(settings=_durable(orchestrator, name, tmp_path / "state")) as orch:
        yield orch


def _starts(ledger: Path) -> Counter[str]:
    return Counter(e["task"] for e in workloads.read_ledger(ledger) if e.get("event") == "start")


def _wide(ledger: Path, n: int, seconds: float) -> Workflow:
    wf = Workflow("wide")
    for i in range(n):
        wf.task(f"t{i:03d}", workloads.ledgered_sleep, args=(str(ledger), f"t{i:03d}", seconds))
    return wf


def _wait_for(run: Any, done: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while run.status().count(TaskState.SUCCEEDED) < done:
        assert time.monotonic() < deadline, f"fewer than {done} tasks done in {timeout_s}s"
        time.sleep(0.02)


def test_a_paused_workflow_starts_nothing_and_resumes_without_running_a_task_twice(
    durable: Orchestrator, tmp_path: Path
) -> None:
    # Given a 200-task workflow running midway
    ledger = tmp_path / "ledger.jsonl"
    run = durable.submit(_wide(ledger, 200, 0.02))
    _wait_for(run, 40)
    # When it is paused
    key = run.pause()
    # Then a checkpoint was saved, nothing runs, and nothing starts while paused
    assert key is not None and "ckpt-" in key
    status = run.status()
    assert status.state is WorkflowState.PAUSED
    assert status.count(TaskState.RUNNING) == 0
    started = sum(_starts(ledger).values())
    assert started < 200
    time.sleep(1.0)
    assert sum(_starts(ledger).values()) == started
    assert run.status().state is WorkflowState.PAUSED
    # When it is resumed, Then it completes, every task started exactly once
    assert run.resume().state is WorkflowState.RUNNING
    assert run.wait(timeout_s=120).state is WorkflowState.SUCCEEDED
    starts = _starts(ledger)
    assert len(starts) == 200 and set(starts.values()) == {1}


def test_a_killed_supervisor_comes_back_from_its_checkpoint_and_finishes(
    durable: Orchestrator, tmp_path: Path
) -> None:
    # Given 300 tasks running, a third of them done
    ledger = tmp_path / "ledger.jsonl"
    run = durable.submit(_wide(ledger, 300, 0.03))
    _wait_for(run, 100)
    # When the supervisor is killed
    in_flight = run.status().count(TaskState.RUNNING)
    old = durable.supervisor
    ray.kill(old, no_restart=True)
    # Then the driver's next calls reach a new supervisor, reloaded from the checkpoint,
    # which finishes the workflow
    final = run.wait(timeout_s=180)
    assert final.state is WorkflowState.SUCCEEDED
    assert final.count(TaskState.SUCCEEDED) == 300
    assert durable.supervisor != old
    results = run.results()
    assert results == {f"t{i:03d}": f"t{i:03d} done" for i in range(300)}
    # And the tasks run twice are at most those in flight when it died (plus the batch
    # already handed to each agent: tasks dispatched but not yet started then)
    starts = _starts(ledger)
    assert len(starts) == 300
    again = [task for task, n in starts.items() if n > 1]
    assert len(again) <= in_flight + 8, (len(again), in_flight)


def test_a_new_supervisor_on_saved_state_continues_and_keeps_finished_results(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    # Given a chain whose first half ran under one supervisor, which is then stopped
    ledger = tmp_path / "ledger.jsonl"
    settings = _durable(orchestrator, "restart-on-saved", tmp_path / "state")
    wf = Workflow("chain")
    step = workloads.ledgered_sleep_then
    previous = wf.task("s0", step, args=(str(ledger), "s0", 0.3, 0))
    for i in range(1, 6):
        previous = wf.task(f"s{i}", step, args=(str(ledger), f"s{i}", 0.3, previous.output))
    first = Orchestrator(settings=settings)
    run = first.submit(wf)
    _wait_for(run, 3)
    first.attach(run.id).pause()
    first.shutdown()
    # When a new supervisor starts on the same storage, and the workflow is resumed
    with Orchestrator(settings=settings) as second:
        again = second.attach(run.id)
        assert again.status().state is WorkflowState.PAUSED
        done_before = again.status().count(TaskState.SUCCEEDED)
        assert done_before >= 3
        again.resume()
        # Then it finishes; results from before come from the store
        assert again.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
        assert again.result("s0") == 0
        assert again.result("s5") == 0
    starts = _starts(ledger)
    assert set(starts.values()) == {1}, starts
