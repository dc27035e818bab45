"""Taskmaster ``tasks.json`` import: formats, the mapping, and every problem at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.agent import Agent, TaskContext
from orchestrator.cli import EXIT_REJECTED, main
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.specs import Priority, TaskSpec
from orchestrator.loader import load_workflow_file
from orchestrator.taskmaster import (
    DEFAULT_HANDLER,
    TaskmasterImport,
    is_taskmaster,
    load_taskmaster,
    read_taskmaster,
    summarise_task,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "taskmaster"


def read(name: str, **options: Any) -> TaskmasterImport:
    return read_taskmaster(DATA / name, **options)


def problems_of(source: str | dict[str, Any], **options: Any) -> list[str]:
    with pytest.raises(WorkflowRejectedError) as info:
        read_taskmaster(DATA / source if isinstance(source, str) else source, **options)
    return [str(problem) for problem in info.value.problems]


def task(result: TaskmasterImport, task_id: str) -> TaskSpec:
    return next(spec for spec in result.spec.tasks if spec.id == task_id)


# -- the mapping -------------------------------------------------------------------------

RUNNING = [
    "task-3",
    "task-3.2",
    "task-3.3",
    "task-3.4",
    "task-4",
    "task-5",
    "task-5.1",
    "task-5.2",
    "task-5.3",
    "task-6",
    "task-6.1",
    "task-6.2",
    "task-6.3",
    "task-7",
    "task-8",
    "task-9",
    "task-10",
    "task-10.1",
    "task-10.3",
    "task-12",
]


def test_every_unfinished_task_and_subtask_becomes_a_task() -> None:
    result = read("tasks.json")
    assert [spec.id for spec in result.spec.tasks] == RUNNING
    assert result.spec.name == "tasks"
    assert result.tag == "master"
    assert result.task_ids["3.4"] == "task-3.4" and result.task_ids["12"] == "task-12"
    assert all(spec.function == DEFAULT_HANDLER for spec in result.spec.tasks)
    assert result.spec.agents == ()


def test_done_and_cancelled_tasks_and_the_subtasks_of_done_tasks_are_not_run() -> None:
    result = read("tasks.json")
    # 1 and 2 are done (1 with its done subtasks), 3.1 is done, 10.2 and 11 cancelled.
    assert result.not_run == ("1", "1.1", "1.2", "2", "3.1", "10.2", "11")
    assert result.spec.metadata["taskmaster.not_run"] == "1,1.1,1.2,2,3.1,10.2,11"
    assert result.spec.metadata["source"] == "taskmaster"
    # in-progress (3), review (7) and deferred (9) tasks run
    assert {"task-3", "task-7", "task-9"} <= set(RUNNING)


@pytest.mark.parametrize(
    ("task_id", "depends_on"),
    [
        # the task completes after its unfinished subtasks; its dependency on 2 (done) is met
        ("task-3", ("task-3.2", "task-3.3", "task-3.4")),
        # plain numbers in a subtask's list are siblings: 3.1 is done, so nothing is left
        ("task-3.2", ()),
        ("task-3.3", ("task-3.2",)),
        ("task-3.4", ("task-3.2", "task-3.3")),  # "3.2" and "3.3" written dotted
        ("task-4", ("task-3",)),  # "3": depending on a task waits for all its subtasks
        # the subtasks of 5 wait for what 5 depends on (3)
        ("task-5", ("task-3", "task-5.1", "task-5.2", "task-5.3")),
        ("task-5.1", ("task-3",)),
        ("task-5.2", ("task-5.1", "task-3")),
        ("task-5.3", ("task-5.1", "task-3.3", "task-3")),  # a subtask of another task
        ("task-6.2", ("task-6.1", "task-4", "task-5")),  # sibling written "1"
        ("task-7", ("task-6.1",)),  # a task depending on another task's subtask
        ("task-10", ("task-6", "task-10.1", "task-10.3")),  # 10.2 is cancelled
        ("task-10.3", ("task-10.1", "task-6")),
        ("task-12", ("task-7", "task-8", "task-10")),  # string id "12"; 11 is cancelled
    ],
)
def test_dependencies_are_mapped(task_id: str, depends_on: tuple[str, ...]) -> None:
    assert task(read("tasks.json"), task_id).depends_on == depends_on


@pytest.mark.parametrize(
    ("task_id", "priority"),
    [
        ("task-3", Priority.HIGH),
        ("task-3.2", Priority.HIGH),  # a subtask without a priority has its task's
        ("task-4", Priority.MEDIUM),
        ("task-5.2", Priority.HIGH),  # its own, above its task's medium
        ("task-5.3", Priority.LOW),
        ("task-8", Priority.LOW),
    ],
)
def test_priorities_are_mapped(task_id: str, priority: Priority) -> None:
    assert task(read("tasks.json"), task_id).priority is priority


def test_the_handler_receives_the_task_fields_as_keyword_arguments() -> None:
    spec = task(read("tasks.json"), "task-3.4")
    assert spec.kwargs == {
        "taskmaster_id": "3.4",
        "title": "Report problems",
        "description": "All at once, each naming its task.",
        "details": "",
        "test_strategy": "One fixture per kind of problem.",
    }
    assert summarise_task(**spec.kwargs) == {
        "id": "3.4",
        "title": "Report problems",
        "description": "All at once, each naming its task.",
    }


class Reviewer(Agent):
    """An agent class handling Taskmaster tasks."""

    def handle(self, ctx: TaskContext) -> str:
        return f"reviewed {ctx.kwargs['title']}"


def test_the_handler_may_be_an_agent_class_or_a_function_path() -> None:
    result = read("tagged.json", handler=Reviewer)
    assert [agent.name for agent in result.spec.agents] == ["Reviewer"]
    assert {spec.agent for spec in result.spec.tasks} == {"Reviewer"}
    assert result.spec.metadata["taskmaster.handler"].endswith(":Reviewer")
    path = "tests.integration.workloads:add"
    spec = load_taskmaster(DATA / "tagged.json", handler=path)
    assert {task.function for task in spec.tasks} == {path}


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("nope.module:handle", "cannot import module 'nope.module'"),
        ("orchestrator.taskmaster:STATUSES", "is neither a function nor an agent class"),
        ("orchestrator.taskmaster:TaskmasterImport", "has no handle(ctx) method"),
    ],
)
def test_a_bad_handler_is_refused_with_the_files_problems(handler: str, message: str) -> None:
    found = problems_of("self-dependency.json", handler=handler)
    assert len(found) == 3
    assert found[0].startswith("taskmaster handler: ") and message in found[0]


# -- formats and tags ----------------------------------------------------------------------


def test_a_tagged_file_is_read_at_its_master_tag_by_default() -> None:
    result = read("tagged.json")
    assert [spec.id for spec in result.spec.tasks] == ["task-2", "task-3"]
    assert task(result, "task-2").depends_on == ()  # 1 is done
    assert result.spec.name == "tagged"


def test_the_tag_option_reads_another_tag() -> None:
    result = read("tagged.json", tag="feature-auth")
    assert result.spec.name == "tagged-feature-auth"
    assert result.spec.metadata["taskmaster.tag"] == "feature-auth"
    assert [spec.id for spec in result.spec.tasks] == [
        "task-1",
        "task-2",
        "task-2.1",
        "task-2.2",
        "task-3",
    ]
    assert task(result, "task-1").priority is Priority.CRITICAL
    assert task(result, "task-2.2").depends_on == ("task-2.1", "task-1")
    assert task(result, "task-3").depends_on == ("task-2.2",)


@pytest.mark.parametrize(
    ("name", "tag", "message"),
    [
        (
            "tagged.json",
            "nope",
            "tag: tag 'nope' is not in the file (its tags: master, feature-auth)",
        ),
        ("tasks.json", "feature-auth", "holds only the 'master' tag"),
    ],
)
def test_a_tag_not_in_the_file_is_refused(name: str, tag: str, message: str) -> None:
    (found,) = problems_of(name, tag=tag)
    assert message in found


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"tasks": [{"id": 1, "title": "Plan"}]}, True),
        ({"master": {"tasks": []}, "feature": {"tasks": []}}, True),
        ({"master": {"tasks": {"id": 1}}}, True),  # malformed, then reported as such
        ({"name": "wf", "tasks": [{"id": "a", "function": "m:f"}]}, False),
        ({"tasks": [{"id": "a", "agent": "A", "title": "x"}]}, False),
        ({"schemaVersion": "1.5", "workflow": {"tasks": []}}, False),
        ({"tasks": []}, False),
        ([{"id": 1, "title": "Plan"}], False),
    ],
)
def test_detection(document: object, expected: bool) -> None:
    assert is_taskmaster(document) is expected


def test_the_loader_reads_taskmaster_files_and_still_reads_the_other_formats() -> None:
    assert load_workflow_file(DATA / "tasks.json") == read("tasks.json").spec
    spec = load_workflow_file(DATA / "tagged.json", tag="feature-auth", taskmaster_handler=None)
    assert spec.name == "tagged-feature-auth" and len(spec.tasks) == 5
    others = DATA.parent
    assert load_workflow_file(others / "tiny.yaml").name == "tiny"
    assert load_workflow_file(others / "wfformat" / "valid-1.5.json").metadata["source"] == (
        "wfformat"
    )


# -- problems ------------------------------------------------------------------------------

PROBLEMS: dict[str, list[str]] = {
    "self-dependency.json": [
        "tasks[1] (task 2).dependencies[1]: task 2 depends on itself",
        "tasks[2] (task 3).subtasks[1] (subtask 3.2).dependencies[1]: "
        "subtask 3.2 depends on itself",
    ],
    "missing-dependency.json": [
        "tasks[0] (task 1).dependencies[0]: task 1 depends on task 9, which is not in the file",
        "tasks[1] (task 2).subtasks[1] (subtask 2.2).dependencies[0]: subtask 2.2 depends on "
        "subtask 2.5, which is not in the file (a plain number in a subtask's dependencies "
        'names a sibling subtask; "P.S" names subtask S of task P)',
        "tasks[2] (task 3).dependencies[0]: task 3 depends on subtask 2.7, "
        "which is not in the file",
        "tasks[2] (task 3).dependencies[1]: task 3 depends on subtask 4.1, "
        "which is not in the file",
    ],
    "circular.json": [
        "tasks[0] (task 1): circular dependency: 1 -> 3 -> 2 -> 1 (each depends on the next)",
        "tasks[3] (task 4): circular dependency: 4 -> 4.1 -> 5.1 -> 4 (each depends on the "
        "next; a task waits for its subtasks, and its subtasks wait for the task's "
        "dependencies)",
    ],
    "duplicate-ids.json": [
        "tasks[2] (task 2).id: duplicate id: task 2 is also at tasks[1]",
        "tasks[3] (task 3).subtasks[1] (subtask 3.1).id: duplicate id: subtask 3.1 is also "
        "at tasks[3].subtasks[0]",
    ],
    "invalid-status-priority.json": [
        'tasks[0] (task 1).status: invalid status "wip"; expected one of pending, '
        "in-progress, done, review, deferred, cancelled, blocked, completed",
        'tasks[1] (task 2).priority: invalid priority "urgent"; expected one of critical, '
        "high, medium, low",
        'tasks[2] (task 3).subtasks[0] (subtask 3.1).status: invalid status "finished"; '
        "expected one of pending, in-progress, done, review, deferred, cancelled, blocked, "
        "completed",
        "tasks[2] (task 3).subtasks[0] (subtask 3.1).priority: invalid priority 1; "
        "expected one of critical, high, medium, low",
    ],
    "malformed.json": [
        "tasks[1]: a task must be an object, not a string",
        'tasks[2].id: missing (expected a whole number >= 1 (3 or "3"))',
        'tasks[3].id: must be a whole number >= 1 (3 or "3"), not "two"',
        "tasks[4] (task 4).title: missing (expected a non-empty string)",
        "tasks[4] (task 4).details: must be a string, not an array",
        "tasks[4] (task 4).dependencies: must be an array of task ids, not a string",
        *(
            f'tasks[5] (task 5).dependencies[{index}]: must be a task id (3 or "3") '
            f'or a subtask reference ("3.2"), not {value}'
            for index, value in enumerate(["1.5", "true", '"x"', '"1.2.3"'])
        ),
        "tasks[6] (task 6).subtasks: must be an array of subtasks, not an object",
        "tasks[7] (task 7).subtasks[0]: a subtask must be an object, not null",
        "tasks[7] (task 7).subtasks[1] (subtask 7.1).title: must be a non-empty string, "
        "not a number",
        "tasks[7] (task 7).subtasks[2] (subtask 7.2).subtasks: subtasks of a subtask are "
        "not supported",
    ],
}


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_each_kind_of_problem_is_reported_naming_its_task(name: str) -> None:
    assert problems_of(name) == PROBLEMS[name]


def test_every_problem_of_a_file_is_reported_in_one_pass() -> None:
    found = problems_of("many-problems.json")
    assert found == [
        'master.tasks[1] (task 2).status: invalid status "started"; expected one of pending, '
        "in-progress, done, review, deferred, cancelled, blocked, completed",
        'master.tasks[3] (task 3).priority: invalid priority "highest"; expected one of '
        "critical, high, medium, low",
        "master.tasks[5] (task 5).title: missing (expected a non-empty string)",
        "master.tasks[5] (task 5).dependencies: must be an array of task ids, not a string",
        "master.tasks[2] (task 2).id: duplicate id: task 2 is also at master.tasks[1]",
        "master.tasks[0] (task 1).dependencies[0]: task 1 depends on itself",
        "master.tasks[1] (task 2).dependencies[1]: task 2 depends on task 8, "
        "which is not in the file",
        "master.tasks[3] (task 3): circular dependency: 3 -> 4 -> 3 (each depends on the next)",
    ]


def test_the_dependencies_of_finished_tasks_are_not_checked() -> None:
    # Given a done task whose dependencies are stale (missing, circular among done tasks)
    document = {
        "tasks": [
            {"id": 1, "title": "Old", "status": "done", "dependencies": [7, 2]},
            {"id": 2, "title": "Older", "status": "done", "dependencies": [1]},
            {"id": 3, "title": "New", "status": "pending", "dependencies": [1]},
        ]
    }
    # Then the rest runs, without waiting for them
    spec = load_taskmaster(document)
    assert [(task.id, task.depends_on) for task in spec.tasks] == [("task-3", ())]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"tasks": [{"id": 1, "title": "Done", "status": "done"}]},
            "tasks: nothing to run: every task is done or cancelled",
        ),
        ({"master": {"tasks": []}}, "master.tasks: nothing to run: the tag has no tasks"),
        ({"master": {"metadata": {}}}, "master.tasks: missing (expected an array of tasks)"),
        ({"master": []}, "master: must be an object with a 'tasks' array, not an array"),
        (
            {"master": {"tasks": {"id": 1}}},
            "master.tasks: must be an array of tasks, not an object",
        ),
    ],
)
def test_a_tag_without_tasks_to_run_is_refused(document: dict[str, Any], message: str) -> None:
    assert problems_of(document) == [message]


def test_a_file_that_is_not_json_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "tasks.json"
    bad.write_text('{"tasks": [\n  {"id": 1,, "title": "x"}\n]}\n')
    (found,) = problems_of(str(bad))
    assert found.startswith(f"{bad}:2:12: not valid JSON")


# -- the command line ----------------------------------------------------------------------


def test_validate_accepts_a_tasks_json_and_refuses_a_broken_one() -> None:
    result = CliRunner().invoke(main, ["validate", str(DATA / "tasks.json")])
    assert result.exit_code == 0, result.output
    assert "ok: workflow 'tasks', 20 tasks, 0 agents" in result.output
    assert "not run (done or cancelled): 1, 1.1, 1.2, 2, 3.1, 10.2, 11" in result.output

    result = CliRunner().invoke(main, ["validate", str(DATA / "tagged.json"), "--tag", "nope"])
    assert result.exit_code == EXIT_REJECTED
    assert "tag 'nope' is not in the file" in result.output

    result = CliRunner().invoke(main, ["validate", str(DATA / "many-problems.json")])
    assert result.exit_code == EXIT_REJECTED
    assert "workflow 'many-problems' rejected with 8 problem(s)" in result.output
    assert "circular dependency: 3 -> 4 -> 3" in result.output
