"""Importing WfCommons WfFormat instances: good files become workflows, bad ones are named."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.wfformat import (
    SIMULATE_FUNCTION,
    SUPPORTED_SCHEMA_VERSIONS,
    is_wfformat,
    load_wfformat,
    read_wfformat,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "wfformat"
VALID_15 = DATA / "valid-1.5.json"
VALID_14 = DATA / "valid-1.4.json"
GENERATED = DATA / "srasearch-wfcommons-1.6.json"


def _raw(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _rejection(source: Any, **options: Any) -> WorkflowRejectedError:
    with pytest.raises(WorkflowRejectedError) as caught:
        load_wfformat(source, **options)
    return caught.value


def _problems(source: Any) -> list[str]:
    return [str(problem) for problem in _rejection(source).problems]


# -- good files ------------------------------------------------------------------------


def test_valid_15_instance_becomes_one_simulated_task_per_wfformat_task() -> None:
    spec = load_wfformat(VALID_15, time_scale=0.5)

    assert spec.name == "Hand_written_align_pipeline"
    tasks = {task.id: task for task in spec.tasks}
    assert list(tasks) == [
        "split_00000001",
        "align_00000002",
        "align_00000003",
        "merge_00000004",
        "qc_1",
        "report_00000006",
    ]
    assert all(task.function == SIMULATE_FUNCTION for task in spec.tasks)
    # Durations are the recorded runtimes times 0.5, in args and as the estimate.
    durations = {task_id: task.args for task_id, task in tasks.items()}
    assert durations == {
        "split_00000001": (5.0, "sleep"),
        "align_00000002": (10.0, "sleep"),
        "align_00000003": (15.0, "sleep"),
        "merge_00000004": (2.5, "sleep"),
        "qc_1": (1.0, "sleep"),
        "report_00000006": (0.5, "sleep"),
    }
    assert {t: task.estimated_duration_s for t, task in tasks.items()} == {
        t: args[0] for t, args in durations.items()
    }
    cores = {t: task.resources.num_cpus for t, task in tasks.items() if task.resources}
    assert cores == {
        "split_00000001": 1.0,
        "align_00000002": 2.0,
        "align_00000003": 1.0,  # no coreCount recorded
        "merge_00000004": 4.0,
        "qc_1": 1.0,
        "report_00000006": 1.0,
    }


def test_dependencies_come_from_parents_and_from_children_lists() -> None:
    spec = load_wfformat(VALID_15)

    deps = {task.id: set(task.depends_on) for task in spec.tasks}
    assert deps == {
        "split_00000001": set(),
        "align_00000002": {"split_00000001"},
        "align_00000003": {"split_00000001"},
        "merge_00000004": {"align_00000002", "align_00000003"},
        "qc_1": {"split_00000001"},
        # 'qc#1' is only named in qc#1's children list, not in report's parents.
        "report_00000006": {"merge_00000004", "qc_1"},
    }


def test_read_wfformat_keeps_the_id_mapping_runtimes_and_version() -> None:
    instance = read_wfformat(VALID_15, time_scale=2.0)

    assert instance.schema_version == "1.5"
    assert instance.task_ids["qc#1"] == "qc_1"
    assert instance.task_ids["merge_00000004"] == "merge_00000004"
    assert instance.runtimes_s["align_00000003"] == 30.0
    assert sum(instance.runtimes_s.values()) == 68.0
    assert instance.spec.metadata == {
        "source": "wfformat",
        "wfformat.schema_version": "1.5",
        "wfformat.time_scale": "2",
        "wfformat.mode": "sleep",
        "wfformat.name": "Hand written align pipeline",
    }


def test_options_mode_max_cores_and_name_are_applied() -> None:
    spec = load_wfformat(VALID_15, time_scale=0.001, mode="compute", max_cores=2, name="wf-1")

    tasks = {task.id: task for task in spec.tasks}
    assert spec.name == "wf-1"
    assert tasks["merge_00000004"].resources is not None
    assert tasks["merge_00000004"].resources.num_cpus == 2.0  # 4 capped at 2
    assert tasks["align_00000003"].args == (pytest.approx(0.03), "compute")


def test_time_scale_zero_keeps_structure_with_zero_length_tasks() -> None:
    spec = load_wfformat(VALID_15, time_scale=0)

    assert {task.args[0] for task in spec.tasks} == {0.0}
    assert len(spec.tasks) == 6


def test_a_parsed_document_loads_like_its_file() -> None:
    assert load_wfformat(_raw(VALID_15)) == load_wfformat(VALID_15)


def test_valid_14_instance_uses_names_as_ids_and_rounds_cores_above_one_up() -> None:
    instance = read_wfformat(VALID_14)
    tasks = {task.id: task for task in instance.spec.tasks}

    assert instance.schema_version == "1.4"
    assert list(tasks) == [
        "stage_in_ID0000001",
        "prepare_ID0000002",
        "analyse_ID0000003",
        "combine_ID0000004",
        "cleanup_ID0000005",
    ]
    assert {t: set(task.depends_on) for t, task in tasks.items()} == {
        "stage_in_ID0000001": set(),
        "prepare_ID0000002": {"stage_in_ID0000001"},
        "analyse_ID0000003": {"stage_in_ID0000001"},  # referenced by its id 'ID0000001'
        "combine_ID0000004": {"prepare_ID0000002", "analyse_ID0000003"},
        "cleanup_ID0000005": {"combine_ID0000004"},
    }
    cores = {t: task.resources.num_cpus for t, task in tasks.items() if task.resources}
    assert cores == {
        "stage_in_ID0000001": 1.0,
        "prepare_ID0000002": 2.0,  # 1.5 rounded up
        "analyse_ID0000003": 0.5,  # a fraction below one is kept
        "combine_ID0000004": 4.0,
        "cleanup_ID0000005": 1.0,
    }
    assert {t: task.args[0] for t, task in tasks.items()} == {
        "stage_in_ID0000001": 4.0,
        "prepare_ID0000002": 6.0,
        "analyse_ID0000003": 12.0,
        "combine_ID0000004": 3.0,
        "cleanup_ID0000005": 0.0,
    }


def test_instance_generated_by_wfcommons_matches_its_file() -> None:
    # Given the file wfcommons 1.6 wrote (SRASearch recipe, 22 tasks)
    raw = _raw(GENERATED)
    spec_tasks = raw["workflow"]["specification"]["tasks"]
    runtimes = {t["id"]: t["runtimeInSeconds"] for t in raw["workflow"]["execution"]["tasks"]}
    cores = {t["id"]: t.get("coreCount", 1) for t in raw["workflow"]["execution"]["tasks"]}

    # When it is imported at 1/100 of real time
    spec = load_wfformat(GENERATED, time_scale=0.01)

    # Then every task, edge, duration and core count is there
    assert raw["schemaVersion"] == "1.6"
    assert len(spec.tasks) == len(spec_tasks) == 22
    tasks = {task.id: task for task in spec.tasks}
    assert set(tasks) == {t["id"] for t in spec_tasks}
    for item in spec_tasks:
        assert set(tasks[item["id"]].depends_on) == set(item["parents"])
        assert tasks[item["id"]].args == (pytest.approx(runtimes[item["id"]] * 0.01), "sleep")
        resources = tasks[item["id"]].resources
        assert resources is not None
        assert resources.num_cpus == cores[item["id"]]
    edges = sum(len(task.depends_on) for task in spec.tasks)
    assert edges == sum(len(item["parents"]) for item in spec_tasks) > 0


def test_ids_outside_the_orchestrator_pattern_are_rewritten() -> None:
    data = _raw(VALID_15)
    long_id = "x" * 250
    _rename(data, "split_00000001", "-split/one")
    _rename(data, "report_00000006", long_id)

    instance = read_wfformat(data)

    assert instance.task_ids["-split/one"] == "_split_one"
    assert instance.task_ids[long_id] == "x" * 200
    tasks = {task.id: task for task in instance.spec.tasks}
    assert tasks["align_00000002"].depends_on == ("_split_one",)


# -- is_wfformat -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_raw(VALID_15), True),
        (_raw(VALID_14), True),
        ({"schemaVersion": "9.9", "workflow": None}, True),  # malformed, still recognised
        ({"name": "wf", "tasks": [{"id": "a", "function": "m:f"}]}, False),
        ({"schemaVersion": "1.5"}, False),
        ([{"schemaVersion": "1.5", "workflow": {}}], False),
        ("schemaVersion workflow", False),
    ],
)
def test_is_wfformat(data: object, expected: bool) -> None:
    assert is_wfformat(data) is expected


# -- bad options -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"time_scale": -1.0}, "time_scale must be a finite number >= 0"),
        ({"time_scale": math.nan}, "time_scale must be a finite number >= 0"),
        ({"time_scale": "2"}, "time_scale must be a number"),
        ({"mode": "spin"}, "mode must be one of sleep, compute, got 'spin'"),
        ({"max_cores": 0}, "max_cores must be a whole number >= 1"),
        ({"max_cores": 1.5}, "max_cores must be a whole number >= 1"),
        ({"name": "has space"}, "name 'has space' is not a valid workflow id"),
    ],
)
def test_invalid_options_raise_value_error(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_wfformat(VALID_15, **options)


def test_missing_file_raises_file_not_found() -> None:
    with pytest.raises(FileNotFoundError):
        load_wfformat(DATA / "does-not-exist.json")


# -- malformed files -------------------------------------------------------------------


def test_file_that_is_not_json_names_the_line() -> None:
    error = _rejection(DATA / "not-json.json")

    assert error.workflow == "not-json"
    assert [str(p) for p in error.problems] == [
        f"{DATA / 'not-json.json'}: is not valid JSON: Expecting ',' delimiter at line 3, column 14"
    ]


def test_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"name": "caf\xe9"}')

    (problem,) = _rejection(path).problems
    assert problem.where == str(path)
    assert "is not UTF-8 text" in problem.message


def test_json_array_is_not_an_instance() -> None:
    (problem,) = _rejection(DATA / "top-level-array.json").problems
    assert problem.message == "a WfFormat instance is a JSON object, not an array"


def test_every_problem_of_a_file_is_reported_in_one_pass() -> None:
    error = _rejection(DATA / "malformed-1.5.json")

    assert error.workflow == "several-problems"
    assert sorted(str(p) for p in error.problems) == sorted(
        [
            "workflow.specification.tasks[1] (id 'mProject_1').parents: unknown task 'x'",
            "workflow.specification.tasks[2].id: missing (expected a non-empty string)",
            "workflow.specification.tasks[3] (id 'typed').parents: must be an array, not a string",
            "workflow.specification.tasks[3] (id 'typed').children[0]: must be a non-empty "
            "string (a task reference), not 7",
            "workflow.specification.tasks[4] (id 'orphan'): has no entry in "
            "workflow.execution.tasks, so its runtime is unknown",
            "workflow.execution.tasks[1] (id 'mProject_1').runtimeInSeconds: must be a "
            "finite number >= 0, got -3",
            "workflow.execution.tasks[2] (id 'typed').runtimeInSeconds: must be a finite "
            "number >= 0, got '12'",
            "workflow.execution.tasks[2] (id 'typed').coreCount: must be a number >= 1, got 0",
            "workflow.execution.tasks[3] (id 'ghost').id: task 'ghost' is not in "
            "workflow.specification.tasks",
        ]
    )
    assert "rejected with 9 problem(s)" in str(error)


def test_cycle_is_named_with_its_tasks() -> None:
    assert _problems(DATA / "cycle-1.5.json") == [
        "workflow.specification.tasks[1] (id 'a'): dependency cycle: 'a' -> 'b' -> 'c' -> 'a'"
    ]


def _rename(data: dict[str, Any], old: str, new: str) -> None:
    workflow = data["workflow"]
    for task in workflow["specification"]["tasks"] + workflow["execution"]["tasks"]:
        if task["id"] == old:
            task["id"] = new
        for key in ("parents", "children"):
            if key in task:
                task[key] = [new if ref == old else ref for ref in task[key]]


def _spec_task(data: dict[str, Any], index: int) -> dict[str, Any]:
    task: dict[str, Any] = data["workflow"]["specification"]["tasks"][index]
    return task


def _exec_task(data: dict[str, Any], index: int) -> dict[str, Any]:
    task: dict[str, Any] = data["workflow"]["execution"]["tasks"][index]
    return task


Mutation = Callable[[dict[str, Any]], object]

SPEC_1 = "workflow.specification.tasks[1] (id 'align_00000002')"
EXEC_1 = "workflow.execution.tasks[1] (id 'align_00000002')"

MALFORMED_15: list[tuple[str, Mutation, str, str]] = [
    (
        "workflow missing",
        lambda d: d.pop("workflow"),
        "workflow",
        "missing (expected an object)",
    ),
    (
        "workflow not an object",
        lambda d: d.update(workflow=[1]),
        "workflow",
        "must be an object, not an array",
    ),
    (
        "schemaVersion missing",
        lambda d: d.pop("schemaVersion"),
        "schemaVersion",
        "missing (expected one of 1.4, 1.5, 1.6)",
    ),
    (
        "schemaVersion unsupported",
        lambda d: d.update(schemaVersion="2.0"),
        "schemaVersion",
        "version '2.0' is not supported (supported: 1.4, 1.5, 1.6)",
    ),
    (
        "schemaVersion a number",
        lambda d: d.update(schemaVersion=1.5),
        "schemaVersion",
        "must be one of 1.4, 1.5, 1.6, not a number",
    ),
    ("name missing", lambda d: d.pop("name"), "name", "missing (expected a non-empty string)"),
    (
        "name blank",
        lambda d: d.update(name="  "),
        "name",
        "must be a non-empty string, not a string",
    ),
    (
        "specification missing",
        lambda d: d["workflow"].pop("specification"),
        "workflow.specification",
        "missing (expected an object)",
    ),
    (
        "tasks not a list",
        lambda d: d["workflow"]["specification"].update(tasks={"a": 1}),
        "workflow.specification.tasks",
        "must be an array of task objects, not an object",
    ),
    (
        "tasks empty",
        lambda d: d["workflow"]["specification"].update(tasks=[]),
        "workflow.specification.tasks",
        "is empty: a workflow needs at least one task",
    ),
    (
        "task not an object",
        lambda d: d["workflow"]["specification"]["tasks"].append("split"),
        "workflow.specification.tasks[6]",
        "must be an object, not a string",
    ),
    (
        "task id not a string",
        lambda d: _spec_task(d, 1).update(id=2),
        "workflow.specification.tasks[1].id",
        "must be a non-empty string, not a number",
    ),
    (
        "unknown parent",
        lambda d: _spec_task(d, 1)["parents"].append("x"),
        f"{SPEC_1}.parents",
        "unknown task 'x'",
    ),
    (
        "unknown child",
        lambda d: _spec_task(d, 1)["children"].append("nobody"),
        f"{SPEC_1}.children",
        "unknown task 'nobody'",
    ),
    (
        "parent not a string",
        lambda d: _spec_task(d, 1)["parents"].append(None),
        f"{SPEC_1}.parents[1]",
        "must be a non-empty string (a task reference), not None",
    ),
    (
        "task is its own parent",
        lambda d: _spec_task(d, 1)["parents"].append("align_00000002"),
        f"{SPEC_1}.parents",
        "the task lists itself as its own parent",
    ),
    (
        "duplicate id",
        lambda d: _spec_task(d, 2).update(id="align_00000002"),
        "workflow.specification.tasks[2] (id 'align_00000002').id",
        "'align_00000002' is also the id of workflow.specification.tasks[1]",
    ),
    (
        "ids equal once rewritten",
        lambda d: (
            d["workflow"]["specification"]["tasks"].append(
                {"name": "qc", "id": "qc/1", "parents": [], "children": []}
            ),
            d["workflow"]["execution"]["tasks"].append({"id": "qc/1", "runtimeInSeconds": 1}),
        ),
        "workflow.specification.tasks[6] (id 'qc/1').id",
        "becomes task id 'qc_1', as does workflow.specification.tasks[4] (id 'qc#1') "
        "(characters outside A-Z a-z 0-9 _ . : @ - are replaced by '_')",
    ),
    (
        "execution missing",
        lambda d: d["workflow"].pop("execution"),
        "workflow.execution",
        "missing: the instance records no task runtimes, so there is nothing to simulate",
    ),
    (
        "execution not an object",
        lambda d: d["workflow"].update(execution="later"),
        "workflow.execution",
        "must be an object, not a string",
    ),
    (
        "execution tasks missing",
        lambda d: d["workflow"]["execution"].pop("tasks"),
        "workflow.execution.tasks",
        "missing (expected an array of task objects)",
    ),
    (
        "execution entry missing",
        lambda d: d["workflow"]["execution"]["tasks"].pop(1),
        SPEC_1,
        "has no entry in workflow.execution.tasks, so its runtime is unknown",
    ),
    (
        "execution entry not an object",
        lambda d: d["workflow"]["execution"]["tasks"].append(3),
        "workflow.execution.tasks[6]",
        "must be an object, not a number",
    ),
    (
        "execution entry without id",
        lambda d: _exec_task(d, 1).pop("id"),
        "workflow.execution.tasks[1].id",
        "missing (expected a non-empty string)",
    ),
    (
        "execution entry twice",
        lambda d: d["workflow"]["execution"]["tasks"].append(dict(_exec_task(d, 1))),
        "workflow.execution.tasks[6] (id 'align_00000002').id",
        "task 'align_00000002' already has an entry at workflow.execution.tasks[1]",
    ),
    (
        "execution entry for an unknown task",
        lambda d: d["workflow"]["execution"]["tasks"].append(
            {"id": "ghost", "runtimeInSeconds": 1}
        ),
        "workflow.execution.tasks[6] (id 'ghost').id",
        "task 'ghost' is not in workflow.specification.tasks",
    ),
    (
        "negative runtime",
        lambda d: _exec_task(d, 1).update(runtimeInSeconds=-0.5),
        f"{EXEC_1}.runtimeInSeconds",
        "must be a finite number >= 0, got -0.5",
    ),
    (
        "runtime a string",
        lambda d: _exec_task(d, 1).update(runtimeInSeconds="20"),
        f"{EXEC_1}.runtimeInSeconds",
        "must be a finite number >= 0, got '20'",
    ),
    (
        "runtime a boolean",
        lambda d: _exec_task(d, 1).update(runtimeInSeconds=True),
        f"{EXEC_1}.runtimeInSeconds",
        "must be a finite number >= 0, got True",
    ),
    (
        "runtime not finite",
        lambda d: _exec_task(d, 1).update(runtimeInSeconds=math.inf),
        f"{EXEC_1}.runtimeInSeconds",
        "must be a finite number >= 0, got inf",
    ),
    (
        "runtime missing",
        lambda d: _exec_task(d, 1).pop("runtimeInSeconds"),
        f"{EXEC_1}.runtimeInSeconds",
        "missing: the task's runtime is needed",
    ),
    (
        "coreCount zero",
        lambda d: _exec_task(d, 1).update(coreCount=0),
        f"{EXEC_1}.coreCount",
        "must be a number >= 1, got 0",
    ),
    (
        "coreCount below one",
        lambda d: _exec_task(d, 1).update(coreCount=0.5),
        f"{EXEC_1}.coreCount",
        "must be a number >= 1, got 0.5",
    ),
    (
        "coreCount a string",
        lambda d: _exec_task(d, 1).update(coreCount="2"),
        f"{EXEC_1}.coreCount",
        "must be a number >= 1, got '2'",
    ),
]


SPEC_0 = "workflow.specification.tasks[0] (id 'split_00000001')"
SPEC_3 = "workflow.specification.tasks[3] (id 'merge_00000004')"
NOT_IN_SPEC = "task {!r} is not in workflow.specification.tasks"

# Further problems that follow, truthfully, from the first: a task without a readable id
# cannot be referenced, and its execution entry then points at nothing.
CONSEQUENCES: dict[str, list[tuple[str, str]]] = {
    "task id not a string": [
        (f"{EXEC_1}.id", NOT_IN_SPEC.format("align_00000002")),
        (f"{SPEC_0}.children", "unknown task 'align_00000002'"),
        (f"{SPEC_3}.parents", "unknown task 'align_00000002'"),
    ],
    "duplicate id": [
        (
            "workflow.execution.tasks[2] (id 'align_00000003').id",
            NOT_IN_SPEC.format("align_00000003"),
        ),
        (f"{SPEC_0}.children", "unknown task 'align_00000003'"),
        (f"{SPEC_3}.parents", "unknown task 'align_00000003'"),
    ],
    "execution entry without id": [
        (SPEC_1, "has no entry in workflow.execution.tasks, so its runtime is unknown")
    ],
    "task without name": [
        ("workflow.tasks[3] (name 'combine_ID0000004').parents", "unknown task 'prepare_ID0000002'")
    ],
    "duplicate name": [
        ("workflow.tasks[3] (name 'combine_ID0000004').parents", "unknown task 'analyse_ID0000003'")
    ],
}


@pytest.mark.parametrize(
    ("mutate", "where", "message"),
    [case[1:] for case in MALFORMED_15],
    ids=[case[0] for case in MALFORMED_15],
)
def test_malformed_15_instance_names_the_field(
    request: pytest.FixtureRequest, mutate: Mutation, where: str, message: str
) -> None:
    data = copy.deepcopy(_raw(VALID_15))
    mutate(data)

    error = _rejection(data)

    expected = [(where, message), *CONSEQUENCES.get(request.node.callspec.id, [])]
    assert sorted((p.where, p.message) for p in error.problems) == sorted(expected)


TASK_14_1 = "workflow.tasks[1] (name 'prepare_ID0000002')"


def _task_14(data: dict[str, Any], index: int) -> dict[str, Any]:
    task: dict[str, Any] = data["workflow"]["tasks"][index]
    return task


MALFORMED_14: list[tuple[str, Mutation, str, str]] = [
    (
        "tasks missing",
        lambda d: d["workflow"].pop("tasks"),
        # Without 'tasks' the layout is read as the 1.4 one it declares.
        "workflow.tasks",
        "missing (expected an array of task objects)",
    ),
    (
        "task without name",
        lambda d: _task_14(d, 1).pop("name"),
        "workflow.tasks[1].name",
        "missing (expected a non-empty string)",
    ),
    (
        "id not a string",
        lambda d: _task_14(d, 1).update(id=2),
        f"{TASK_14_1}.id",
        "must be a string, not a number",
    ),
    (
        "unknown parent name",
        lambda d: _task_14(d, 1).update(parents=["stage_in"]),
        f"{TASK_14_1}.parents",
        "unknown task 'stage_in'",
    ),
    (
        "cores zero",
        lambda d: _task_14(d, 1).update(cores=0),
        f"{TASK_14_1}.cores",
        "must be a number > 0, got 0",
    ),
    (
        "runtime negative",
        lambda d: _task_14(d, 1).update(runtimeInSeconds=-1),
        f"{TASK_14_1}.runtimeInSeconds",
        "must be a finite number >= 0, got -1",
    ),
    (
        "duplicate name",
        lambda d: _task_14(d, 2).update(name="prepare_ID0000002"),
        "workflow.tasks[2] (name 'prepare_ID0000002').name",
        "'prepare_ID0000002' is also the name of workflow.tasks[1]",
    ),
    (
        "cycle through names",
        lambda d: _task_14(d, 0).update(parents=["cleanup_ID0000005"]),
        # The cycle is reported once, from the task whose new id sorts first.
        "workflow.tasks[3] (name 'combine_ID0000004')",
        "dependency cycle: 'combine_ID0000004' -> 'cleanup_ID0000005' -> "
        "'stage_in_ID0000001' -> 'prepare_ID0000002' -> 'combine_ID0000004'",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "where", "message"),
    [case[1:] for case in MALFORMED_14],
    ids=[case[0] for case in MALFORMED_14],
)
def test_malformed_14_instance_names_the_field(
    request: pytest.FixtureRequest, mutate: Mutation, where: str, message: str
) -> None:
    data = copy.deepcopy(_raw(VALID_14))
    mutate(data)

    error = _rejection(data)

    expected = [(where, message), *CONSEQUENCES.get(request.node.callspec.id, [])]
    assert sorted((p.where, p.message) for p in error.problems) == sorted(expected)


def test_unsupported_version_still_reports_the_layouts_problems() -> None:
    data = copy.deepcopy(_raw(VALID_15))
    data["schemaVersion"] = "1.7"
    _spec_task(data, 1)["parents"].append("x")

    assert _problems(data) == [
        "schemaVersion: version '1.7' is not supported (supported: 1.4, 1.5, 1.6)",
        f"{SPEC_1}.parents: unknown task 'x'",
    ]


def test_supported_versions_are_the_documented_ones() -> None:
    assert SUPPORTED_SCHEMA_VERSIONS == ("1.4", "1.5", "1.6")
