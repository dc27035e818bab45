"""The malformed-input table: each kind of bad workflow file is refused, naming the field.

Refused by the loader before anything runs (``orchestrator validate`` and ``run`` print
the same problems; the supervisor's door checks handlers, sizes and quotas again, see
tests/integration/test_security.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.handler_policy import HandlerPolicy
from orchestrator.core.schedules import ScheduleSpec
from orchestrator.loader import workflow_from_mapping

OK = {"id": "a", "function": "math:floor", "args": [1.5]}


def _doc(*tasks: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"name": "bad", "tasks": list(tasks), **top}


TABLE: list[tuple[str, dict[str, Any], str]] = [
    (
        "wrong type",
        _doc({**OK, "timeout_s": "soon"}),
        "(id 'a').timeout_s: Input should be a valid number",
    ),
    ("unknown field", _doc({**OK, "colour": "red"}), "(id 'a').colour: unknown field"),
    ("unknown top-level field", _doc(OK, owner="me"), "owner: unknown field"),
    (
        "unsafe id",
        _doc({**OK, "id": "../etc/passwd"}),
        "(id '../etc/passwd').id: String should match pattern",
    ),
    (
        "oversize payload",
        _doc({**OK, "args": ["x" * 5000]}),
        "tasks['a'].args[0]: about 5005 bytes",
    ),
    (
        "too many tasks",
        _doc(*({**OK, "id": f"t{i}"} for i in range(6))),
        "tasks: 6 tasks exceed security.max_workflow_tasks (5)",
    ),
    (
        "cycle",
        _doc({**OK, "depends_on": ["b"]}, {**OK, "id": "b", "depends_on": ["a"]}),
        "dependency cycle: a -> b -> a",
    ),
    ("missing dependency", _doc({**OK, "depends_on": ["zz"]}), "'zz'"),
    ("self dependency", _doc({**OK, "depends_on": ["a"]}), "task 'a' depends on itself"),
    ("duplicate id", _doc(OK, OK), "task id 'a' is used more than once"),
    ("unknown agent", _doc({"id": "a", "agent": "Nobody"}), "agent 'Nobody' is not declared"),
    (
        "unknown import path",
        _doc({**OK, "function": "math:nothing_here"}),
        "tasks[0] (id 'a').function: module 'math' has no attribute 'nothing_here'",
    ),
    (
        "dangerous handler",
        _doc({**OK, "function": "os:system", "args": ["echo pwned"]}),
        "tasks[0] (id 'a').function: module 'os' is never allowed",
    ),
    (
        "handler outside the allowlist",
        _doc({**OK, "function": "json:loads"}),
        "module 'json' is not an allowed handler module",
    ),
    (
        "negative resources",
        _doc({**OK, "resources": {"num_cpus": -1}}),
        "(id 'a').resources.num_cpus: Input should be greater than or equal to 0",
    ),
    (
        "negative limit",
        _doc({**OK, "timeout_s": -1}),
        "(id 'a').timeout_s: Input should be greater than 0",
    ),
    (
        "zero attempts",
        _doc({**OK, "retry": {"max_attempts": 0}}),
        "(id 'a').retry.max_attempts: Input should be greater than or equal to 1",
    ),
    (
        "bad trigger rule",
        _doc({**OK, "trigger_rule": "sometimes"}),
        "(id 'a').trigger_rule: Input should be",
    ),
    ("bad priority", _doc({**OK, "priority": "urgent"}), "unknown priority 'urgent'"),
    (
        "deadline without a time zone",
        _doc({**OK, "deadline": "2026-01-01T12:00:00"}),
        "deadline must carry a time zone",
    ),
    (
        "secret in a plain field",
        _doc({**OK, "kwargs": {"password": "hunter2"}}),
        "tasks[0] (id 'a').kwargs['password']: looks like a secret in a plain field",
    ),
    (
        "malformed secret",
        _doc({**OK, "kwargs": {"x": {"secret": True}}}),
        "kwargs['x']: a secret is {secret: true, env: VARIABLE}",
    ),
]


@pytest.mark.parametrize(("kind", "document", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_each_kind_of_bad_input_is_refused_naming_the_field(
    kind: str, document: dict[str, Any], expected: str
) -> None:
    with pytest.raises(WorkflowRejectedError) as caught:
        workflow_from_mapping(
            document,
            policy=HandlerPolicy(allowed_modules=("math",)),
            max_argument_bytes=1024,
            max_workflow_tasks=5,
        )
    assert expected in str(caught.value), f"{kind}: {caught.value}"


def test_the_table_has_at_least_fifteen_kinds() -> None:
    assert len(TABLE) >= 15


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"every_s": -5}, "every_s"),
        ({"cron": "0 2 * * *", "timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(fields: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        ScheduleSpec(name="s", **fields)
