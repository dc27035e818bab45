"""Secret arguments: masked, never stored, revealed only to the handler."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.secrets import RedactedSecret, SecretLostError, has_secret, redact, reveal
from orchestrator.core.specs import TaskSpec, WorkflowSpec
from orchestrator.durable.spec_codec import decode, encode
from orchestrator.loader import workflow_from_mapping

SECRET = "s3cr3t-value"


def test_redact_and_reveal_walk_arguments_and_keep_the_rest() -> None:
    args = (1, [SecretStr(SECRET), "plain"], {"k": {"deep": SecretStr(SECRET)}})
    assert has_secret(args) and not has_secret((1, "plain", {"k": [2]}))
    assert reveal(args) == (1, [SECRET, "plain"], {"k": {"deep": SECRET}})
    hidden = redact(args)
    assert hidden == (1, [RedactedSecret(), "plain"], {"k": {"deep": RedactedSecret()}})
    assert SECRET not in repr(hidden)
    plain = (1, ["a"], {"b": 2})
    assert redact(plain) is plain and reveal(plain) is plain  # nothing copied
    with pytest.raises(SecretLostError, match="lost when the workflow was restored"):
        reveal(hidden)


def test_a_stored_spec_holds_no_secret_and_restores_as_redacted() -> None:
    spec = WorkflowSpec(
        name="w",
        id="w-1",
        tasks=(TaskSpec(id="a", function="math:floor", kwargs={"token": SecretStr(SECRET)}),),
    )
    structure, values = encode(PackedWorkflow.pack(spec))
    assert SECRET.encode() not in structure + values
    restored = decode(structure, values)
    assert restored.rows[0].kwargs == {"token": RedactedSecret()}


def test_files_give_secrets_from_the_environment_or_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    spec = workflow_from_mapping(
        {
            "name": "x",
            "tasks": [
                {
                    "id": "a",
                    "function": "math:floor",
                    "args": [{"secret": True, "value": "inline"}],
                    "kwargs": {"password": {"secret": True, "env": "DB_PASSWORD"}},
                }
            ],
        }
    )
    task = spec.tasks[0]
    assert isinstance(task.args[0], SecretStr) and task.args[0].get_secret_value() == "inline"
    assert task.kwargs["password"].get_secret_value() == SECRET
    assert SECRET not in repr(spec)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"api_key": "plain"}, "kwargs['api_key']: looks like a secret in a plain field"),
        ({"db_password": "plain"}, "kwargs['db_password']: looks like a secret"),
        ({"x": {"secret": True, "env": "NOT_SET_ANYWHERE"}}, "env: environment variable"),
        ({"x": {"secret": True}}, "a secret is {secret: true, env: VARIABLE}"),
        ({"x": {"secret": True, "env": "A", "value": "b"}}, "a secret is {secret: true"),
        ({"x": {"secret": "yes", "value": "b"}}, "a secret is {secret: true"),
        ({"x": {"secret": True, "value": 3}}, "kwargs['x'].value: a secret's value must be a"),
    ],
)
def test_bad_secrets_are_refused_naming_the_field(kwargs: dict[str, object], expected: str) -> None:
    document = {"name": "x", "tasks": [{"id": "a", "function": "math:floor", "kwargs": kwargs}]}
    with pytest.raises(WorkflowRejectedError) as caught:
        workflow_from_mapping(document)
    assert expected in str(caught.value)


def _run_on_host(function: object, kwargs: dict[str, object]) -> tuple[Any, Any]:
    from agents.function import FunctionAgent
    from orchestrator.runtime.agent_host import AgentHost
    from orchestrator.runtime.wire import AttemptPayload
    from orchestrator.settings import LoggingSettings

    host = AgentHost("a#1", FunctionAgent, {}, LoggingSettings(level="ERROR"))
    payload = AttemptPayload(1, "w", "t", 1, function, (), kwargs, (), ())
    # Called in this process, as Ray would in the actor's (no Ray needed with no inputs).
    outcomes, result = host.run_batch([payload], [])  # type: ignore[operator]
    return outcomes[0], result


def _length(token: str) -> int:
    assert isinstance(token, str)
    return len(token)


def test_the_agent_host_hands_the_plain_value_and_fails_a_lost_secret_for_good() -> None:
    outcome, result = _run_on_host(_length, {"token": SecretStr(SECRET)})
    assert result == len(SECRET) and outcome.error_type is None
    lost, _ = _run_on_host(_length, {"token": RedactedSecret()})
    assert (lost.error_type, lost.retryable) == ("SecretLostError", False)
