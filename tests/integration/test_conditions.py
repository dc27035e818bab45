"""Conditional tasks on local Ray: the agent judges ``run_if`` on the upstream results."""

from __future__ import annotations

import pytest

from orchestrator import Orchestrator, Workflow
from orchestrator.core.states import TaskState, WorkflowState
from tests.integration import placement_workloads as work

pytestmark = pytest.mark.integration


def test_a_predicate_on_upstream_results_runs_or_skips_a_branch(
    orchestrator: Orchestrator,
) -> None:
    # Given measure (42) -> large (run_if > 10, by import path) and small (run_if > 100)
    wf = Workflow("conditions")
    measure = wf.task("measure", work.value, args=(42,))
    wf.task("large", work.value, args=(measure.output,), run_if=work.is_large)
    wf.task(
        "small",
        work.SpreadProbe,
        args=(0.0,),
        depends_on=["measure"],
        run_if=lambda inputs: inputs["measure"] > 100,
    )
    wf.task("after-small", work.value, args=("x",), depends_on=["small"])
    wf.task("cleanup", work.value, args=("done",), depends_on=["small"], trigger_rule="all_done")
    run = orchestrator.submit(wf)
    status = run.wait(timeout_s=120)
    # Then the large branch ran, the small one was skipped with what follows it by the
    # default rule, the all_done task ran, and the workflow succeeded
    states = {info.task_id: info.state for info in run.tasks()}
    assert states == {
        "measure": TaskState.SUCCEEDED,
        "large": TaskState.SUCCEEDED,
        "small": TaskState.SKIPPED,
        "after-small": TaskState.SKIPPED,
        "cleanup": TaskState.SUCCEEDED,
    }
    assert status.state is WorkflowState.SUCCEEDED
    assert run.result("large") == 42
    small = run.task("small")
    assert small.error_type == "ConditionNotMet"
    assert "answered False" in (small.error_message or "")


def test_a_predicate_that_raises_fails_its_task_without_retry(orchestrator: Orchestrator) -> None:
    wf = Workflow("broken-condition")
    wf.task("a", work.value, args=(1,))
    wf.task(
        "b",
        work.value,
        args=(2,),
        depends_on=["a"],
        run_if="tests.integration.placement_workloads:broken_predicate",
        retry={"max_attempts": 3},
    )
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=120).state is WorkflowState.FAILED
    info = run.task("b")
    assert info.state is TaskState.FAILED
    assert info.attempts == 1
    assert info.error_type == "ConditionError"
    assert "raised KeyError" in (info.error_message or "")
