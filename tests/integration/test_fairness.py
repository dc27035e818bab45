"""Fair sharing on a real Ray: a small workflow is not starved by a big one running."""

from __future__ import annotations

import time

import pytest

from orchestrator import Orchestrator, TaskState, Workflow, WorkflowState
from tests.integration import workloads

pytestmark = pytest.mark.integration

BIG = 2_000
TASK_S = 0.02


def test_a_small_workflow_ends_long_before_a_big_one_submitted_earlier(
    orchestrator: Orchestrator,
) -> None:
    # Given a big workflow whose tasks already flow (at least BIG * TASK_S / agents, 5 s)
    big = Workflow("fair-big")
    for index in range(BIG):
        big.task(f"b{index}", workloads.sleep_then, args=(TASK_S,))
    big_run = orchestrator.submit(big)
    while big_run.status().count(TaskState.SUCCEEDED) < 50:
        time.sleep(0.05)
    # When a small one of the same priority comes after it
    small = Workflow("fair-small")
    for index in range(10):
        small.task(f"s{index}", workloads.sleep_then, args=(TASK_S, index))
    small_run = orchestrator.submit(small)
    assert small_run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    # Then it got its share at once: most of the big one's backlog is still there (before
    # fair sharing it ran after all of it)
    status = big_run.status()
    assert status.total - status.count(TaskState.SUCCEEDED) > BIG // 2
    assert [small_run.result(f"s{index}") for index in range(10)] == list(range(10))
    big_run.cancel()
    big_run.wait(timeout_s=60)
