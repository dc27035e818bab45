"""Recognise a Taskmaster ``tasks.json`` and find the task list of one of its tags.

A classic file is ``{"tasks": [...]}``; a tagged one (Taskmaster 0.17 and later) is
``{"master": {"tasks": [...], "metadata": {...}}, "<tag>": {...}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.core.errors import Problem
from orchestrator.wfformat.fields import missing_or_wrong

#: The tag read by default; a file in the classic format holds only this one.
DEFAULT_TAG = "master"


def is_taskmaster(data: object) -> bool:
    """Return whether a parsed document looks like a Taskmaster ``tasks.json``.

    Classic: a top-level ``tasks`` array with at least one entry that has a ``title`` and
    neither ``function`` nor ``agent`` (the orchestrator's own tasks need one of those and
    have no title). Tagged: no ``tasks``, ``name`` or ``schemaVersion`` at the top, and a
    tag whose value is an object with ``tasks`` (checked later to be an array).
    """
    if not isinstance(data, Mapping) or "schemaVersion" in data:
        return False
    tasks = data.get("tasks")
    if isinstance(tasks, list):
        return any(
            isinstance(entry, Mapping)
            and "title" in entry
            and "function" not in entry
            and "agent" not in entry
            for entry in tasks
        )
    if "tasks" in data or "name" in data:
        return False
    return any(isinstance(section, Mapping) and "tasks" in section for section in data.values())


def select_tag(
    data: Mapping[str, Any], tag: str, problems: list[Problem]
) -> tuple[str, Any] | None:
    """Return the JSON path of the tag's ``tasks`` and their value.

    Returns None, having reported why, when the tag is not in the file or not an object.
    """
    if "tasks" in data:
        if tag != DEFAULT_TAG:
            problems.append(
                Problem(
                    "tag",
                    f"tag {tag!r} is not in the file: a file in the classic format "
                    f'({{"tasks": [...]}}) holds only the {DEFAULT_TAG!r} tag',
                )
            )
            return None
        return "tasks", data["tasks"]
    section = data.get(tag)
    if section is None:
        tags = [name for name, value in data.items() if isinstance(value, Mapping)]
        problems.append(
            Problem("tag", f"tag {tag!r} is not in the file (its tags: {', '.join(tags)})")
        )
        return None
    if not isinstance(section, Mapping):
        problems.append(missing_or_wrong(tag, section, "an object with a 'tasks' array"))
        return None
    return f"{tag}.tasks", section.get("tasks")
