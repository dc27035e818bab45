"""Workflow files: good ones load, bad ones are refused with every problem located."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.specs import OutputOf, Priority
from orchestrator.loader import load_workflow_file, workflow_from_mapping

DATA = Path(__file__).resolve().parent.parent / "data"
ADD = "tests.integration.workloads:add"


def test_yaml_file_loads_with_placeholders_and_priorities() -> None:
    spec = load_workflow_file(DATA / "tiny.yaml")
    assert spec.name == "tiny"
    tasks = {task.id: task for task in spec.tasks}
    assert tasks["right"].priority is Priority.HIGH
    assert tasks["sum.json"].args == (OutputOf(output_of="left"), OutputOf(output_of="right"))
    assert tasks["sum.json"].dependencies() == ("left", "right")
    assert tasks["left"].resources is not None and tasks["left"].resources.num_cpus == 0.25


def test_shipped_example_loads_with_its_agents() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "corpus_report.yaml"
    spec = load_workflow_file(example)
    assert {agent.name for agent in spec.agents} >= {"WordFrequencyAgent", "SyntaxStatsAgent"}
    assert len(spec.tasks) > 10


def test_agent_overrides_apply_to_resources_and_replicas() -> None:
    spec = workflow_from_mapping(
        {
            "name": "agents",
            "agents": [{"class": "agents.corpus:SyntaxStatsAgent", "replicas": 5, "num_cpus": 2}],
            "tasks": [{"id": "a", "agent": "SyntaxStatsAgent"}],
        }
    )
    (agent,) = spec.agents
    assert agent.replicas == 5
    assert agent.resources.num_cpus == 2
    assert agent.agent_class == "agents.corpus:SyntaxStatsAgent"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"name": "x", "tasks": []}, "tasks: expected a non-empty list of tasks"),
        ({"name": "x", "tasks": [{"id": "a", "function": ADD}], "colour": 1}, "colour: unknown"),
        ([1, 2], "expected a mapping with 'name' and 'tasks', got list"),
        (
            {"name": "x", "tasks": [{"id": "a", "function": "tests.no_such_module:f"}]},
            "tasks[0] (id 'a').function: cannot import module 'tests.no_such_module'",
        ),
        (
            {"name": "x", "tasks": [{"id": "a", "function": "math:no_such_function"}]},
            "module 'math' has no attribute 'no_such_function'",
        ),
        (
            {"name": "x", "tasks": [{"id": "a", "function": ADD, "priority": "urgent"}]},
            "tasks[0] (id 'a').priority: unknown priority 'urgent'",
        ),
        (
            {"name": "x", "tasks": [{"id": "a", "function": ADD, "agent": "B"}]},
            "give exactly one of 'agent' and 'function'",
        ),
        (
            {"name": "x", "tasks": [{"id": "a", "function": ADD, "timeout_s": "soon"}]},
            "tasks[0] (id 'a').timeout_s: Input should be a valid number",
        ),
        (
            {"name": "x", "tasks": [{"id": "a b", "function": ADD}]},
            "tasks[0] (id 'a b').id: String should match pattern",
        ),
        (
            {
                "name": "x",
                "agents": [{"class": "math:floor"}],
                "tasks": [{"id": "a", "function": ADD}],
            },
            "agents[0].class: 'math:floor' is not a class",
        ),
        (
            {
                "name": "x",
                "agents": [{"class": "statistics:NormalDist"}],
                "tasks": [{"id": "a", "function": ADD}],
            },
            "agents[0].class: agent class NormalDist has no handle(ctx) method",
        ),
        (
            {"name": "x", "agents": ["oops"], "tasks": [{"id": "a", "function": ADD}]},
            "agents[0]: expected a mapping with 'class: module:Class'",
        ),
        (
            {
                "name": "x",
                "agents": [{"class": "agents.corpus:SyntaxStatsAgent", "replicas": 0}],
                "tasks": [{"id": "a", "function": ADD}],
            },
            "agents[0].replicas: Input should be greater than or equal to 1",
        ),
        (
            {"name": "x", "tasks": [{"id": "a", "function": ADD, "depends_on": ["a"]}]},
            "task 'a' depends on itself",
        ),
        (
            {"name": "x", "tasks": [{"id": "a", "function": ADD}, {"id": "a", "function": ADD}]},
            "task id 'a' is used more than once",
        ),
    ],
)
def test_bad_documents_are_refused_naming_the_place(document: object, expected: str) -> None:
    with pytest.raises(WorkflowRejectedError) as caught:
        workflow_from_mapping(document, default_name="x")
    assert expected in str(caught.value)


def test_all_problems_are_reported_together() -> None:
    document = {
        "name": "many",
        "tasks": [
            {"id": "a", "function": ADD, "resources": {"num_gpus": -1}},
            {"id": "b", "function": ADD, "depends_on": ["missing"]},
            {"id": "c", "agent": "Ghost"},
            {"id": "d", "function": ADD, "depends_on": ["e"]},
            {"id": "e", "function": ADD, "depends_on": ["d"]},
        ],
    }
    with pytest.raises(WorkflowRejectedError) as caught:
        workflow_from_mapping(document)
    wheres = sorted(problem.where for problem in caught.value.problems)
    assert wheres == [
        "tasks['b']",
        "tasks['c'].agent",
        "tasks['d']",
        "tasks[0] (id 'a').resources.num_gpus",
    ]


@pytest.mark.parametrize(
    ("name", "content", "location", "message"),
    [
        ("broken.yaml", "name: x\ntasks: [\n", "3:1", "not valid YAML"),
        ("broken.json", '{"name": "x", "tasks": [}', "1:25", "not valid JSON"),
    ],
)
def test_syntax_errors_name_file_line_and_column(
    tmp_path: Path, name: str, content: str, location: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(WorkflowRejectedError) as caught:
        load_workflow_file(path)
    assert f"{path}:{location}: {message}" in str(caught.value)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkflowRejectedError, match="cannot read"):
        load_workflow_file(tmp_path / "nope.yaml")


def test_json_workflow_loads(tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    path.write_text(
        json.dumps({"name": "j", "tasks": [{"id": "a", "function": ADD, "args": [1, 2]}]})
    )
    assert load_workflow_file(path).tasks[0].args == (1, 2)
