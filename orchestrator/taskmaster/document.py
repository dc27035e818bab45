"""Read the tasks of a Taskmaster ``tasks.json`` into `RawTask` records.

Every reader appends a `Problem` located by its JSON path, naming the task
(``master.tasks[3] (task 4).priority``), and carries on with a harmless default, so that
one pass over a file reports all its problems.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.errors import Problem
from orchestrator.core.specs import Priority
from orchestrator.wfformat.fields import missing_or_wrong, type_name

#: Statuses Taskmaster writes: its CLI's six, and ``blocked`` and ``completed`` of tm-core.
STATUSES = (
    "pending",
    "in-progress",
    "done",
    "review",
    "deferred",
    "cancelled",
    "blocked",
    "completed",
)
#: Statuses of work that is over: such tasks (and the subtasks of such tasks) do not run.
FINISHED_STATUSES = frozenset({"done", "completed", "cancelled"})
#: Taskmaster's priorities and the orchestrator's.
PRIORITIES = {
    "critical": Priority.CRITICAL,
    "high": Priority.HIGH,
    "medium": Priority.MEDIUM,
    "low": Priority.LOW,
}

_WHOLE = re.compile(r"^[0-9]+$")
_SUBTASK_REF = re.compile(r"^([0-9]+)\.([0-9]+)$")
_REF_FORMS = 'a task id (3 or "3") or a subtask reference ("3.2")'


def as_json(value: object) -> str:
    """Return ``value`` as written in JSON (``true``, ``"x"``), for messages."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # not from a JSON document
        return repr(value)


@dataclass(frozen=True, slots=True)
class Dependency:
    """One entry of a ``dependencies`` list.

    Attributes:
        where: Its location, e.g. ``tasks[3] (task 4).dependencies[1]``.
        key: The Taskmaster id it names: ``"3"`` or ``"3.2"``.
        sibling: Whether it was a plain number in a subtask's list (naming a sibling).
    """

    where: str
    key: str
    sibling: bool = False


@dataclass(slots=True)
class RawTask:
    """A task or subtask as read from the file.

    Attributes:
        key: Its Taskmaster id, ``"4"`` for a task and ``"4.2"`` for a subtask; None when
            its id (or its parent's) is unusable, which keeps it out of the graph.
        where: Its location, naming it: ``tasks[3] (task 4)``.
        path: Its location alone: ``tasks[3]``.
        parent: The parent task's key, for a subtask.
        title: Its ``title``.
        description: Its ``description`` ("" when absent).
        details: Its ``details`` ("" when absent).
        test_strategy: Its ``testStrategy`` ("" when absent).
        status: Its ``status`` in lower case (``pending`` when absent).
        priority: Its mapped ``priority``; a subtask without one has its parent's.
        dependencies: What its ``dependencies`` name.
        subtasks: A task's subtasks.
    """

    key: str | None
    where: str
    path: str = ""
    parent: str | None = None
    title: str = ""
    description: str = ""
    details: str = ""
    test_strategy: str = ""
    status: str = "pending"
    priority: Priority = Priority.MEDIUM
    dependencies: list[Dependency] = field(default_factory=list)
    subtasks: list[RawTask] = field(default_factory=list)


def read_tasks(entries: Any, where: str, problems: list[Problem]) -> list[RawTask]:
    """Read a tag's ``tasks`` array (with their subtasks); report what is wrong."""
    if not isinstance(entries, list):
        problems.append(missing_or_wrong(where, entries, "an array of tasks"))
        return []
    tasks = []
    for index, entry in enumerate(entries):
        location = f"{where}[{index}]"
        if not isinstance(entry, Mapping):
            problems.append(Problem(location, f"a task must be an object, not {type_name(entry)}"))
            continue
        tasks.append(_read_task(entry, location, problems))
    return tasks


def _read_task(entry: Mapping[str, Any], where: str, problems: list[Problem]) -> RawTask:
    path = where
    number = _read_id(entry, where, problems)
    key = None if number is None else str(number)
    if key is not None:
        where = f"{where} (task {key})"
    task = RawTask(key=key, where=where, path=path)
    _read_fields(task, entry, problems, parent_priority=Priority.MEDIUM)
    task.dependencies = _read_dependencies(entry, where, None, problems)
    raw = entry.get("subtasks")
    if raw is not None and not isinstance(raw, list):
        problems.append(missing_or_wrong(f"{where}.subtasks", raw, "an array of subtasks"))
        raw = None
    for index, item in enumerate(raw or []):
        location = f"{where}.subtasks[{index}]"
        if not isinstance(item, Mapping):
            problems.append(
                Problem(location, f"a subtask must be an object, not {type_name(item)}")
            )
            continue
        task.subtasks.append(_read_subtask(item, location, task, problems))
    return task


