"""Turn pydantic validation errors into `Problem` lists that name tasks by id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from orchestrator.core.errors import Problem, WorkflowRejectedError


def _item_label(section: str, index: int, raw: Any) -> str:
    items = raw.get(section) if isinstance(raw, dict) else None
    if isinstance(items, list | tuple) and 0 <= index < len(items):
        item = items[index]
        key = "id" if section == "tasks" else "name"
        if isinstance(item, dict) and isinstance(item.get(key), str):
            return f"{section}[{index}] ({key} {item[key]!r})"
    return f"{section}[{index}]"


def format_location(loc: Sequence[int | str], raw: Any = None) -> str:
    """Render a pydantic error location, naming list items by their id when ``raw`` has it.

    ``('tasks', 3, 'resources', 'num_cpus')`` becomes
    ``tasks[3] (id 'count-2').resources.num_cpus``.
    """
    parts: list[str] = []
    index = 0
    while index < len(loc):
        part = loc[index]
        following = loc[index + 1] if index + 1 < len(loc) else None
        if isinstance(part, str) and part in {"tasks", "agents"} and isinstance(following, int):
            parts.append(_item_label(part, following, raw) if not parts else f"{part}[{following}]")
            index += 2
            continue
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else part)
        index += 1
    return "".join(parts).replace(".[", "[")


def problems_from_validation_error(
    exc: ValidationError, raw: Any = None, prefix: str = ""
) -> list[Problem]:
    """Return one `Problem` per pydantic error, located as precisely as possible."""
    problems = []
    for error in exc.errors(include_url=False):
        # Skip pydantic's internal tags such as 'function-after[...]' in union locations.
        loc = [part for part in error["loc"] if not (isinstance(part, str) and "[" in part)]
        where = format_location(loc, raw)
        if prefix:
            where = f"{prefix}.{where}" if where else prefix
        message = str(error["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(Problem(where, message))
    return problems


def rejected(workflow: str, exc: ValidationError, raw: Any = None, prefix: str = "") -> Exception:
    """Return a `WorkflowRejectedError` built from a pydantic error."""
    return WorkflowRejectedError(workflow, problems_from_validation_error(exc, raw, prefix))
