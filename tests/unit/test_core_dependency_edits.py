"""Live editing of dependencies: tasks that have not started gain upstream tasks."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import TaskState, WorkflowState
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.events import WorkflowEdited
from orchestrator.core.packed import PackedWorkflow

S = TaskState
NOTHING = PackedWorkflow(name="edit", id=None, metadata={}, agents=(), rows=())


def _additions(spec: Any, *tasks: Any) -> PackedWorkflow:
    workflow = spec.workflow(*tasks, workflow_id="edit")
    return PackedWorkflow.pack(workflow.model_copy(update={"id": None}))


def _edit(sim: Any, edges: Any, additions: PackedWorkflow = NOTHING) -> Any:
    return sim.send(WorkflowEdited(workflow_id="wf", additions=additions, edges=tuple(edges)))


def _order(sim: Any) -> list[str]:
    return [order.task_id for _, _, order in sim.ledger.attempts]


def test_a_waiting_task_gains_an_upstream_and_runs_after_it(spec: Any, make_sim: Any) -> None:
    # Given a -> b -> c and an independent slow task x (one agent: one task at a time)
    sim = make_sim(duration_s=1.0)
    sim.submit(spec.workflow(*spec.chain("a", "b", "c"), spec.task("x")))
    sim.run(until_s=sim.clock.now_s() + 0.5)  # a runs
    # When c must also wait for x
    commands = _edit(sim, [("c", "x")])
    assert [e.message for e in commands.workflow_events] == [
        "edited: 0 task(s) added, 1 dependencies added"
    ]
    sim.run()
    # Then c ran after x, and received its result among its inputs
    order = _order(sim)
    assert order.index("c") > order.index("x")
    assert "x" in next(o for _, _, o in sim.ledger.attempts if o.task_id == "c").inputs
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED


def test_a_ready_task_goes_back_to_waiting_for_a_new_task(spec: Any, make_sim: Any) -> None:
    # Given a running and b ready behind it on the only agent
    sim = make_sim(duration_s=1.0)
    sim.submit(spec.workflow(spec.task("a"), spec.task("b")))
    sim.run(until_s=sim.clock.now_s() + 0.5)
    assert sim.scheduler.task_info("wf", "b").state in {S.READY, S.RUNNING}
    if sim.scheduler.task_info("wf", "b").state is S.RUNNING:
        pytest.skip("both went to the agent at once (pipelined): nothing ready to hold")
    # When b must wait for a task added in the same edit
    _edit(sim, [("b", "check")], _additions(spec, spec.task("check", depends_on=["a"])))
    assert sim.scheduler.task_info("wf", "b").state is S.PENDING
    sim.run()
    assert _order(sim) == ["a", "check", "b"]
    assert sim.scheduler.workflow_status("wf").total == 3


def test_an_upstream_that_failed_skips_a_default_rule_task_at_once(
    spec: Any, make_sim: Any, make_behaviour: Any
) -> None:
    def behaviour(order: Any) -> Any:
        return make_behaviour(5.0 if order.task_id == "slow" else 0.1, ok=order.task_id != "bad")

    sim = make_sim(behaviour=behaviour)
    sim.submit(
        spec.workflow(
            spec.task("bad"),
            spec.task("slow"),
            spec.task("t", depends_on=["slow"]),
            spec.task("u", depends_on=["slow"], trigger_rule="all_done"),
            agents=[spec.agent(replicas=2)],
        )
    )
    sim.run(until_s=sim.clock.now_s() + 1.5)
    assert sim.scheduler.task_info("wf", "bad").state is S.FAILED
    _edit(sim, [("t", "bad"), ("u", "bad")])
    assert sim.scheduler.task_info("wf", "t").state is S.SKIPPED
    sim.run()
    assert sim.scheduler.task_info("wf", "u").state is S.SUCCEEDED  # all_done


def test_a_rejected_edit_names_every_problem_and_changes_nothing(spec: Any, make_sim: Any) -> None:
    # Given a -> b -> c with a done and b running (one agent), d waiting for c
    sim = make_sim(duration_s=1.0)
    sim.submit(spec.workflow(*spec.chain("a", "b", "c", "d"), spec.task("e")))
    sim.run(until_s=sim.clock.now_s() + 1.5)
    states_before = {i.task_id: i.state for i in sim.scheduler.task_infos("wf")}
    assert states_before["a"] is S.SUCCEEDED and states_before["b"] is S.RUNNING
    with pytest.raises(WorkflowRejectedError) as exc:
        _edit(
            sim,
            [
                ("c", "e"),  # fine on its own
                ("a", "e"),  # a is done
                ("b", "e"),  # b is running
                ("ghost", "a"),
                ("c", "ghost"),
                ("c", "c"),
            ],
        )
    problems = [(p.where, p.message) for p in exc.value.problems]
    assert problems == [
        ("dependencies[1]", "task 'a' is succeeded: it cannot gain an upstream"),
        ("dependencies[2]", "task 'b' is running: it cannot gain an upstream"),
        ("dependencies[3]", "task 'ghost' is not in the workflow"),
        ("dependencies[4]", "upstream task 'ghost' is not in the workflow"),
        ("dependencies[5]", "task 'c' cannot depend on itself"),
    ]
    # A cycle through a new task and old ones is refused too
    with pytest.raises(WorkflowRejectedError) as exc:
        _edit(sim, [("c", "n")], _additions(spec, spec.task("n", depends_on=["d"])))
    [cycle] = exc.value.problems
    assert cycle.where == "dependencies"
    assert "dependency cycle" in cycle.message and "'n'" not in cycle.message
    assert {"c", "d", "n"} <= set(cycle.message.replace(" -> ", " ").split()[2:])
    # And nothing changed: no task, no edge; the workflow ends as it would have
    assert {i.task_id: i.state for i in sim.scheduler.task_infos("wf")} == states_before
    sim.run()
    c_order = next(o for _, _, o in sim.ledger.attempts if o.task_id == "c")
    assert c_order.inputs == ("b",)  # the edge ("c", "e") of the refused edit was not added
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    assert sim.scheduler.workflow_status("wf").total == 5


def test_a_finished_workflow_takes_no_edit(spec: Any, make_sim: Any) -> None:
    sim = make_sim()
    sim.submit(spec.workflow(spec.task("a"), spec.task("b")))
    sim.run()
    with pytest.raises(WorkflowRejectedError) as exc:
        _edit(sim, [("b", "a")])
    assert "has finished: no edit" in str(exc.value)
