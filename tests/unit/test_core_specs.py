"""User-facing specs: pydantic errors name the field; placeholders become dependencies."""

from __future__ import annotations

import pickle
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.core import (
    AgentSpec,
    OutputOf,
    Priority,
    Problem,
    ResourceSpec,
    RetryPolicy,
    TaskSpec,
    WorkflowRejectedError,
    WorkflowSpec,
)
from orchestrator.validation_problems import format_location, problems_from_validation_error


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[Any, ...], str]]:
    return [(tuple(e["loc"]), e["type"]) for e in exc.value.errors()]


def _locs(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[Any, ...]]:
    return [loc for loc, _ in _errors(exc)]


# -- field errors ---------------------------------------------------------------------------

TASK = {"id": "t", "agent": "worker"}


@pytest.mark.parametrize(
    ("fields", "loc", "error_type"),
    [
        ({"resources": {"num_cpus": -1}}, ("resources", "num_cpus"), "greater_than_equal"),
        ({"resources": {"num_gpus": -0.5}}, ("resources", "num_gpus"), "greater_than_equal"),
        ({"resources": {"memory_bytes": -1}}, ("resources", "memory_bytes"), "greater_than_equal"),
        ({"resources": {"cpus": 1}}, ("resources", "cpus"), "extra_forbidden"),
        ({"colour": "red"}, ("colour",), "extra_forbidden"),
        ({"timeout_s": "soon"}, ("timeout_s",), "float_parsing"),
        ({"timeout_s": 0}, ("timeout_s",), "greater_than"),
        ({"estimated_duration_s": -1}, ("estimated_duration_s",), "greater_than_equal"),
        ({"depends_on": "a"}, ("depends_on",), "tuple_type"),
        ({"retry": {"max_attempts": 0}}, ("retry", "max_attempts"), "greater_than_equal"),
        ({"retry": {"backoff_multiplier": 0.5}}, ("retry", "backoff_multiplier"), None),
        ({"retry": {"tries": 3}}, ("retry", "tries"), "extra_forbidden"),
        ({"priority": "urgent"}, ("priority",), "value_error"),
        ({"priority": 9}, ("priority",), "enum"),
        ({"id": "has space"}, ("id",), "string_pattern_mismatch"),
        ({"id": "a/b"}, ("id",), "string_pattern_mismatch"),
        ({"id": ""}, ("id",), "string_pattern_mismatch"),
        ({"id": "-leading-dash"}, ("id",), "string_pattern_mismatch"),
        ({"depends_on": ["ok", "not ok"]}, ("depends_on", 1), "string_pattern_mismatch"),
        ({"deadline": "tomorrow"}, ("deadline",), "datetime_from_date_parsing"),
    ],
)
def test_task_field_errors_name_the_field(
    fields: dict[str, Any], loc: tuple[Any, ...], error_type: str | None
) -> None:
    with pytest.raises(ValidationError) as exc:
        TaskSpec(**{**TASK, **fields})
    errors = _errors(exc)
    assert [e[0] for e in errors] == [loc]
    if error_type is not None:
        assert errors[0][1] == error_type


def test_every_field_error_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as exc:
        TaskSpec(
            id="bad id",
            agent="worker",
            resources={"num_cpus": -1},
            priority="urgent",
            extra_field=1,  # type: ignore[call-arg]
        )
    assert set(_locs(exc)) == {
        ("id",),
        ("resources", "num_cpus"),
        ("priority",),
        ("extra_field",),
    }


