"""Handler references come only from allowed modules; dangerous ones only by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.handler_policy import HandlerPolicy, reference_problems
from orchestrator.loader import load_workflow_file, workflow_from_mapping

SAFE = HandlerPolicy()


@pytest.mark.parametrize(
    ("allowed", "path", "refused_with"),
    [
        (("agents.corpus",), "agents.corpus:plan_shards", None),
        (("agents.corpus",), "agents.corpus.plan:plan_shards", None),  # a submodule
        (("agents.corpus",), "agents.corpusx:f", "is not an allowed handler module"),
        (("agents",), "agents.simulated:simulate", None),
        (("*",), "mypkg.tasks:run", None),
        (("*",), "os:system", "'os' is never allowed"),
        (("*",), "os.path:join", "'os.path' is never allowed"),
        (("*",), "subprocess:run", "never allowed"),
        (("*",), "builtins:eval", "never allowed"),
        (("*",), "operator:call", "never allowed"),
        (("agents",), "agents.command_process:run_process", "never allowed"),
        (("os",), "os:system", None),  # granted by name
        (("os",), "os.path:join", None),  # a submodule of a module granted by name
        (("os.path",), "os:system", "never allowed"),  # a submodule grants not its parent
        (("*",), "mypkg:_private", "private or special attribute"),
        (("*",), "mypkg:Cls.__init__.__globals__", "private or special attribute"),
        (("*",), "no-colon", "not an import path"),
        ((), "math:floor", "allowed: none"),
    ],
)
def test_reference_policy(allowed: tuple[str, ...], path: str, refused_with: str | None) -> None:
    problem = HandlerPolicy(allowed_modules=allowed).reference_problem(path)
    if refused_with is None:
        assert problem is None
    else:
        assert problem is not None and refused_with in problem


def test_the_module_an_object_really_comes_from_is_checked_too() -> None:
    # agents.corpus.plan imports os: `agents.corpus.plan:os.system` leads to posix.system.
    problem = SAFE.reference_problem("agents.corpus.plan:os.system", "posix")
    assert problem is not None and "leads to an object of another module" in problem
    assert "'posix' is never allowed" in problem
    assert reference_problems(SAFE, [("t", "agents.corpus.plan:os.system", "posix")])


def test_a_file_cannot_reach_os_through_an_allowed_module() -> None:
    document = {"name": "x", "tasks": [{"id": "a", "function": "agents.corpus.plan:os.system"}]}
    with pytest.raises(WorkflowRejectedError) as caught:
        workflow_from_mapping(document, policy=SAFE)
    assert "tasks[0] (id 'a').function" in str(caught.value)
    assert "never allowed" in str(caught.value)


def test_agent_classes_and_compensations_are_checked(tmp_path: Path) -> None:
    file = tmp_path / "wf.yaml"
    file.write_text(
        "name: x\nagents:\n  - class: 'subprocess:Popen'\n"
        "tasks:\n  - {id: a, function: 'math:floor', args: [1.5], compensate: 'shutil:rmtree'}\n"
    )
    with pytest.raises(WorkflowRejectedError) as caught:
        load_workflow_file(file, handler_modules=["math"])
    text = str(caught.value)
    assert "agents[0].class: module 'subprocess' is never allowed" in text
    assert "tasks[0] (id 'a').compensate: module 'shutil' is never allowed" in text


def test_taskmaster_handler_is_checked(tmp_path: Path) -> None:
    file = tmp_path / "tasks.json"
    file.write_text('{"tasks": [{"id": 1, "title": "t", "status": "pending"}]}')
    with pytest.raises(WorkflowRejectedError) as caught:
        load_workflow_file(file, taskmaster_handler="os:system", handler_modules=["*"])
    assert "module 'os' is never allowed" in str(caught.value)
    assert load_workflow_file(file, handler_modules=["orchestrator.taskmaster"]).tasks
