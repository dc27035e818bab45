"""On local Ray: conditional tasks (``run_if`` judged by the agent) and new dependencies."""

from __future__ import annotations

import pytest

from orchestrator import Orchestrator, Workflow, WorkflowRejectedError
from orchestrator.core.states import TaskState, WorkflowState
from tests.integration import placement_workloads as work
from tests.integration import workloads

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


def test_new_dependencies_hold_a_task_that_has_not_started(orchestrator: Orchestrator) -> None:
    # Given slow -> late, and quick alone
    wf = Workflow("edges")
    wf.task("slow", workloads.sleep_then, args=(3.0, "slow"))
    wf.task("late", work.value, args=("late",), depends_on=["slow"])
    wf.task("quick", work.value, args=("quick",))
    run = orchestrator.submit(wf)
    # When late must also wait for a new task, itself after quick
    extra = Workflow("extra")
    extra.task("check", workloads.sleep_then, args=(0.5, "checked"), depends_on=["quick"])
    assert run.add_dependencies({"late": ["check", "quick"]}, tasks=extra) == ["check"]
    # And an edit naming a task already running, or an unknown one, is refused whole
    with pytest.raises(WorkflowRejectedError) as exc:
        run.add_dependencies({"slow": ["quick"], "ghost": ["quick"]})
    text = str(exc.value)
    assert "task 'slow' is running" in text or "task 'slow' is succeeded" in text
    assert "task 'ghost' is not in the workflow" in text
    # Then late ran after check, and the workflow succeeded with 4 tasks
    status = run.wait(timeout_s=120)
    assert status.state is WorkflowState.SUCCEEDED
    assert status.total == 4
    late, check = run.task("late"), run.task("check")
    assert late.started_s is not None and check.finished_s is not None
    assert late.started_s >= check.finished_s
    assert run.result("check") == "checked"
