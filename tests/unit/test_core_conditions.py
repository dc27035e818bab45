"""Conditional tasks: a ``run_if`` predicate on upstream results, judged by the agent.

The core sees a skipped outcome (the simulated agent calls the predicate as the real one
does), skips the task, and its dependents follow their trigger rules. The agent side
(`runtime.conditions.judge`) turns the predicate's answer into that outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.core import TaskSpec, TaskState, WorkflowState
from orchestrator.core.packed import PackedWorkflow
from orchestrator.durable.spec_codec import decode, encode
from orchestrator.runtime.conditions import CONDITION_NOT_MET, judge

S = TaskState


def never(inputs: Mapping[str, Any]) -> bool:
    return False


def always(inputs: Mapping[str, Any]) -> bool:
    return True


def _states(sim: Any) -> dict[str, TaskState]:
    return {info.task_id: info.state for info in sim.scheduler.task_infos("wf")}


def test_a_false_predicate_skips_the_task_and_its_dependents_follow_their_rules(
    spec: Any, make_sim: Any
) -> None:
    # Given measure -> gated (run_if false) -> {publish (all_success), cleanup (all_done),
    # fallback (none_failed)}, and a gated task whose predicate holds
    sim = make_sim()
    sim.submit(
        spec.workflow(
            spec.task("measure"),
            spec.task("gated", depends_on=["measure"], run_if=never),
            spec.task("publish", depends_on=["gated"]),
            spec.task("cleanup", depends_on=["gated"], trigger_rule="all_done"),
            spec.task("fallback", depends_on=["gated"], trigger_rule="none_failed"),
            spec.task("open", depends_on=["measure"], run_if=always),
        )
    )
    sim.run()
    states = _states(sim)
    # Then the gated task is skipped, not failed, and nothing was charged to it
    assert states == {
        "measure": S.SUCCEEDED,
        "gated": S.SKIPPED,
        "publish": S.SKIPPED,
        "cleanup": S.SUCCEEDED,
        "fallback": S.SUCCEEDED,
        "open": S.SUCCEEDED,
    }
    gated = sim.scheduler.task_info("wf", "gated")
    assert gated.error_type == CONDITION_NOT_MET
    assert gated.attempts == 1
    assert "run_if answered False" in (gated.error_message or "")
    assert "upstream task 'gated' was skipped" in (
        sim.scheduler.task_info("wf", "publish").error_message or ""
    )
    assert sim.ledger.condition_skips == [("wf", "gated")]
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    assert sim.scheduler.dead_letters("wf") == []


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (lambda inputs: inputs["measure"] > 10, None),
        (lambda inputs: inputs["measure"] > 100, "skipped"),
        ("tests.integration.placement_workloads:is_large", None),
        (lambda inputs: "yes", "returned str, expected a bool"),
        (lambda inputs: inputs["missing"], "raised KeyError: 'missing'"),
        ("tests.integration.placement_workloads:nothing_here", "has no attribute"),
    ],
)
def test_the_agent_judges_the_predicate_on_the_upstream_results(
    predicate: Any, expected: str | None
) -> None:
    outcome = judge(7, predicate, {"measure": 42}, 100.0)
    if expected is None:
        assert outcome is None  # it runs
    elif expected == "skipped":
        assert outcome is not None and outcome.skipped and not outcome.ok
        assert outcome.error_type == CONDITION_NOT_MET and outcome.attempt_id == 7
    else:
        # A predicate that cannot answer fails the task at once: no retry would help
        assert outcome is not None and not outcome.skipped and not outcome.retryable
        assert outcome.error_type == "ConditionError"
        assert expected in (outcome.error_message or "")


def test_run_if_must_be_a_callable_or_an_import_path() -> None:
    with pytest.raises(ValidationError) as exc:
        TaskSpec(id="t", function="m:f", run_if=3)
    assert exc.value.errors()[0]["loc"] == ("run_if",)


def test_run_if_survives_the_durable_spec(spec: Any) -> None:
    workflow = spec.workflow(
        spec.task("a"),
        spec.task("b", depends_on=["a"], run_if="tests.integration.placement_workloads:is_large"),
        spec.task("c", depends_on=["a"], run_if=never),
    )
    packed = PackedWorkflow.pack(workflow)
    restored = decode(*encode(packed))
    extras = {row.id: row.extras for row in restored.rows}
    assert extras["a"] is None
    assert extras["b"] is not None
    assert extras["b"].run_if == "tests.integration.placement_workloads:is_large"
    assert extras["c"] is not None
    assert extras["c"].run_if == f"{never.__module__}:never"  # by import path: it leads back
