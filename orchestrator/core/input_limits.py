"""Input limits: the size of a task's arguments, of a message's payload, of a workflow.

Sizes of plain data (strings, bytes, numbers, lists, tuples, dicts, sets) are estimated
by walking them, fast and without copying; anything else is measured by the caller
(pickled), through ``measure``. Over a limit, a problem names the field and the numbers.

Pure: no I/O; ``measure`` is injected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from orchestrator.core.errors import Problem

#: Bytes counted for a number, a boolean or None (about their pickled size).
_SCALAR_BYTES = 9
#: Deepest nesting walked; deeper values are measured whole.
_MAX_DEPTH = 64


def estimate_size(value: Any, measure: Callable[[Any], int], depth: int = 0) -> int:
    """Return about how many bytes ``value`` takes pickled.

    Args:
        value: Any value.
        measure: Returns the size of a value this function does not walk (e.g. the
            length of its pickle).
        depth: Nesting level (for recursion).
    """
    if value is None or isinstance(value, bool | int | float):
        return _SCALAR_BYTES
    if isinstance(value, str):
        return len(value) * (1 if value.isascii() else 4) + 5
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value) + 5
    if depth < _MAX_DEPTH:
        if isinstance(value, list | tuple | set | frozenset):
            return 5 + sum(estimate_size(item, measure, depth + 1) for item in value)
        if type(value) is dict:
            return 5 + sum(
                estimate_size(k, measure, depth + 1) + estimate_size(v, measure, depth + 1)
                for k, v in value.items()
            )
    return measure(value)


def argument_problems(
    rows: Iterable[tuple[str, tuple[Any, ...], dict[str, Any]]],
    max_argument_bytes: int,
    measure: Callable[[Any], int],
) -> list[Problem]:
    """Return a problem for each task argument larger than ``max_argument_bytes``.

    Args:
        rows: ``(task id, args, kwargs)`` of each task.
        max_argument_bytes: The limit (``security.max_argument_bytes``).
        measure: Size of a value not walked (see `estimate_size`).
    """
    problems: list[Problem] = []
    # Most arguments are numbers or short strings: skipped at the cost of a type check;
    # a row is walked further only when one of its arguments is something else.
    short_str = max_argument_bytes // 4 - 5
    scalars = _SCALAR_TYPES
    for task_id, args, kwargs in rows:
        plain = True
        for value in args:
            kind = type(value)
            if not (kind in scalars or (kind is str and len(value) <= short_str)):
                plain = False
                break
        if plain and kwargs:
            for value in kwargs.values():
                kind = type(value)
                if not (kind in scalars or (kind is str and len(value) <= short_str)):
                    plain = False
                    break
        if plain:
            continue
        named = [(f"args[{i}]", value) for i, value in enumerate(args)]
        named += [(f"kwargs[{key!r}]", value) for key, value in kwargs.items()]
        for field, value in named:
            size = estimate_size(value, measure)
            if size > max_argument_bytes:
                problems.append(
                    Problem(
                        f"tasks[{task_id!r}].{field}",
                        f"about {size} bytes exceed security.max_argument_bytes"
                        f" ({max_argument_bytes}); pass a reference (a path, a key) instead",
                    )
                )
    return problems


_SCALAR_TYPES = frozenset({int, float, bool, type(None)})


def payload_problem(payload: Any, max_bytes: int, measure: Callable[[Any], int]) -> str | None:
    """Return why a message payload is refused (too large), or None."""
    size = estimate_size(payload, measure)
    if size > max_bytes:
        return f"payload: about {size} bytes exceed security.max_argument_bytes ({max_bytes})"
    return None


def workflow_size_problem(tasks: int, max_tasks: int) -> Problem | None:
    """Return the problem of a submission with more than ``max_tasks`` tasks, or None."""
    if tasks > max_tasks:
        return Problem(
            "tasks",
            f"{tasks} tasks exceed security.max_workflow_tasks ({max_tasks})",
        )
    return None
