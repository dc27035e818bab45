"""Orchestrator ids for WfFormat tasks, and the dependencies between them.

Ids are made to match `ID_PATTERN` (see the `orchestrator.wfformat` docstring); a
dependency is taken from either end (a parent list or a child list); cycles are reported
with the tasks' WfFormat ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from orchestrator.core.errors import Problem
from orchestrator.core.graph import TaskGraph
from orchestrator.wfformat.layouts import RawTask

_BAD_ID_CHAR = re.compile(r"[^A-Za-z0-9_.:@\-]")
_MAX_ID_LENGTH = 200


def as_identifier(raw: str) -> str:
    """Return ``raw`` made to match `ID_PATTERN` (see the `orchestrator.wfformat` docstring)."""
    candidate = _BAD_ID_CHAR.sub("_", raw)[:_MAX_ID_LENGTH]
    if not re.match(r"[A-Za-z0-9_]", candidate):
        candidate = "_" + candidate[1:]
    return candidate


def assign_ids(tasks: list[RawTask], problems: list[Problem]) -> None:
    """Give each task its orchestrator id; report duplicate keys and colliding ids.

    A task with a duplicate key or a colliding id is reported and removed from ``tasks``.
    """
    by_key: dict[str, RawTask] = {}
    by_id: dict[str, RawTask] = {}
    kept = []
    for task in tasks:
        field_name = task.key_field
        first = by_key.get(task.key)
        if first is not None:
            problems.append(
                Problem(
                    f"{task.where}.{field_name}",
                    f"{task.key!r} is also the {field_name} of {first.where.split(' ')[0]}",
                )
            )
            continue
        by_key[task.key] = task
        task.task_id = as_identifier(task.key)
        other = by_id.get(task.task_id)
        if other is not None:
            problems.append(
                Problem(
                    f"{task.where}.{field_name}",
                    f"becomes task id {task.task_id!r}, as does {other.where} "
                    "(characters outside A-Z a-z 0-9 _ . : @ - are replaced by '_')",
                )
            )
            continue
        by_id[task.task_id] = task
        kept.append(task)
    tasks[:] = kept


def resolve_dependencies(tasks: list[RawTask], problems: list[Problem]) -> dict[str, list[str]]:
    """Return the parents of each task (orchestrator ids, in first-seen order)."""
    lookup: dict[str, RawTask] = {task.key: task for task in tasks}
    for task in tasks:
        # 1.4 references are names, but some traces use the ``id`` field instead.
        if task.alias is not None:
            lookup.setdefault(task.alias, task)
    parents: dict[str, dict[str, None]] = {task.task_id: {} for task in tasks}
    for task in tasks:
        for where, ref in task.parents:
            parent = _lookup(lookup, ref, task, where=where, kind="parent", problems=problems)
            if parent is not None:
                parents[task.task_id][parent.task_id] = None
        for where, ref in task.children:
            child = _lookup(lookup, ref, task, where=where, kind="child", problems=problems)
            if child is not None:
                parents[child.task_id][task.task_id] = None
    return {task_id: list(found) for task_id, found in parents.items()}


def _lookup(
    lookup: Mapping[str, RawTask],
    ref: str,
    task: RawTask,
    *,
    where: str,
    kind: str,
    problems: list[Problem],
) -> RawTask | None:
    found = lookup.get(ref)
    if found is None:
        problems.append(Problem(where, f"unknown task {ref!r}"))
        return None
    if found is task:
        problems.append(Problem(where, f"the task lists itself as its own {kind}"))
        return None
    return found


def find_cycles(
    tasks: Sequence[RawTask], edges: Mapping[str, list[str]], problems: list[Problem]
) -> None:
    """Report dependency cycles, naming the tasks by their WfFormat ids."""
    graph = TaskGraph()
    for task in tasks:
        graph.add(task.task_id, edges[task.task_id])
    by_id = {task.task_id: task for task in tasks}
    for problem in graph.problems():
        if problem.kind != "cycle":  # ids, self-references and unknown ones are handled above
            continue
        chain = " -> ".join(repr(by_id[node].key) for node in problem.path)
        problems.append(Problem(by_id[problem.node].where, f"dependency cycle: {chain}"))
