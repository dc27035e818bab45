"""Readers for the JSON fields of a WfFormat task, each reporting what is missing or wrong.

Every reader appends a `Problem` naming the field (``workflow.tasks[3] (name 'x').cores``) and
returns a harmless default, so that one pass over an instance reports all its problems.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from orchestrator.core.errors import Problem

_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def type_name(value: object) -> str:
    """Return the JSON name of ``value``'s type, with its article ("an object")."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def missing_or_wrong(where: str, value: object, expected: str) -> Problem:
    """Return the problem of a field that is missing (``None``) or of the wrong type."""
    if value is None:
        return Problem(where, f"missing (expected {expected})")
    return Problem(where, f"must be {expected}, not {type_name(value)}")


def is_number(value: object) -> bool:
    """Return whether ``value`` is a JSON number (a boolean is not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_string_list(
    item: Mapping[str, Any], key: str, where: str, problems: list[Problem]
) -> list[tuple[str, str]]:
    """Read an optional list of task references as ``(location, reference)`` pairs."""
    raw = item.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(Problem(f"{where}.{key}", f"must be an array, not {type_name(raw)}"))
        return []
    refs = []
    for position, ref in enumerate(raw):
        if isinstance(ref, str) and ref:
            refs.append((f"{where}.{key}", ref))
        else:
            problems.append(
                Problem(
                    f"{where}.{key}[{position}]",
                    f"must be a non-empty string (a task reference), not {ref!r}",
                )
            )
    return refs


def read_runtime(item: Mapping[str, Any], where: str, problems: list[Problem]) -> float | None:
    """Read the task's ``runtimeInSeconds``: required, finite and >= 0; None when not."""
    raw = item.get("runtimeInSeconds")
    if raw is None:
        problems.append(
            Problem(f"{where}.runtimeInSeconds", "missing: the task's runtime is needed")
        )
        return None
    if not is_number(raw) or not math.isfinite(raw) or raw < 0:
        problems.append(
            Problem(f"{where}.runtimeInSeconds", f"must be a finite number >= 0, got {raw!r}")
        )
        return None
    return float(raw)


def read_cores(
    item: Mapping[str, Any], key: str, where: str, minimum: float, problems: list[Problem]
) -> float:
    """Read a core count (1 when absent); ``minimum`` 1 means >= 1, 0 means > 0."""
    raw = item.get(key)
    if raw is None:
        return 1.0
    valid = is_number(raw) and math.isfinite(raw) and (raw >= 1 if minimum else raw > 0)
    if not valid:
        bound = ">= 1" if minimum else "> 0"
        problems.append(Problem(f"{where}.{key}", f"must be a number {bound}, got {raw!r}"))
        return 1.0
    value = float(raw)
    return float(math.ceil(value)) if value > 1 else value


def read_task_list(
    container: Mapping[str, Any], where: str, problems: list[Problem]
) -> list[Any] | None:
    """Return the ``tasks`` array, or None (with a problem) when it is missing or empty."""
    raw = container.get("tasks")
    if not isinstance(raw, list):
        problems.append(missing_or_wrong(f"{where}.tasks", raw, "an array of task objects"))
        return None
    if not raw:
        problems.append(Problem(f"{where}.tasks", "is empty: a workflow needs at least one task"))
        return None
    return raw


def task_label(where: str, index: int, key: str, value: object) -> str:
    """Return how problems name a task: its position, and its key when it has one."""
    if isinstance(value, str) and value:
        return f"{where}[{index}] ({key} {value!r})"
    return f"{where}[{index}]"


def read_task_entry(
    item: object, base: str, index: int, key: str, problems: list[Problem]
) -> tuple[Mapping[str, Any], str, str] | None:
    """Check one item of a task array: an object whose ``key`` is a non-empty string.

    Args:
        item: The item at ``base[index]``.
        base: Location of the array, e.g. ``workflow.execution.tasks``.
        index: Position of the item in the array.
        key: The field that identifies the task (``id``, or ``name`` in 1.4).
        problems: Where a problem is appended when the item is not usable.

    Returns:
        The item, its label for problems (see `task_label`) and its key; None (with a
        problem) when it is not an object or its key is missing or not a non-empty string.
    """
    if not isinstance(item, Mapping):
        problems.append(Problem(f"{base}[{index}]", f"must be an object, not {type_name(item)}"))
        return None
    where = task_label(base, index, key, item.get(key))
    value = item.get(key)
    if not isinstance(value, str) or not value:
        problems.append(missing_or_wrong(f"{where}.{key}", value, "a non-empty string"))
        return None
    return item, where, value