def test_unknown_priority_message_lists_the_names() -> None:
    with pytest.raises(ValidationError) as exc:
        TaskSpec(**TASK, priority="urgent")
    message = exc.value.errors()[0]["msg"]
    assert "'urgent'" in message
    for name in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "BACKGROUND"):
        assert name in message


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"id": "t"}, "exactly one of 'agent' and 'function'"),
        ({"id": "t", "agent": "a", "function": "m:f"}, "exactly one of 'agent' and 'function'"),
        ({"id": "t", "agent": "a", "deadline": datetime(2030, 1, 1)}, "time zone"),
    ],
)
def test_cross_field_rules(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as exc:
        TaskSpec(**fields)
    assert fragment in str(exc.value)


def test_function_must_be_a_callable_or_an_import_path() -> None:
    assert TaskSpec(id="t", function="pkg.mod:fn").function == "pkg.mod:fn"
    assert TaskSpec(id="t", function=len).function is len
    with pytest.raises(ValidationError) as exc:
        TaskSpec(id="t", function=42)
    assert _locs(exc) == [("function",)]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("high", Priority.HIGH),
        ("HIGH", Priority.HIGH),
        ("Critical", Priority.CRITICAL),
        (" low ", Priority.LOW),
        ("background", Priority.BACKGROUND),
        (Priority.MEDIUM, Priority.MEDIUM),
        (0, Priority.CRITICAL),
        (4, Priority.BACKGROUND),
    ],
)
def test_priority_names_parse_case_insensitively(given: object, expected: Priority) -> None:
    assert TaskSpec(**TASK, priority=given).priority is expected


def test_priority_defaults_to_medium_and_lower_runs_first() -> None:
    assert TaskSpec(**TASK).priority is Priority.MEDIUM
    assert sorted(Priority, reverse=True)[-1] is Priority.CRITICAL
    assert Priority.CRITICAL < Priority.HIGH < Priority.MEDIUM < Priority.LOW < Priority.BACKGROUND


def test_specs_are_frozen() -> None:
    task = TaskSpec(**TASK)
    with pytest.raises(ValidationError):
        task.id = "other"  # type: ignore[misc]


def test_aware_deadline_is_accepted() -> None:
    task = TaskSpec(**TASK, deadline="2030-01-01T12:00:00+02:00")
    assert task.deadline is not None
    assert task.deadline.utcoffset() is not None


# -- placeholders ---------------------------------------------------------------------------


def test_output_of_dicts_from_files_become_placeholders_and_dependencies() -> None:
    # Given a task as read from YAML: plain dicts, lists and strings
    raw = {
        "id": "merge",
        "function": "pkg.mod:merge",
        "args": [{"output_of": "a"}, [{"output_of": "b"}, 3], "literal"],
        "kwargs": {"extra": {"nested": {"output_of": "c"}}, "n": 1},
        "depends_on": ["z", "a"],
    }
    # When it is validated
    task = TaskSpec.model_validate(raw)
    # Then the placeholders are OutputOf objects and dependencies, without repeats
    assert task.args[0] == OutputOf(output_of="a")
    assert task.args[1] == [OutputOf(output_of="b"), 3]
    assert task.args[2] == "literal"
    assert task.kwargs["extra"] == {"nested": OutputOf(output_of="c")}
    assert task.dependencies() == ("z", "a", "b", "c")


def test_dicts_that_are_not_exactly_a_placeholder_stay_dicts() -> None:
    task = TaskSpec(**TASK, args=({"output_of": "a", "other": 1},), kwargs={"output": "a"})
    assert task.args == ({"output_of": "a", "other": 1},)
    assert task.dependencies() == ()


def test_placeholders_given_as_objects_are_dependencies() -> None:
    task = TaskSpec(
        **TASK, args=(OutputOf(output_of="up"),), kwargs={"k": (OutputOf(output_of="x"),)}
    )
    assert task.dependencies() == ("up", "x")


def test_no_placeholders_means_depends_on_only() -> None:
    task = TaskSpec(**TASK, args=(1, "two"), depends_on=("a", "b"))
    assert task.dependencies() == ("a", "b")


def test_bad_placeholder_id_error_names_the_argument() -> None:
    # Was a bug: `_coerce_output_refs` builds `OutputOf(...)` inside TaskSpec's before-validator;
    # pydantic re-raises the nested error at location ('output_of',) of the TaskSpec, as if
    # `output_of` were a field of the task, so nothing tells the user which argument was
    # wrong (a YAML file with a typo in one of 500 placeholders gets "output_of: String
    # should match pattern ...").
    # Fix: in `_placeholders_from_files` catch the ValidationError and raise a ValueError
    # naming the path (e.g. "args[0].output_of: 'bad id' is not a valid task id"), or
    # validate placeholder ids in an after-validator that knows the argument's position.
    with pytest.raises(ValidationError) as exc:
        TaskSpec(id="t", function="m:f", args=[{"output_of": "bad id"}])
    rendered = str(exc.value)
    assert "args" in rendered, rendered


