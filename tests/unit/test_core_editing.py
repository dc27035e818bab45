"""Live editing: tasks added to a running workflow, all checked before anything changes."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import TaskState, WorkflowState
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.events import WorkflowEdited
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.records import is_independent

S = TaskState


def _additions(spec: Any, *tasks: Any, agents: Any = None) -> PackedWorkflow:
    workflow = spec.workflow(*tasks, agents=agents, workflow_id="edit")
    return PackedWorkflow.pack(workflow.model_copy(update={"id": None}))


def _edit(sim: Any, additions: PackedWorkflow) -> Any:
    return sim.send(WorkflowEdited(workflow_id="wf", additions=additions))


def test_tasks_added_to_a_running_workflow_run_after_what_they_need(
    spec: Any, make_sim: Any
) -> None:
    sim = make_sim(duration_s=1.0)
    sim.submit(spec.workflow(*spec.chain("a", "b")))
    sim.run(until_s=sim.clock.now_s() + 0.5)
    commands = _edit(
        sim,
        _additions(spec, spec.task("c", depends_on=["b"]), spec.task("d", depends_on=["a", "c"])),
    )
    assert [e.message for e in commands.workflow_events] == ["edited: 2 task(s) added"]
    sim.run()
    assert sim.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    assert sim.scheduler.workflow_status("wf").total == 4
    assert [o.task_id for _, _, o in sim.ledger.attempts] == ["a", "b", "c", "d"]


def test_an_added_task_whose_upstream_failed_is_skipped_by_its_rule(
    spec: Any, make_sim: Any, make_behaviour: Any
) -> None:
    def behaviour(order: Any) -> Any:
        return make_behaviour(1.0, ok=order.task_id != "a")

    sim = make_sim(behaviour=behaviour)
    sim.submit(spec.workflow(spec.task("a"), spec.task("slow")))
    sim.run(until_s=sim.clock.now_s() + 1.5)
    assert sim.scheduler.task_info("wf", "a").state is S.FAILED
    _edit(
        sim,
        _additions(
            spec,
            spec.task("after", depends_on=["a"]),
            spec.task("cleanup", depends_on=["a"], trigger_rule="all_done"),
        ),
    )
    sim.run()
    states = {i.task_id: i.state for i in sim.scheduler.task_infos("wf")}
    assert (states["after"], states["cleanup"]) == (S.SKIPPED, S.SUCCEEDED)


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        (lambda spec: [spec.task("a")], "task id 'a' exists"),
        (lambda spec: [spec.task("x", depends_on=["ghost"])], "'ghost', which is not"),
        (
            lambda spec: [spec.task("x", depends_on=["y"]), spec.task("y", depends_on=["x"])],
            "dependency cycle",
        ),
        (lambda spec: [spec.task("x", agent="nobody")], "agent 'nobody' is not declared"),
    ],
)
def test_a_bad_edit_is_refused_whole_and_changes_nothing(
    spec: Any, make_sim: Any, tasks: Any, message: str
) -> None:
    sim = make_sim(duration_s=1.0)
    sim.submit(spec.workflow(*spec.chain("a", "b")))
    sim.run(until_s=sim.clock.now_s() + 0.5)
    before = sim.scheduler.workflow_status("wf")
    good = spec.task("fine")
    with pytest.raises(WorkflowRejectedError, match=message):
        _edit(sim, _additions(spec, good, *tasks(spec), agents=[spec.agent()]))
    assert sim.scheduler.workflow_status("wf") == before
    sim.run()
    assert {o.task_id for _, _, o in sim.ledger.attempts} == {"a", "b"}


def test_a_finished_workflow_cannot_be_edited(spec: Any, make_sim: Any) -> None:
    sim = make_sim()
    sim.submit(spec.workflow(spec.task("a")))
    sim.run()
    with pytest.raises(WorkflowRejectedError, match="has finished"):
        _edit(sim, _additions(spec, spec.task("b")))
    with pytest.raises(KeyError, match="nope"):
        sim.send(WorkflowEdited(workflow_id="nope", additions=_additions(spec, spec.task("b"))))


def test_an_edit_that_adds_a_dependency_makes_the_workflow_no_longer_independent(
    spec: Any, make_sim: Any
) -> None:
    # Given a running workflow of independent tasks, known to be independent
    sim = make_sim(duration_s=1.0)
    sim.submit(spec.workflow(spec.task("a"), spec.task("b")))
    sim.run(until_s=sim.clock.now_s() + 0.5)
    record = sim.scheduler._workflows["wf"]
    assert is_independent(record)
    # When an edit adds a task that depends on another
    _edit(sim, _additions(spec, spec.task("c", depends_on=["a"])))
    # Then the workflow is no longer taken for independent (nor batched as one)
    assert not is_independent(record)
