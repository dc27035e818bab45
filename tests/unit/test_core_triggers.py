"""Trigger rules: when a task whose upstream tasks ended runs, or is skipped."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import OutputOf, TaskState, WorkflowState

S = TaskState


def _sim(make_sim: Any, make_behaviour: Any, failing: set[str]) -> Any:
    def behaviour(order: Any) -> Any:
        return make_behaviour(0.01, ok=order.task_id not in failing)

    return make_sim(behaviour=behaviour)


def _states(sim: Any) -> dict[str, TaskState]:
    return {info.task_id: info.state for info in sim.scheduler.task_infos("wf")}


@pytest.mark.parametrize(
    ("rule", "failing", "expected"),
    [
        ("all_success", set(), S.SUCCEEDED),
        ("all_success", {"u1"}, S.SKIPPED),
        ("all_done", {"u1", "u2"}, S.SUCCEEDED),
        ("all_done", set(), S.SUCCEEDED),
        ("all_failed", {"u1", "u2"}, S.SUCCEEDED),
        ("all_failed", {"u1"}, S.SKIPPED),
        ("one_failed", {"u2"}, S.SUCCEEDED),
        ("one_failed", set(), S.SKIPPED),
        ("one_success", {"u1"}, S.SUCCEEDED),
        ("one_success", {"u1", "u2"}, S.SKIPPED),
        ("none_failed", set(), S.SUCCEEDED),
        ("none_failed", {"u2"}, S.SKIPPED),
    ],
)
def test_each_rule_runs_or_skips_by_how_the_upstream_tasks_ended(
    spec: Any, make_sim: Any, make_behaviour: Any, rule: str, failing: set[str], expected: S
) -> None:
    sim = _sim(make_sim, make_behaviour, failing)
    sim.submit(
        spec.workflow(
            spec.task("u1"),
            spec.task("u2"),
            spec.task("t", depends_on=["u1", "u2"], trigger_rule=rule),
        )
    )
    sim.run()
    assert _states(sim)["t"] is expected
    assert sim.all_workflows_ended()
    if expected is S.SKIPPED and rule != "all_success":
        assert f"trigger rule {rule} not met" in (
            sim.scheduler.task_info("wf", "t").error_message or ""
        )


def test_a_cleanup_task_runs_after_a_failure_and_waits_for_every_upstream(
    spec: Any, make_sim: Any, make_behaviour: Any
) -> None:
    # Given work -> report, and cleanup (all_done) after both work and a slow side task
    def behaviour(order: Any) -> Any:
        return make_behaviour(5.0 if order.task_id == "slow" else 0.01, ok=order.task_id != "work")

    sim = make_sim(behaviour=behaviour)
    sim.submit(
        spec.workflow(
            spec.task("work"),
            spec.task("report", depends_on=["work"]),
            spec.task("slow"),
            spec.task("cleanup", depends_on=["report", "slow"], trigger_rule="all_done"),
            agents=[spec.agent(replicas=2)],
        )
    )
    sim.run()
    states = _states(sim)
    # Then report is skipped (default rule), cleanup runs once slow is done too
    assert (states["report"], states["cleanup"]) == (S.SKIPPED, S.SUCCEEDED)
    cleanup_at = [t for t, _, o in sim.ledger.attempts if o.task_id == "cleanup"]
    slow_end = sim.ledger.effect_times[("wf", "slow")][0][1]
    assert cleanup_at and cleanup_at[0] >= slow_end
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.FAILED  # work failed


def test_a_skip_passes_down_by_rule_and_names_the_first_cause(
    spec: Any, make_sim: Any, make_behaviour: Any
) -> None:
    # a fails; b, c follow the default rule; d (none_failed) after c; e after d
    sim = _sim(make_sim, make_behaviour, {"a"})
    sim.submit(
        spec.workflow(
            *spec.chain("a", "b", "c"),
            spec.task("d", depends_on=["c"], trigger_rule="none_failed"),
            spec.task("e", depends_on=["d"]),
        )
    )
    sim.run()
    states = _states(sim)
    assert [states[t] for t in "abcde"] == [
        S.FAILED,
        S.SKIPPED,
        S.SKIPPED,
        S.SUCCEEDED,
        S.SUCCEEDED,
    ]
    assert sim.scheduler.task_info("wf", "c").error_message == "upstream task 'a' failed"


def test_a_task_that_needs_an_upstream_result_is_skipped_when_it_did_not_succeed(
    spec: Any, make_sim: Any, make_behaviour: Any
) -> None:
    sim = _sim(make_sim, make_behaviour, {"a"})
    sim.submit(
        spec.workflow(
            spec.task("a"),
            spec.task("b"),
            spec.task(
                "t", args=(OutputOf(output_of="a"),), depends_on=["b"], trigger_rule="all_done"
            ),
        )
    )
    sim.run()
    info = sim.scheduler.task_info("wf", "t")
    assert info.state is S.SKIPPED
    assert info.error_message == "its input 'a' did not succeed (failed)"


def test_an_unknown_rule_is_refused(spec: Any) -> None:
    with pytest.raises(ValueError, match="trigger_rule"):
        spec.task("t", trigger_rule="sometimes")
