"""The two WfFormat layouts, read into `RawTask` records, and the schema version.

- 1.5 and 1.6: structure in ``workflow.specification.tasks``, runtimes and core counts
  in ``workflow.execution.tasks``, both keyed by ``id``;
- 1.4: one ``workflow.tasks`` list keyed by ``name``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.errors import Problem
from orchestrator.wfformat.fields import (
    missing_or_wrong,
    read_cores,
    read_runtime,
    read_string_list,
    read_task_entry,
    read_task_list,
)

#: WfFormat ``schemaVersion`` values this importer reads.
SUPPORTED_SCHEMA_VERSIONS: tuple[str, ...] = ("1.4", "1.5", "1.6")

_SPLIT_LAYOUT_VERSIONS = frozenset({"1.5", "1.6"})


@dataclass(slots=True)
class RawTask:
    """One task as read from the file, before it becomes a `TaskSpec`.

    Attributes:
        where: How problems name the task (position and key).
        key: The task's WfFormat id (1.4: its name).
        key_field: The field ``key`` comes from: ``id``, or ``name`` in 1.4.
        alias: A 1.4 task's ``id``, which some traces use as references.
        parents: ``(location, reference)`` of each parent listed by the task.
        children: ``(location, reference)`` of each child listed by the task.
        runtime_s: Recorded runtime; ``None`` until the execution entry is read.
        cores: Recorded core count (1 when not recorded), rounded up above 1.
        task_id: Orchestrator task id, given once every task is read.
    """

    where: str
    key: str
    key_field: str = "id"
    alias: str | None = None
    parents: list[tuple[str, str]] = field(default_factory=list)  # (field, reference)
    children: list[tuple[str, str]] = field(default_factory=list)
    runtime_s: float | None = None
    cores: float = 1.0
    task_id: str = ""


def schema_version(data: Mapping[str, Any], problems: list[Problem]) -> tuple[str, bool]:
    """Return the version and whether its layout is the split (1.5+) one.

    A missing or unsupported version is a problem; the layout is then guessed from the
    ``workflow`` object so that its own problems are reported in the same pass.
    """
    raw = data.get("schemaVersion")
    supported = ", ".join(SUPPORTED_SCHEMA_VERSIONS)
    if isinstance(raw, str) and raw in SUPPORTED_SCHEMA_VERSIONS:
        return raw, raw in _SPLIT_LAYOUT_VERSIONS
    if isinstance(raw, str):
        problems.append(
            Problem("schemaVersion", f"version {raw!r} is not supported (supported: {supported})")
        )
    else:
        problems.append(missing_or_wrong("schemaVersion", raw, f"one of {supported}"))
    workflow = data.get("workflow")
    return "", isinstance(workflow, Mapping) and "tasks" not in workflow


def read_split_layout(workflow: Mapping[str, Any], problems: list[Problem]) -> list[RawTask]:
    """Read 1.5/1.6: structure in ``specification.tasks``, runtimes in ``execution.tasks``."""
    specification = workflow.get("specification")
    if not isinstance(specification, Mapping):
        problems.append(missing_or_wrong("workflow.specification", specification, "an object"))
        return []
    base = "workflow.specification.tasks"
    items = read_task_list(specification, "workflow.specification", problems)
    if items is None:
        # Without the task list, execution entries have nothing to be checked against.
        return []
    tasks: list[RawTask] = []
    for index, item in enumerate(items):
        entry = read_task_entry(item, base, index, "id", problems)
        if entry is None:
            continue
        obj, where, task_id = entry
        tasks.append(
            RawTask(
                where=where,
                key=task_id,
                parents=read_string_list(obj, "parents", where, problems),
                children=read_string_list(obj, "children", where, problems),
            )
        )
    _read_execution(workflow, tasks, problems)
    return tasks


def _read_execution(
    workflow: Mapping[str, Any], tasks: list[RawTask], problems: list[Problem]
) -> None:
    """Attach runtimes and core counts from ``workflow.execution.tasks``."""
    execution = workflow.get("execution")
    if not isinstance(execution, Mapping):
        if execution is None:
            problems.append(
                Problem(
                    "workflow.execution",
                    "missing: the instance records no task runtimes, so there is nothing to "
                    "simulate",
                )
            )
        else:
            problems.append(missing_or_wrong("workflow.execution", execution, "an object"))
        return
    base = "workflow.execution.tasks"
    by_key = {task.key: task for task in tasks}
    seen: dict[str, int] = {}
    items = read_task_list(execution, "workflow.execution", problems)
    if items is None:
        return
    for index, item in enumerate(items):
        entry = read_task_entry(item, base, index, "id", problems)
        if entry is None:
            continue
        obj, where, task_id = entry
        if task_id in seen:
            problems.append(
                Problem(
                    f"{where}.id",
                    f"task {task_id!r} already has an entry at {base}[{seen[task_id]}]",
                )
            )
            continue
        seen[task_id] = index
        runtime = read_runtime(obj, where, problems)
        cores = read_cores(obj, "coreCount", where, 1, problems)
        task = by_key.get(task_id)
        if task is None:
            problems.append(
                Problem(f"{where}.id", f"task {task_id!r} is not in workflow.specification.tasks")
            )
            continue
        task.runtime_s = runtime if runtime is not None else 0.0
        task.cores = cores
    for task in tasks:
        if task.key not in seen:
            problems.append(
                Problem(task.where, f"has no entry in {base}, so its runtime is unknown")
            )


def read_single_list_layout(workflow: Mapping[str, Any], problems: list[Problem]) -> list[RawTask]:
    """Read 1.4: one ``workflow.tasks`` list, tasks keyed and referenced by ``name``."""
    base = "workflow.tasks"
    tasks: list[RawTask] = []
    for index, item in enumerate(read_task_list(workflow, "workflow", problems) or ()):
        entry = read_task_entry(item, base, index, "name", problems)
        if entry is None:
            continue
        obj, where, task_name = entry
        alias = obj.get("id")
        if alias is not None and not isinstance(alias, str):
            problems.append(missing_or_wrong(f"{where}.id", alias, "a string"))
            alias = None
        runtime = read_runtime(obj, where, problems)
        tasks.append(
            RawTask(
                where=where,
                key=task_name,
                key_field="name",
                alias=alias or None,
                parents=read_string_list(obj, "parents", where, problems),
                children=read_string_list(obj, "children", where, problems),
                runtime_s=runtime if runtime is not None else 0.0,
                cores=read_cores(obj, "cores", where, 0, problems),
            )
        )
    return tasks
