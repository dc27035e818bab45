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


def test_long_calls_hand_back_their_unstarted_tasks_to_a_newcomer(
    orchestrator: Orchestrator,
) -> None:
    # Given a workflow without dependencies of 2-ms tasks running alone: long calls (about
    # `independent_batch_s` each), the next one prefetched behind the running one
    big = Workflow("hand-back-big")
    for index in range(1_500):
        big.task(f"b{index}", workloads.sleep_then, args=(0.002, index))
    big_run = orchestrator.submit(big)
    while big_run.status().count(TaskState.SUCCEEDED) < 300:  # durations learned
        time.sleep(0.05)
    # When a small workflow comes
    small = Workflow("hand-back-small")
    for index in range(10):
        small.task(f"s{index}", workloads.sleep_then, args=(0.002, index))
    small_run = orchestrator.submit(small)
    assert small_run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    assert big_run.wait(timeout_s=120).state is WorkflowState.SUCCEEDED
    # Then the agents handed back what their calls had not started: those tasks went
    # back to the queue and ran again later (a second attempt), none counted as failed
    handed = [info for info in big_run.tasks() if info.attempts >= 2]
    assert handed
    assert all(info.error_type is None for info in handed)
    results = big_run.results()
    assert all(results[info.task_id] == int(info.task_id[1:]) for info in handed)
    assert [small_run.result(f"s{index}") for index in range(10)] == list(range(10))
