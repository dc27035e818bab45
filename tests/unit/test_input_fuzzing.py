"""Hypothesis fuzzing of workflow files and Python specs: clean refusals, never a crash.

Documents are drawn from the fields a workflow file has, with values of every kind
(wrong types, unsafe ids, import paths of dangerous modules, secrets, cycles...). Each is
either accepted or refused with `WorkflowRejectedError` naming places; nothing else may
escape. Bounded example counts keep it in ``make test``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.handler_policy import HandlerPolicy
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.specs import WorkflowSpec
from orchestrator.loader import load_workflow_file, workflow_from_mapping
from orchestrator.workflow import check_structure

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
IDS = st.sampled_from(["a", "b", "c", "a b", "../x", "", "x" * 300, "ok-1", "é"])
PATHS = st.sampled_from(
    [
        "math:floor",
        "statistics:mean",
        "os:system",
        "subprocess:run",
        "builtins:eval",
        "agents.corpus.plan:os.system",
        "math:_private",
        "no.such:thing",
        "not a path",
        "agents.corpus:WordFrequencyAgent",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
VALUES = st.recursive(
    st.one_of(
        SCALARS,
        IDS.map(lambda task: {"output_of": task}),
        st.just({"secret": True, "value": "s"}),
        st.just({"secret": True, "env": "SURELY_NOT_SET_VAR"}),
        st.just({"event_payload": True}),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
TASK = st.fixed_dictionaries(
    {"id": st.one_of(IDS, SCALARS)},
    optional={
        "function": st.one_of(PATHS, SCALARS),
        "agent": st.one_of(IDS, SCALARS),
        "args": st.one_of(st.lists(VALUES, max_size=3), VALUES),
        "kwargs": st.one_of(st.dictionaries(st.text(max_size=10), VALUES, max_size=3), VALUES),
        "depends_on": st.one_of(st.lists(IDS, max_size=3), VALUES),
        "priority": st.one_of(st.sampled_from(["critical", "low", "urgent", 2, -1]), SCALARS),
        "resources": st.one_of(
            st.fixed_dictionaries({"num_cpus": SCALARS}), st.just({"num_gpus": 1000}), VALUES
        ),
        "retry": st.one_of(st.fixed_dictionaries({"max_attempts": SCALARS}), VALUES),
        "timeout_s": SCALARS,
        "trigger_rule": st.one_of(st.sampled_from(["all_done", "sometimes"]), SCALARS),
        "deadline": st.one_of(st.just("2026-01-01T00:00:00"), SCALARS),
        "cache": SCALARS,
        "colour": SCALARS,
    },
)
DOCUMENT = st.one_of(
    VALUES,
    st.fixed_dictionaries(
        {"tasks": st.one_of(st.lists(st.one_of(TASK, VALUES), max_size=4), VALUES)},
        optional={
            "name": st.one_of(IDS, SCALARS),
            "agents": st.one_of(
                st.lists(
                    st.fixed_dictionaries(
                        {"class": st.one_of(PATHS, SCALARS)},
                        optional={"replicas": SCALARS, "name": st.one_of(IDS, SCALARS)},
                    ),
                    max_size=2,
                ),
                VALUES,
            ),
            "metadata": VALUES,
            "extra": VALUES,
        },
    ),
)
POLICY = HandlerPolicy(allowed_modules=("math", "statistics", "agents.corpus"))


def _accepted_or_refused(document: Any) -> None:
    try:
        spec = workflow_from_mapping(document, policy=POLICY)
    except WorkflowRejectedError as exc:
        assert exc.problems, "a refusal names at least one problem"
        assert all(isinstance(p.message, str) and p.message for p in exc.problems)
        return
    assert isinstance(spec, WorkflowSpec)
    for task in spec.tasks:  # an accepted file never names a refused handler
        if isinstance(task.function, str):
            assert POLICY.reference_problem(task.function) is None


@FUZZ
@given(DOCUMENT)
def test_parsed_documents_are_accepted_or_refused_cleanly(document: Any) -> None:
    _accepted_or_refused(document)


@FUZZ
@given(DOCUMENT, st.sampled_from(["yaml", "json"]))
def test_files_are_accepted_or_refused_cleanly(tmp_path: Path, document: Any, suffix: str) -> None:
    file = tmp_path / f"wf.{suffix}"
    try:
        text = json.dumps(document) if suffix == "json" else yaml.safe_dump(document)
    except ValueError:  # NaN in strict JSON: not a file a user could write
        return
    file.write_text(text, encoding="utf-8")
    try:
        load_workflow_file(file, handler_modules=POLICY.allowed_modules)
    except WorkflowRejectedError as exc:
        assert exc.problems


@FUZZ
@given(st.binary(max_size=200))
def test_garbage_bytes_are_refused_cleanly(tmp_path: Path, data: bytes) -> None:
    file = tmp_path / "wf.yaml"
    file.write_bytes(data)
    try:
        load_workflow_file(file, handler_modules=POLICY.allowed_modules)
    except WorkflowRejectedError as exc:
        assert exc.problems


@FUZZ
@given(DOCUMENT)
def test_python_specs_are_accepted_or_refused_cleanly(document: Any) -> None:
    try:
        spec = WorkflowSpec.model_validate(document)
    except ValidationError as exc:
        assert exc.errors()  # pydantic names each field
        return
    try:
        check_structure(PackedWorkflow.pack(spec.with_id(spec.id or spec.name)))
    except WorkflowRejectedError as exc:
        assert exc.problems
