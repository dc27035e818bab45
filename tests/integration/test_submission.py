"""Bad input is refused before anything runs, with errors naming the field, and leaves nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import Orchestrator, Workflow, WorkflowRejectedError, WorkflowState
from orchestrator.loader import load_workflow_file
from orchestrator.telemetry import read_spans_jsonl
from tests.integration import workloads

pytestmark = pytest.mark.integration


def test_task_needing_a_gpu_is_rejected_naming_the_resource(orchestrator: Orchestrator) -> None:
    # 64 GPUs: more than any node has, here (none) or on a GPU machine.
    wf = Workflow("wants-gpu")
    wf.task("train", workloads.add, args=(1, 2), resources={"num_cpus": 0.5, "num_gpus": 64})
    wf.task("fine", workloads.add, args=(1, 2))
    known_before = {status.workflow_id for status in orchestrator.workflows()}

    with pytest.raises(WorkflowRejectedError) as caught:
        orchestrator.submit(wf, workflow_id="wants-gpu-1")

    message = str(caught.value)
    assert "'train'" in message and "needs 64 GPU but the largest node has" in message
    assert {status.workflow_id for status in orchestrator.workflows()} == known_before
    # Nothing was kept: the same id is free for a corrected workflow.
    fixed = Workflow("wants-gpu")
    fixed.task("train", workloads.add, args=(1, 2))
    assert orchestrator.submit(fixed, workflow_id="wants-gpu-1").wait(timeout_s=60).state is (
        WorkflowState.SUCCEEDED
    )


def test_agent_declaring_more_gpus_than_any_node_is_rejected(orchestrator: Orchestrator) -> None:
    wf = Workflow("agent-gpu")
    wf.task("infer", workloads.NeedsManyGpus)
    with pytest.raises(WorkflowRejectedError, match=r"NeedsManyGpus.*needs 64 GPU"):
        orchestrator.submit(wf)


def test_duplicate_workflow_id_is_rejected(orchestrator: Orchestrator) -> None:
    wf = Workflow("twice")
    wf.task("only", workloads.add, args=(1, 1))
    orchestrator.submit(wf, workflow_id="twice-1").wait(timeout_s=60)
    with pytest.raises(WorkflowRejectedError, match="already submitted"):
        orchestrator.submit(wf, workflow_id="twice-1")


def test_bad_file_is_rejected_with_every_problem_before_running(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "name": "bad",
                "tasks": [
                    {"id": "a", "function": "tests.integration.workloads:add", "args": [1, 2]},
                    {"id": "b", "function": "tests.integration.workloads:add", "depends_on": ["c"]},
                    {"id": "c", "function": "tests.integration.workloads:add", "depends_on": ["b"]},
                    {"id": "d", "agent": "Nobody"},
                    {"id": "e", "function": "tests.integration.workloads:add", "colour": "red"},
                    {
                        "id": "f",
                        "function": "tests.integration.workloads:add",
                        "resources": {"num_cpus": -1},
                    },
                ],
            }
        )
    )
    with pytest.raises(WorkflowRejectedError) as caught:
        load_workflow_file(path)
    text = str(caught.value)
    assert "tasks[4] (id 'e').colour: unknown field" in text
    assert (
        "tasks[5] (id 'f').resources.num_cpus: Input should be greater than or equal to 0" in text
    )
    assert "dependency cycle: b -> c -> b" in text
    assert "agent 'Nobody' is not declared" in text
    assert len(caught.value.problems) == 4


def test_every_attempt_is_a_span_under_its_workflow_span(
    orchestrator: Orchestrator, traces_path: Path
) -> None:
    wf = Workflow("traced")
    first = wf.task("first", workloads.add, args=(1, 2))
    wf.task("second", workloads.fail, args=("traced failure",), depends_on=[first])
    run = orchestrator.submit(wf)
    run.wait(timeout_s=60)

    spans = [
        s for s in read_spans_jsonl(traces_path) if s["attributes"].get("workflow.id") == run.id
    ]
    workflow_spans = [s for s in spans if s["name"] == "workflow traced"]
    assert len(workflow_spans) == 1
    root = workflow_spans[0]
    assert root["parent_span_id"] is None
    assert root["status"] == "ERROR"
    attempts = {s["attributes"]["task.id"]: s for s in spans if s["name"].startswith("task ")}
    assert set(attempts) == {"first", "second"}
    for span in attempts.values():
        assert span["parent_span_id"] == root["span_id"]
        assert span["trace_id"] == root["trace_id"]
        assert span["start_time_ns"] <= span["end_time_ns"]
    assert attempts["first"]["status"] == "OK"
    assert attempts["second"]["status"] == "ERROR"
    assert "traced failure" in attempts["second"]["status_description"]


def test_a_handlers_own_spans_nest_under_its_attempt_span(
    orchestrator: Orchestrator, traces_path: Path
) -> None:
    wf = Workflow("nested")
    wf.task("work", workloads.traced_work, args=(21,))
    run = orchestrator.submit(wf)
    run.wait(timeout_s=60)
    assert run.result("work") == 42

    spans = read_spans_jsonl(traces_path)
    [attempt] = [
        s
        for s in spans
        if s["name"] == "task work" and s["attributes"].get("workflow.id") == run.id
    ]
    inner = [s for s in spans if s["name"] == "inner work" and s["attributes"].get("n") == 21]
    assert len(inner) == 1, "the agent exported the handler's span to the same file"
    assert inner[0]["parent_span_id"] == attempt["span_id"]
    assert inner[0]["trace_id"] == attempt["trace_id"]
    # Inside the attempt's time on the agent.
    assert attempt["start_time_ns"] <= inner[0]["start_time_ns"]
    assert inner[0]["end_time_ns"] <= attempt["end_time_ns"]


def test_submit_many_starts_every_workflow_in_one_wait(orchestrator: Orchestrator) -> None:
    # Given three small workflows, one with an id of its own
    workflows = []
    for index in range(3):
        wf = Workflow(f"many-{index}")
        wf.task("sum", workloads.add, args=(index, 1))
        workflows.append(wf)
    named = workflows[2].to_spec().with_id("many-named")
    # When they are submitted together
    runs = orchestrator.submit_many([*workflows[:2], named])
    # Then each runs, in order, under its id
    assert runs[2].id == "many-named"
    assert [run.wait(timeout_s=60).state for run in runs] == [WorkflowState.SUCCEEDED] * 3
    assert [run.result("sum") for run in runs] == [1, 2, 3]


def test_submit_many_names_the_workflow_the_supervisor_refuses(
    orchestrator: Orchestrator,
) -> None:
    # Given a workflow already running under an id, and a new one that reuses it
    first = Workflow("taken")
    first.task("sum", workloads.add, args=(1, 1))
    orchestrator.submit(first, workflow_id="taken-id").wait(timeout_s=60)
    fresh, clash = Workflow("fresh"), Workflow("clash")
    fresh.task("sum", workloads.add, args=(2, 2))
    clash.task("sum", workloads.add, args=(3, 3))
    # When both are submitted together, Then the clash is refused naming its id
    with pytest.raises(WorkflowRejectedError, match="taken-id"):
        orchestrator.submit_many([fresh, clash.to_spec().with_id("taken-id")])
    # And the other one was accepted and runs
    (accepted,) = [s for s in orchestrator.workflows() if s.name == "fresh"]
    assert orchestrator.attach(accepted.workflow_id).wait(timeout_s=60).state is (
        WorkflowState.SUCCEEDED
    )


def test_submit_many_sends_nothing_when_the_drivers_checks_refuse_one(
    orchestrator: Orchestrator,
) -> None:
    # Given a good workflow and one whose task depends on a task it does not have
    good, bad = Workflow("good-one"), Workflow("bad-one")
    good.task("sum", workloads.add, args=(1, 1))
    bad.task("sum", workloads.add, args=(1, 1), depends_on=["missing"])
    known_before = {status.workflow_id for status in orchestrator.workflows()}
    # When both are submitted together, Then neither is sent
    with pytest.raises(WorkflowRejectedError, match="missing"):
        orchestrator.submit_many([good, bad])
    assert {status.workflow_id for status in orchestrator.workflows()} == known_before
