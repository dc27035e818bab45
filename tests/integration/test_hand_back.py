"""Handing back on a real Ray: long calls give their unstarted tasks back to a newcomer.

Its own orchestrator: a pool that earlier tests left with other workflows' state would
make the arrival below no change of the pool's contest.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from orchestrator import Orchestrator, TaskState, Workflow, WorkflowState
from tests.integration import workloads
from tests.integration.conftest import fast_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def orchestrator() -> Iterator[Orchestrator]:
    # Calls of at least 0.2 s: long even when a busy machine (the whole suite running)
    # stretches the 2-ms tasks, so the newcomer always finds unstarted attempts to take.
    settings = fast_settings()
    scheduler = settings.scheduler.model_copy(update={"independent_batch_s": 0.2})
    with Orchestrator(settings=settings.model_copy(update={"scheduler": scheduler})) as orch:
        yield orch


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
    infos = big_run.tasks()
    handed = [info for info in infos if info.attempts >= 2]
    assert handed, f"no task of {len(infos)} had a second attempt; {len(small_run.tasks())}"
    assert all(info.error_type is None for info in handed)
    results = big_run.results()
    assert all(results[info.task_id] == int(info.task_id[1:]) for info in handed)
    assert [small_run.result(f"s{index}") for index in range(10)] == list(range(10))
