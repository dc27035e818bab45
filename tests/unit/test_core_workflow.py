"""The `Workflow` builder: errors name the task and field; placeholders make dependencies."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from orchestrator import Agent, Workflow
from orchestrator.core import (
    OutputOf,
    Priority,
    ResourceSpec,
    RetryPolicy,
    TaskState,
    WorkflowRejectedError,
    WorkflowState,
)
from orchestrator.workflow import TaskHandle


class Summariser(Agent):
    num_cpus = 0.5
    memory_bytes = 2**20
    replicas = 3
    max_concurrency = 2

    def handle(self, ctx: Any) -> Any:
        return ctx


class Renamed:
    """Any class with ``handle`` is an agent; ``name`` overrides the class name."""

    name: ClassVar[str] = "custom-name"

    def handle(self, ctx: Any) -> Any:
        return ctx


class NegativeCpus(Agent):
    num_cpus = -1.0

    def handle(self, ctx: Any) -> Any:
        return ctx


def plan() -> list[int]:
    return [1, 2]


def merge(parts: list[Any]) -> Any:
    return parts


def problems_of(exc: pytest.ExceptionInfo[WorkflowRejectedError]) -> dict[str, str]:
    return {p.where: p.message for p in exc.value.problems}


def test_tasks_declare_agents_and_placeholders_make_dependencies() -> None:
    # Given a workflow built in Python
    wf = Workflow("report", metadata={"team": "search"})
    first = wf.task("plan", plan, priority="high")
    counts = [
        wf.task(f"count-{i}", Summariser, args=(first.output, i), timeout_s=5) for i in range(3)
    ]
    final = wf.task("merge", merge, args=([c.output for c in counts],), depends_on=[first])
    wf.task("extra", agent=Summariser, depends_on=["merge"])
    wf.task("named", Renamed)
    # When it is turned into a spec
    spec = wf.to_spec("report-1")
    # Then handles carry ids and placeholders, agents were declared once, implicitly
    assert final == TaskHandle("merge")
    assert first.output == OutputOf(output_of="plan")
    assert len(wf) == 7
    assert (spec.name, spec.id, spec.metadata) == ("report", "report-1", {"team": "search"})
    assert [a.name for a in spec.agents] == ["Summariser", "custom-name"]
    summariser = spec.agents[0]
    assert summariser.agent_class is Summariser
    assert summariser.resources == ResourceSpec(num_cpus=0.5, memory_bytes=2**20)
    assert (summariser.replicas, summariser.max_concurrency) == (3, 2)
    tasks = {t.id: t for t in spec.tasks}
    assert tasks["plan"].function is plan
    assert tasks["plan"].priority is Priority.HIGH
    assert tasks["count-1"].agent == "Summariser"
    assert tasks["count-1"].args == (OutputOf(output_of="plan"), 1)
    assert tasks["count-1"].dependencies() == ("plan",)
    assert tasks["merge"].dependencies() == ("plan", "count-0", "count-1", "count-2")
    assert tasks["extra"].agent == "Summariser"
    assert tasks["named"].agent == "custom-name"


def test_the_built_workflow_runs_on_the_scheduler(driver: Any) -> None:
    wf = Workflow("pipeline")
    a = wf.task("a", plan)
    wf.task("b", Summariser, args=(a.output,))
    commands = driver.submit(wf.to_spec("p1"))
    assert commands.dispatched_ids == ["a"]
    commands = driver.finish(*commands.orders)
    assert [(o.task_id, o.inputs) for o in commands.orders] == [("b", ("a",))]
    assert commands.started == ["Summariser#1"]
    driver.finish(*commands.orders)
    assert driver.scheduler.workflow_status("p1").state is WorkflowState.SUCCEEDED
    assert driver.scheduler.task_info("p1", "b").state is TaskState.SUCCEEDED


@pytest.mark.parametrize(
    ("kwargs", "where", "fragment"),
    [
        ({"priority": "urgent"}, "tasks['t'].priority", "unknown priority 'urgent'"),
        ({"resources": {"num_cpus": -1}}, "tasks['t'].resources.num_cpus", "greater than"),
        ({"resources": {"gpus": 1}}, "tasks['t'].resources.gpus", "unknown field"),
        ({"retry": {"max_attempts": 0}}, "tasks['t'].retry.max_attempts", "greater than"),
        ({"timeout_s": -3}, "tasks['t'].timeout_s", "greater than 0"),
        ({"timeout_s": 0}, "tasks['t'].timeout_s", "greater than 0"),
        ({"estimated_duration_s": -1.0}, "tasks['t'].estimated_duration_s", "greater than"),
        ({"depends_on": ["bad id"]}, "tasks['t'].depends_on[0]", "pattern"),
    ],
)
def test_task_errors_name_the_task_and_field(
    kwargs: dict[str, Any], where: str, fragment: str
) -> None:
    wf = Workflow("w")
    with pytest.raises(WorkflowRejectedError) as exc:
        wf.task("t", plan, **kwargs)
    problems = problems_of(exc)
    assert list(problems) == [where]
    assert fragment in problems[where]
    assert len(wf) == 0  # nothing half-added


def test_bad_task_id_is_named() -> None:
    with pytest.raises(WorkflowRejectedError) as exc:
        Workflow("w").task("has space", plan)
    assert list(problems_of(exc)) == ["tasks['has space'].id"]


def test_handler_rules() -> None:
    wf = Workflow("w")
    with pytest.raises(WorkflowRejectedError) as exc:
        wf.task("none")
    assert "exactly one of 'agent' and 'function'" in problems_of(exc)["tasks['none']"]
    with pytest.raises(WorkflowRejectedError) as exc:
        wf.task("both", plan, agent="Summariser")
    assert problems_of(exc) == {"tasks['both']": "give a handler or agent=, not both"}
    with pytest.raises(WorkflowRejectedError) as exc:
        wf.task("number", 42)  # type: ignore[arg-type]
    assert list(problems_of(exc)) == ["tasks['number'].function"]
    # An import path is accepted as a function
    wf.task("by-path", "pkg.module:function")


def test_invalid_agent_class_is_named() -> None:
    wf = Workflow("w")
    with pytest.raises(WorkflowRejectedError) as exc:
        wf.task("t", NegativeCpus)
    [(where, _)] = problems_of(exc).items()
    assert where == "agents['NegativeCpus'].resources.num_cpus"
    assert len(wf) == 0


def test_two_classes_with_one_name_are_refused() -> None:
    class Other:
        name: ClassVar[str] = "custom-name"

        def handle(self, ctx: Any) -> Any:
            return ctx

    wf = Workflow("w")
    wf.task("a", Renamed)
    with pytest.raises(WorkflowRejectedError) as exc:
        wf.task("b", Other)
    assert problems_of(exc) == {"agents['custom-name']": "another agent with this name is declared"}


def test_add_agent_with_overrides() -> None:
    wf = Workflow("w")
    assert wf.add_agent(Summariser, replicas=8) == "Summariser"
    wf.task("t", agent="Summariser", retry=RetryPolicy(max_attempts=2))
    spec = wf.to_spec()
    assert spec.agents[0].replicas == 8
    assert spec.tasks[0].retry.max_attempts == 2
    assert spec.id is None


def test_to_spec_reports_every_graph_problem_at_once() -> None:
    # Given duplicate ids, a missing dependency, a cycle and an undeclared agent
    wf = Workflow("w")
    wf.task("dup", plan)
    wf.task("dup", plan)
    wf.task("orphan", plan, depends_on=["ghost"])
    wf.task("x", plan, depends_on=["y"])
    wf.task("y", plan, depends_on=["x"])
    wf.task("lonely", agent="Undeclared")
    # When the workflow is finished
    with pytest.raises(WorkflowRejectedError) as exc:
        wf.to_spec()
    # Then each problem is named, all at once
    problems = problems_of(exc)
    assert "used more than once" in problems["tasks['dup']"]
    assert "'ghost'" in problems["tasks['orphan']"]
    assert any("dependency cycle" in m and "x" in m and "y" in m for m in problems.values())
    assert "agent 'Undeclared' is not declared" in problems["tasks['lonely'].agent"]
    assert len(exc.value.problems) == 4


def test_to_spec_of_an_empty_workflow_names_tasks() -> None:
    with pytest.raises(WorkflowRejectedError) as exc:
        Workflow("empty").to_spec()
    assert list(problems_of(exc)) == ["tasks"]
