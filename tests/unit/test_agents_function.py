"""FunctionAgent: the built-in agent that runs plain function tasks (no Ray)."""

from __future__ import annotations

from typing import Any

import pytest

from agents.function import FunctionAgent
from orchestrator.agent import NonRetryableError, TaskContext, agent_spec
from orchestrator.core.pools import FUNCTION_AGENT_CLASS
from orchestrator.import_paths import import_object


def _ctx(function: Any, *args: Any, **kwargs: Any) -> TaskContext:
    return TaskContext(
        workflow_id="wf",
        task_id="t1",
        attempt=1,
        agent_id="functions-0",
        args=args,
        kwargs=kwargs,
        inputs={},
        function=function,
    )


def test_calls_the_function_with_args_and_kwargs() -> None:
    def describe(a: int, b: int, *, sep: str) -> str:
        return f"{a}{sep}{b}"

    assert FunctionAgent().handle(_ctx(describe, 1, 2, sep="-")) == "1-2"


def test_returns_the_result_unchanged() -> None:
    result = {"shards": [[1], [2]]}
    assert FunctionAgent().handle(_ctx(lambda: result)) is result


def test_missing_function_is_not_retryable_and_names_the_task() -> None:
    with pytest.raises(NonRetryableError, match=r"task 't1'.*without a function"):
        FunctionAgent().handle(_ctx(None))


def test_non_callable_function_is_not_retryable() -> None:
    with pytest.raises(NonRetryableError, match=r"'not a function'.*str.*not callable"):
        FunctionAgent().handle(_ctx("not a function"))


def test_errors_of_the_function_propagate_unchanged() -> None:
    def broken() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        FunctionAgent().handle(_ctx(broken))


def test_import_path_used_by_the_core_resolves_to_the_class() -> None:
    assert FUNCTION_AGENT_CLASS == "agents.function:FunctionAgent"
    assert import_object(FUNCTION_AGENT_CLASS) is FunctionAgent


def test_declared_name_and_size() -> None:
    spec = agent_spec(FunctionAgent)
    assert spec.name == "functions"
    assert spec.resources.num_cpus == 1.0