def _read_subtask(
    entry: Mapping[str, Any], where: str, parent: RawTask, problems: list[Problem]
) -> RawTask:
    path = f"{parent.path}{where[len(parent.where) :]}"
    number = _read_id(entry, where, problems)
    key = None
    if number is not None and parent.key is not None:
        key = f"{parent.key}.{number}"
        where = f"{where} (subtask {key})"
    task = RawTask(key=key, where=where, path=path, parent=parent.key)
    _read_fields(task, entry, problems, parent_priority=parent.priority)
    task.dependencies = _read_dependencies(entry, where, parent.key, problems)
    if entry.get("subtasks"):
        problems.append(Problem(f"{where}.subtasks", "subtasks of a subtask are not supported"))
    return task


def _read_id(entry: Mapping[str, Any], where: str, problems: list[Problem]) -> int | None:
    raw = entry.get("id")
    number = _whole_number(raw)
    if number is None:
        expected = 'a whole number >= 1 (3 or "3")'
        if raw is None:
            problems.append(missing_or_wrong(f"{where}.id", raw, expected))
        else:
            problems.append(Problem(f"{where}.id", f"must be {expected}, not {as_json(raw)}"))
    return number


def _whole_number(raw: object) -> int | None:
    """Return ``raw`` as a whole number >= 1 (Taskmaster writes ids as 3 or "3"), or None."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw if raw >= 1 else None
    if isinstance(raw, str) and _WHOLE.match(raw.strip()):
        number = int(raw.strip())
        return number if number >= 1 else None
    return None


def _read_fields(
    task: RawTask, entry: Mapping[str, Any], problems: list[Problem], *, parent_priority: Priority
) -> None:
    where = task.where
    title = entry.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(missing_or_wrong(f"{where}.title", title, "a non-empty string"))
    else:
        task.title = title
    task.description = _optional_text(entry, "description", where, problems)
    task.details = _optional_text(entry, "details", where, problems)
    task.test_strategy = _optional_text(entry, "testStrategy", where, problems)
    task.status = _choice(entry, "status", STATUSES, where, problems) or "pending"
    priority = _choice(entry, "priority", tuple(PRIORITIES), where, problems)
    task.priority = parent_priority if priority is None else PRIORITIES[priority]


def _choice(
    entry: Mapping[str, Any],
    name: str,
    choices: tuple[str, ...],
    where: str,
    problems: list[Problem],
) -> str | None:
    """Return one of ``choices`` (in any case), or None when absent or invalid (reported)."""
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    problems.append(
        Problem(
            f"{where}.{name}",
            f"invalid {name} {as_json(value)}; expected one of {', '.join(choices)}",
        )
    )
    return None


def _optional_text(entry: Mapping[str, Any], name: str, where: str, problems: list[Problem]) -> str:
    value = entry.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(Problem(f"{where}.{name}", f"must be a string, not {type_name(value)}"))
        return ""
    return value


def _read_dependencies(
    entry: Mapping[str, Any], where: str, parent: str | None, problems: list[Problem]
) -> list[Dependency]:
    """Read ``dependencies``; in a subtask's list a plain number names a sibling."""
    raw = entry.get("dependencies")
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(missing_or_wrong(f"{where}.dependencies", raw, "an array of task ids"))
        return []
    found = []
    for index, ref in enumerate(raw):
        location = f"{where}.dependencies[{index}]"
        number = _whole_number(ref)
        if number is not None:
            if parent is None:
                found.append(Dependency(location, str(number)))
            else:
                found.append(Dependency(location, f"{parent}.{number}", sibling=True))
            continue
        match = _SUBTASK_REF.match(ref.strip()) if isinstance(ref, str) else None
        if match is not None and int(match[1]) >= 1 and int(match[2]) >= 1:
            found.append(Dependency(location, f"{int(match[1])}.{int(match[2])}"))
        else:
            problems.append(Problem(location, f"must be {_REF_FORMS}, not {as_json(ref)}"))
    return found