# -- retry policy -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "failures", "expected_s"),
    [
        (RetryPolicy(), 0, 0.5),
        (RetryPolicy(), 1, 0.5),
        (RetryPolicy(), 2, 1.0),
        (RetryPolicy(), 3, 2.0),
        (RetryPolicy(initial_backoff_s=1, backoff_multiplier=3), 3, 9.0),
        (RetryPolicy(initial_backoff_s=1, backoff_multiplier=10, max_backoff_s=50), 3, 50.0),
        (RetryPolicy(initial_backoff_s=0), 5, 0.0),
        (RetryPolicy(backoff_multiplier=1, initial_backoff_s=2), 7, 2.0),
        (RetryPolicy(), 100, 30.0),
    ],
)
def test_backoff_s(policy: RetryPolicy, failures: int, expected_s: float) -> None:
    assert policy.backoff_s(failures) == pytest.approx(expected_s)


def test_retry_policy_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.max_agent_losses) == (1, 3)


# -- agents and workflows -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"replicas": 0}, ("replicas",)),
        ({"max_concurrency": 0}, ("max_concurrency",)),
        ({"resources": {"num_gpus": -1}}, ("resources", "num_gpus")),
        ({"agent_class": 3}, ("agent_class",)),
        ({"name": "bad name"}, ("name",)),
        ({"threads": 2}, ("threads",)),
    ],
)
def test_agent_field_errors_name_the_field(fields: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as exc:
        AgentSpec(**{"name": "a", "agent_class": "m:A", **fields})
    assert _locs(exc) == [loc]


def test_min_replicas_above_replicas_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"min_replicas \(3\) is larger than replicas \(2\)"):
        AgentSpec(name="a", agent_class="m:A", replicas=2, min_replicas=3)


def test_workflow_needs_a_task_and_names_the_bad_one() -> None:
    with pytest.raises(ValidationError) as exc:
        WorkflowSpec(name="w", tasks=())
    assert _locs(exc) == [("tasks",)]
    raw = {"name": "w", "tasks": [{"id": "ok", "agent": "a"}, {"id": "t2", "agent": "a", "x": 1}]}
    with pytest.raises(ValidationError) as exc:
        WorkflowSpec.model_validate(raw)
    assert _locs(exc) == [("tasks", 1, "x")]
    [problem] = problems_from_validation_error(exc.value, raw)
    assert problem == Problem("tasks[1] (id 't2').x", "unknown field")


def test_with_id_copies() -> None:
    spec = WorkflowSpec(name="w", tasks=(TaskSpec(**TASK),))
    assert spec.with_id("w-1").id == "w-1"
    assert spec.id is None


def test_resource_spec_defaults_and_label() -> None:
    assert ResourceSpec().label() == "cpu=1,gpu=0,mem=0"
    assert ResourceSpec(num_cpus=0.5, num_gpus=2, memory_bytes=10).label() == "cpu=0.5,gpu=2,mem=10"


# -- error rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loc", "raw", "expected"),
    [
        (("tasks", 3, "resources", "num_cpus"), None, "tasks[3].resources.num_cpus"),
        (
            ("tasks", 1, "resources", "num_cpus"),
            {"tasks": [{"id": "a"}, {"id": "count-2"}]},
            "tasks[1] (id 'count-2').resources.num_cpus",
        ),
        (
            ("agents", 0, "replicas"),
            {"agents": [{"name": "llm"}]},
            "agents[0] (name 'llm').replicas",
        ),
        (("depends_on", 2), None, "depends_on[2]"),
        ((), None, ""),
    ],
)
def test_format_location(loc: tuple[Any, ...], raw: Any, expected: str) -> None:
    assert format_location(loc, raw) == expected


def test_workflow_rejected_error_lists_every_problem_and_pickles() -> None:
    error = WorkflowRejectedError("wf", [Problem("id", "bad"), Problem("", "worse")])
    assert "2 problem(s)" in str(error)
    assert "  - id: bad" in str(error)
    assert "  - worse" in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.problems == error.problems
    assert copy.workflow == "wf"
