"""Read a Taskmaster ``tasks.json`` into a `WorkflowSpec`: `load_taskmaster` and friends.

`read_taskmaster` selects the tag (`orchestrator.taskmaster.document`), checks ids and
dependencies (`orchestrator.taskmaster.graph`), resolves the handler, and builds one task
per Taskmaster task and subtask that is not finished.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.agent import agent_spec
from orchestrator.core.errors import Problem, WorkflowRejectedError
from orchestrator.core.specs import AgentSpec, TaskSpec, WorkflowSpec, handler_name
from orchestrator.import_paths import import_object
from orchestrator.taskmaster.document import RawTask, read_tasks
from orchestrator.taskmaster.graph import (
    find_cycles,
    finished_tasks,
    index_tasks,
    resolve_dependencies,
)
from orchestrator.taskmaster.tags import DEFAULT_TAG, select_tag
from orchestrator.validation_problems import problems_from_validation_error
from orchestrator.wfformat.fields import type_name
from orchestrator.wfformat.graph import as_identifier
from orchestrator.workflow import check_structure

#: Import path of the handler used when none is given (`handlers.summarise_task`).
DEFAULT_HANDLER = "orchestrator.taskmaster.handlers:summarise_task"
#: Where a problem with the handler is reported.
HANDLER_FIELD = "taskmaster handler"

Handler = str | Callable[..., Any] | type[Any]


@dataclass(frozen=True, slots=True)
class TaskmasterImport:
    """A Taskmaster file read into a workflow, with what the conversion decided.

    Attributes:
        spec: The workflow: one task per Taskmaster task and subtask that is not finished.
        tag: The tag read.
        task_ids: Orchestrator task id of each Taskmaster id that runs, in file order.
        not_run: Taskmaster ids of the tasks left out because they are finished (``done``,
            ``completed``, ``cancelled``), or are subtasks of a finished task.
    """

    spec: WorkflowSpec
    tag: str
    task_ids: Mapping[str, str] = field(default_factory=dict)
    not_run: tuple[str, ...] = ()


def task_id(key: str) -> str:
    """Return the orchestrator id of a Taskmaster id: ``task-4``, ``task-4.2``."""
    return f"task-{key}"


def load_taskmaster(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    tag: str = DEFAULT_TAG,
    handler: Handler | None = None,
    name: str | None = None,
) -> WorkflowSpec:
    """Read a Taskmaster ``tasks.json`` and return the workflow of its unfinished tasks.

    Args:
        source: Path of the file, or the parsed document.
        tag: The tag to read in a tagged file; a classic file holds only ``master``.
        handler: What handles each task: a function or an agent class, or its import
            path; it receives the keyword arguments of `handlers.summarise_task`, the
            default.
        name: Workflow name; defaults to the file's stem (``tasks``), with ``-<tag>``
            for a tag other than ``master``.

    Raises:
        WorkflowRejectedError: listing every problem of the file, each naming its task.
    """
    return read_taskmaster(source, tag=tag, handler=handler, name=name).spec


def read_taskmaster(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    tag: str = DEFAULT_TAG,
    handler: Handler | None = None,
    name: str | None = None,
) -> TaskmasterImport:
    """Like `load_taskmaster`, but also return the id mapping and the tasks not run.

    Raises:
        WorkflowRejectedError: as `load_taskmaster`.
    """
    data, stem = _read_source(source)
    label = name or (stem if tag == DEFAULT_TAG else f"{stem}-{tag}")
    label = as_identifier(label)
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        problems.append(Problem("", f"a tasks.json is a JSON object, not {type_name(data)}"))
        raise WorkflowRejectedError(label, problems)
    fields, agents = _resolve_handler(DEFAULT_HANDLER if handler is None else handler, problems)
    selected = select_tag(data, tag, problems)
    if selected is None:
        raise WorkflowRejectedError(label, problems)
    where, entries = selected
    tasks = read_tasks(entries, where, problems)
    nodes = index_tasks(tasks, problems)
    finished = finished_tasks(nodes)
    edges, listed = resolve_dependencies(nodes, finished, problems)
    find_cycles(nodes, edges, listed, problems)
    if problems:
        raise WorkflowRejectedError(label, problems)

    specs = []
    for key, deps in edges.items():
        task = nodes[key]
        depends_on = tuple(task_id(dep) for dep in deps)
        try:
            specs.append(
                TaskSpec(
                    id=task_id(key),
                    **fields,
                    kwargs=_kwargs(key, task),
                    depends_on=depends_on,
                    priority=task.priority,
                )
            )
        except ValidationError as exc:  # pragma: no cover - ids and fields were checked
            problems.extend(problems_from_validation_error(exc, prefix=task.where))
    if not specs and not problems:
        reason = "every task is done or cancelled" if nodes else "the tag has no tasks"
        problems.append(Problem(where, f"nothing to run: {reason}"))
    if problems:
        raise WorkflowRejectedError(label, problems)
    not_run = tuple(key for key in nodes if key in finished)
    metadata = {
        "source": "taskmaster",
        "taskmaster.tag": tag,
        "taskmaster.handler": handler_name(handler or DEFAULT_HANDLER),
        "taskmaster.not_run": ",".join(not_run),
    }
    spec = WorkflowSpec(name=label, tasks=tuple(specs), agents=agents, metadata=metadata)
    check_structure(spec)
    return TaskmasterImport(
        spec=spec,
        tag=tag,
        task_ids={key: task_id(key) for key in edges},
        not_run=not_run,
    )


def _read_source(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[Any, str]:
    """Return the parsed document and the name a workflow takes from it."""
    if isinstance(source, Mapping):
        return source, "taskmaster"
    path = Path(source)
    stem = path.stem or "taskmaster"
    try:
        return json.loads(path.read_text(encoding="utf-8")), stem
    except OSError as exc:
        problem = Problem(str(path), f"cannot read: {exc}")
    except UnicodeDecodeError as exc:
        problem = Problem(str(path), f"is not UTF-8 text ({exc.reason} at byte {exc.start})")
    except json.JSONDecodeError as exc:
        problem = Problem(f"{path}:{exc.lineno}:{exc.colno}", f"not valid JSON: {exc.msg}")
    raise WorkflowRejectedError(as_identifier(stem), [problem])


def _kwargs(key: str, task: RawTask) -> dict[str, Any]:
    return {
        "taskmaster_id": key,
        "title": task.title,
        "description": task.description,
        "details": task.details,
        "test_strategy": task.test_strategy,
    }


def _resolve_handler(
    handler: Handler, problems: list[Problem]
) -> tuple[dict[str, Any], tuple[AgentSpec, ...]]:
    """Return the task fields naming the handler (``function`` or ``agent``) and the agents."""
    resolved: Any = handler
    if isinstance(handler, str):
        try:
            resolved = import_object(handler)
        except ImportError as exc:
            problems.append(Problem(HANDLER_FIELD, str(exc)))
            return {}, ()
    if isinstance(resolved, type):
        try:
            agent = agent_spec(handler if isinstance(handler, str) else resolved)
        except TypeError as exc:
            problems.append(Problem(HANDLER_FIELD, str(exc)))
            return {}, ()
        except ValidationError as exc:
            problems.extend(problems_from_validation_error(exc, prefix=HANDLER_FIELD))
            return {}, ()
        return {"agent": agent.name}, (agent,)
    if callable(resolved):
        return {"function": handler}, ()
    problems.append(Problem(HANDLER_FIELD, f"{handler!r} is neither a function nor an agent class"))
    return {}, ()
