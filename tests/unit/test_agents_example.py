"""examples/corpus_report.yaml: it parses, every import path resolves, every agent is
declared, and run in-process (a tiny sequential executor, no Ray) it writes the report."""

from __future__ import annotations

import graphlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.function import FunctionAgent
from orchestrator.agent import TaskContext, agent_name, agent_spec
from orchestrator.core.specs import OutputOf, Priority, TaskSpec
from orchestrator.import_paths import import_object

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "corpus_report.yaml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    with EXAMPLE.open() as handle:
        loaded = yaml.safe_load(handle)
    assert isinstance(loaded, dict)
    return loaded


def _tasks(workflow: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {task["id"]: task for task in workflow["tasks"]}


def _declared_agents(workflow: Mapping[str, Any]) -> dict[str, type[Any]]:
    declared = {}
    for entry in workflow["agents"]:
        cls = import_object(entry["class"])
        declared[entry.get("name") or agent_name(cls)] = cls
    return declared


def test_file_has_the_workflow_format(workflow: dict[str, Any]) -> None:
    assert set(workflow) == {"name", "agents", "tasks"}
    assert workflow["name"] == "corpus-report"
    assert all(set(entry) == {"class"} for entry in workflow["agents"])
    ids = [task["id"] for task in workflow["tasks"]]
    assert len(ids) == len(set(ids)) == 21


def test_every_import_path_resolves(workflow: dict[str, Any]) -> None:
    for entry in workflow["agents"]:
        cls = import_object(entry["class"])
        assert isinstance(cls, type)
        assert callable(getattr(cls, "handle", None))
    functions = [task["function"] for task in workflow["tasks"] if "function" in task]
    assert len(functions) == 4
    for path in functions:
        assert callable(import_object(path)), path


def test_every_agent_task_names_a_declared_agent(workflow: dict[str, Any]) -> None:
    declared = _declared_agents(workflow)
    assert set(declared) == {"WordFrequencyAgent", "SyntaxStatsAgent", "CorpusTools"}
    used = {task["agent"] for task in workflow["tasks"] if "agent" in task}
    assert used == set(declared)
    for task in workflow["tasks"]:
        assert ("agent" in task) != ("function" in task), task["id"]


def test_tasks_and_agents_build_valid_specs(workflow: dict[str, Any]) -> None:
    specs = [TaskSpec(**task) for task in workflow["tasks"]]
    agents = [agent_spec(entry["class"]) for entry in workflow["agents"]]
    assert sum(agent.resources.num_cpus * agent.replicas for agent in agents) <= 1.75
    for spec in specs:
        if spec.function is not None:
            assert spec.resources is not None
            assert spec.resources.num_cpus == 0.25, spec.id


def test_shape_priorities_and_dependencies(workflow: dict[str, Any]) -> None:
    specs = {task["id"]: TaskSpec(**task) for task in workflow["tasks"]}
    assert specs["plan"].priority is Priority.HIGH
    assert specs["report.md"].priority is Priority.CRITICAL
    assert specs["line-count"].priority is Priority.BACKGROUND
    assert specs["line-count"].agent == "CorpusTools"
    for kind in ("words", "syntax"):
        for index in range(8):
            shard = specs[f"{kind}-{index}"]
            assert shard.priority is Priority.MEDIUM
            assert shard.args == (OutputOf(output_of="plan"), index)
        assert specs[f"merge-{kind}"].dependencies() == tuple(f"{kind}-{i}" for i in range(8))
    assert specs["report.md"].dependencies() == ("merge-words", "merge-syntax", "line-count")

    sorter = graphlib.TopologicalSorter({i: s.dependencies() for i, s in specs.items()})
    order = list(sorter.static_order())  # raises CycleError on a cycle
    assert order[0] == "plan"
    assert order[-1] == "report.md"
    for spec in specs.values():
        assert set(spec.dependencies()) <= set(specs), spec.id


def _substitute(value: Any, results: Mapping[str, Any]) -> Any:
    if isinstance(value, OutputOf):
        return results[value.output_of]
    if isinstance(value, list | tuple):
        return type(value)(_substitute(item, results) for item in value)
    if isinstance(value, dict):
        return {key: _substitute(item, results) for key, item in value.items()}
    return value


def test_running_the_workflow_in_process_writes_the_report(workflow: dict[str, Any]) -> None:
    # Given the workflow's tasks, with the plan limited to a few files to stay fast,
    # When each runs in dependency order the way the runtime would (placeholders replaced,
    # functions on FunctionAgent, agent tasks on an instance of their class),
    # Then the report task returns a Markdown report built from real numbers.
    specs = {task["id"]: TaskSpec(**task) for task in workflow["tasks"]}
    specs["plan"] = specs["plan"].model_copy(update={"kwargs": {"shards": 8, "limit": 24}})
    agents = {name: cls() for name, cls in _declared_agents(workflow).items()}
    order = graphlib.TopologicalSorter({i: s.dependencies() for i, s in specs.items()})
    results: dict[str, Any] = {}
    for task_id in order.static_order():
        spec = specs[task_id]
        ctx = TaskContext(
            workflow_id="wf",
            task_id=task_id,
            attempt=1,
            agent_id="local",
            args=tuple(_substitute(spec.args, results)),
            kwargs=_substitute(spec.kwargs, results),
            inputs={dep: results[dep] for dep in spec.dependencies()},
            function=import_object(spec.function) if spec.function else None,
        )
        handler = FunctionAgent() if spec.function else agents[spec.agent or ""]
        results[task_id] = handler.handle(ctx)

    report = results["report.md"]
    assert isinstance(report, str)
    assert results["merge-words"]["files"] == 24
    assert results["merge-syntax"]["files"] == 24
    assert "| Files parsed | 24 |" in report
    assert "(agrees with the ast pass)" in report
    assert "## Top 20 words" in report
    assert len(re.findall(r"^\| \d+ \| `\w+` \| [\d,]+ \| [\d.]+% \|$", report, re.MULTILINE)) == 20
