"""Import workflow instances in the WfCommons WfFormat JSON format as `WorkflowSpec`.

WfCommons (https://wfcommons.org) publishes traces of real scientific workflows (Montage,
Epigenomics, Cycles, Blast, 1000Genome, Seismology, SoyKB, SRASearch...) and generates
synthetic instances of them. An instance records each task's dependencies, runtime and
core count. `load_wfformat` turns one into a workflow whose tasks run
``agents.simulated:simulate`` for the recorded runtime times a scale factor, on the
recorded number of cores, so the orchestrator can replay real workflow structures.

Supported layouts:

- **1.5 and 1.6** (what ``wfcommons`` 1.6 writes): ``workflow.specification.tasks`` holds
  ``id``, ``parents`` and ``children`` (ids); ``workflow.execution.tasks`` holds ``id``,
  ``runtimeInSeconds`` and optionally ``coreCount`` (at least 1).
- **1.4**: one list ``workflow.tasks`` whose items carry ``name``, ``parents`` and
  ``children`` (by name, or by ``id``), ``runtimeInSeconds`` and optionally ``cores``
  (fractions allowed).

A dependency is taken from either end: ``B`` depends on ``A`` when ``B`` lists ``A`` as a
parent or ``A`` lists ``B`` as a child. Files, machines, commands, priorities and energy
figures are not used. Every task needs a recorded runtime: an instance without an
execution section, or a task without a runtime, is refused rather than guessed at.

Task ids become orchestrator ids: characters outside ``A-Z a-z 0-9 _ . : @ -`` (WfFormat
allows ``#`` and ``/``) become ``_``, as does a leading ``. : @ -``, and ids are cut at 200
characters; `WfFormatInstance.task_ids` keeps the mapping, and two ids that end up equal
are refused. A core count above 1 that is not whole is rounded up, because Ray (and a
slot) only hands out whole CPUs above one.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from orchestrator.core.errors import Problem, WorkflowRejectedError
from orchestrator.core.graph import TaskGraph
from orchestrator.core.resources import ResourceSpec
from orchestrator.core.specs import ID_PATTERN, TaskSpec, WorkflowSpec
from orchestrator.spec_errors import problems_from_validation_error
from orchestrator.workflow import check_structure

#: Import path of the function every imported task runs (`agents.simulated.simulate`).
SIMULATE_FUNCTION = "agents.simulated:simulate"

#: WfFormat ``schemaVersion`` values this importer reads.
SUPPORTED_SCHEMA_VERSIONS: tuple[str, ...] = ("1.4", "1.5", "1.6")

_SPLIT_LAYOUT_VERSIONS = frozenset({"1.5", "1.6"})
_MODES = ("sleep", "compute")
_ID_RE = re.compile(ID_PATTERN)
_BAD_ID_CHAR = re.compile(r"[^A-Za-z0-9_.:@\-]")
_MAX_ID_LENGTH = 200
_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


@dataclass(frozen=True, slots=True)
class WfFormatInstance:
    """A WfFormat instance read into a workflow, with what the conversion decided.

    Attributes:
        spec: The workflow: one ``agents.simulated:simulate`` task per WfFormat task.
        schema_version: The instance's ``schemaVersion``.
        task_ids: Orchestrator task id of each WfFormat task id (1.4: task name), in file
            order; equal pairs for ids that needed no change.
        runtimes_s: Recorded runtime of each task, by orchestrator task id, before scaling.
    """

    spec: WorkflowSpec
    schema_version: str
    task_ids: Mapping[str, str] = field(default_factory=dict)
    runtimes_s: Mapping[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _RawTask:
    """One task as read from the file, before it becomes a `TaskSpec`."""

    where: str
    key: str
    key_field: str = "id"
    alias: str | None = None
    parents: list[tuple[str, str]] = field(default_factory=list)  # (field, reference)
    children: list[tuple[str, str]] = field(default_factory=list)
    runtime_s: float | None = None
    cores: float = 1.0
    task_id: str = ""


def is_wfformat(data: object) -> bool:
    """Return whether ``data`` (a parsed JSON document) looks like a WfFormat instance.

    Only the two top-level keys every WfFormat version requires are checked
    (``schemaVersion`` and ``workflow``; orchestrator workflow files have neither), so a
    malformed instance is still recognised and gets `load_wfformat`'s precise errors.
    """
    return isinstance(data, Mapping) and "schemaVersion" in data and "workflow" in data


def load_wfformat(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    time_scale: float = 1.0,
    mode: Literal["sleep", "compute"] = "sleep",
    max_cores: int | None = None,
    name: str | None = None,
) -> WorkflowSpec:
    """Read a WfFormat instance and return it as a workflow of simulated tasks.

    Each task becomes a `TaskSpec` running ``agents.simulated:simulate`` with
    ``args=(runtime * time_scale, mode)``, ``depends_on`` its parents,
    ``resources.num_cpus`` its core count (1 when not recorded) and
    ``estimated_duration_s = runtime * time_scale``.

    Args:
        source: Path of a ``.json`` instance, or the parsed document.
        time_scale: Factor applied to every recorded runtime (``0.001`` turns an hour into
            3.6 s); ``0`` keeps the structure with zero-length tasks.
        mode: ``sleep`` or ``compute``, passed on to `agents.simulated.simulate`.
        max_cores: Cap on each task's core count, e.g. the slots available, so that a
            task recorded on a bigger machine can still run.
        name: Workflow name; defaults to the instance's ``name`` made into a valid id.

    Returns:
        The workflow, checked like any submitted workflow (graph, ids, fields).

    Raises:
        WorkflowRejectedError: the document is not JSON or not a valid instance; its
            ``problems`` name each field and task concerned, all found in one pass.
        ValueError: ``time_scale``, ``mode`` or ``max_cores`` is invalid.
        OSError: the file cannot be read.
    """
    return read_wfformat(
        source, time_scale=time_scale, mode=mode, max_cores=max_cores, name=name
    ).spec


def read_wfformat(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    time_scale: float = 1.0,
    mode: Literal["sleep", "compute"] = "sleep",
    max_cores: int | None = None,
    name: str | None = None,
) -> WfFormatInstance:
    """Like `load_wfformat`, but also return the id mapping and the recorded runtimes.

    Raises:
        WorkflowRejectedError: as `load_wfformat`.
        ValueError: as `load_wfformat`.
        OSError: as `load_wfformat`.
    """
    _check_options(time_scale, mode, max_cores)
    data, label = _read_source(source)
    problems: list[Problem] = []
    workflow_name = _workflow_name(data, name, problems)
    label = workflow_name or label
    version, split_layout = _schema_version(data, problems)
    workflow = data.get("workflow")
    if not isinstance(workflow, Mapping):
        problems.append(_missing_or_wrong("workflow", workflow, "an object"))
        raise WorkflowRejectedError(label, problems)

    if split_layout:
        tasks = _read_split_layout(workflow, problems)
    else:
        tasks = _read_single_list_layout(workflow, problems)
    _assign_ids(tasks, problems)
    edges = _resolve_dependencies(tasks, problems)
    _find_cycles(tasks, edges, problems)
    if problems:
        raise WorkflowRejectedError(label, problems)

    spec = _build_spec(
        label,
        tasks,
        edges,
        time_scale=time_scale,
        mode=mode,
        max_cores=max_cores,
        version=version,
        data=data,
    )
    check_structure(spec)
    return WfFormatInstance(
        spec=spec,
        schema_version=version,
        task_ids={task.key: task.task_id for task in tasks},
        runtimes_s={task.task_id: task.runtime_s or 0.0 for task in tasks},
    )


# -- options and source ----------------------------------------------------------------


def _check_options(time_scale: float, mode: str, max_cores: int | None) -> None:
    if isinstance(time_scale, bool) or not isinstance(time_scale, int | float):
        raise ValueError(f"time_scale must be a number, got {time_scale!r}")
    if not math.isfinite(time_scale) or time_scale < 0:
        raise ValueError(f"time_scale must be a finite number >= 0, got {time_scale!r}")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    if max_cores is not None and (
        isinstance(max_cores, bool) or not isinstance(max_cores, int) or max_cores < 1
    ):
        raise ValueError(f"max_cores must be a whole number >= 1, got {max_cores!r}")


def _read_source(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[Any, str]:
    """Return the parsed document and a label for error messages."""
    if isinstance(source, Mapping):
        return source, "wfformat"
    path = Path(source)
    label = path.stem or "wfformat"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise WorkflowRejectedError(
            label, [Problem(str(path), f"is not UTF-8 text ({exc.reason} at byte {exc.start})")]
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowRejectedError(
            label,
            [
                Problem(
                    str(path),
                    f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                )
            ],
        ) from None
    if not isinstance(data, Mapping):
        raise WorkflowRejectedError(
            label,
            [Problem(str(path), f"a WfFormat instance is a JSON object, not {_type_name(data)}")],
        )
    return data, label


# -- small readers ---------------------------------------------------------------------


def _type_name(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _missing_or_wrong(where: str, value: object, expected: str) -> Problem:
    if value is None:
        return Problem(where, f"missing (expected {expected})")
    return Problem(where, f"must be {expected}, not {_type_name(value)}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _workflow_name(
    data: Mapping[str, Any], override: str | None, problems: list[Problem]
) -> str | None:
    if override is not None:
        if not _ID_RE.match(override):
            raise ValueError(
                f"name {override!r} is not a valid workflow id (letters, digits, _ . : @ -)"
            )
        return override
    raw = data.get("name")
    if not isinstance(raw, str) or not raw.strip():
        problems.append(_missing_or_wrong("name", raw, "a non-empty string"))
        return None
    return _as_identifier(raw.strip())


def _schema_version(data: Mapping[str, Any], problems: list[Problem]) -> tuple[str, bool]:
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
        problems.append(_missing_or_wrong("schemaVersion", raw, f"one of {supported}"))
    workflow = data.get("workflow")
    return "", isinstance(workflow, Mapping) and "tasks" not in workflow


def _string_list(
    item: Mapping[str, Any], key: str, where: str, problems: list[Problem]
) -> list[tuple[str, str]]:
    """Read an optional list of task references as ``(location, reference)`` pairs."""
    raw = item.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(Problem(f"{where}.{key}", f"must be an array, not {_type_name(raw)}"))
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


def _runtime(item: Mapping[str, Any], where: str, problems: list[Problem]) -> float | None:
    raw = item.get("runtimeInSeconds")
    if raw is None:
        problems.append(
            Problem(f"{where}.runtimeInSeconds", "missing: the task's runtime is needed")
        )
        return None
    if not _is_number(raw) or not math.isfinite(raw) or raw < 0:
        problems.append(
            Problem(f"{where}.runtimeInSeconds", f"must be a finite number >= 0, got {raw!r}")
        )
        return None
    return float(raw)


def _cores(
    item: Mapping[str, Any], key: str, where: str, minimum: float, problems: list[Problem]
) -> float:
    """Read a core count (1 when absent); ``minimum`` 1 means >= 1, 0 means > 0."""
    raw = item.get(key)
    if raw is None:
        return 1.0
    valid = _is_number(raw) and math.isfinite(raw) and (raw >= 1 if minimum else raw > 0)
    if not valid:
        bound = ">= 1" if minimum else "> 0"
        problems.append(Problem(f"{where}.{key}", f"must be a number {bound}, got {raw!r}"))
        return 1.0
    value = float(raw)
    return float(math.ceil(value)) if value > 1 else value


def _task_list(
    container: Mapping[str, Any], where: str, problems: list[Problem]
) -> list[Any] | None:
    """Return the ``tasks`` array, or None (with a problem) when it is missing or empty."""
    raw = container.get("tasks")
    if not isinstance(raw, list):
        problems.append(_missing_or_wrong(f"{where}.tasks", raw, "an array of task objects"))
        return None
    if not raw:
        problems.append(Problem(f"{where}.tasks", "is empty: a workflow needs at least one task"))
        return None
    return raw


def _task_label(where: str, index: int, key: str, value: object) -> str:
    if isinstance(value, str) and value:
        return f"{where}[{index}] ({key} {value!r})"
    return f"{where}[{index}]"


# -- layouts ---------------------------------------------------------------------------


def _read_split_layout(workflow: Mapping[str, Any], problems: list[Problem]) -> list[_RawTask]:
    """Read 1.5/1.6: structure in ``specification.tasks``, runtimes in ``execution.tasks``."""
    specification = workflow.get("specification")
    if not isinstance(specification, Mapping):
        problems.append(_missing_or_wrong("workflow.specification", specification, "an object"))
        return []
    base = "workflow.specification.tasks"
    items = _task_list(specification, "workflow.specification", problems)
    if items is None:
        # Without the task list, execution entries have nothing to be checked against.
        return []
    tasks: list[_RawTask] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(
                Problem(f"{base}[{index}]", f"must be an object, not {_type_name(item)}")
            )
            continue
        where = _task_label(base, index, "id", item.get("id"))
        task_id = item.get("id")
        if not isinstance(task_id, str) or not task_id:
            problems.append(_missing_or_wrong(f"{where}.id", task_id, "a non-empty string"))
            continue
        tasks.append(
            _RawTask(
                where=where,
                key=task_id,
                parents=_string_list(item, "parents", where, problems),
                children=_string_list(item, "children", where, problems),
            )
        )
    _read_execution(workflow, tasks, problems)
    return tasks


def _read_execution(
    workflow: Mapping[str, Any], tasks: list[_RawTask], problems: list[Problem]
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
            problems.append(_missing_or_wrong("workflow.execution", execution, "an object"))
        return
    base = "workflow.execution.tasks"
    by_key = {task.key: task for task in tasks}
    seen: dict[str, int] = {}
    items = _task_list(execution, "workflow.execution", problems)
    if items is None:
        return
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(
                Problem(f"{base}[{index}]", f"must be an object, not {_type_name(item)}")
            )
            continue
        where = _task_label(base, index, "id", item.get("id"))
        task_id = item.get("id")
        if not isinstance(task_id, str) or not task_id:
            problems.append(_missing_or_wrong(f"{where}.id", task_id, "a non-empty string"))
            continue
        if task_id in seen:
            problems.append(
                Problem(
                    f"{where}.id",
                    f"task {task_id!r} already has an entry at {base}[{seen[task_id]}]",
                )
            )
            continue
        seen[task_id] = index
        runtime = _runtime(item, where, problems)
        cores = _cores(item, "coreCount", where, 1, problems)
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


def _read_single_list_layout(
    workflow: Mapping[str, Any], problems: list[Problem]
) -> list[_RawTask]:
    """Read 1.4: one ``workflow.tasks`` list, tasks keyed and referenced by ``name``."""
    base = "workflow.tasks"
    tasks: list[_RawTask] = []
    for index, item in enumerate(_task_list(workflow, "workflow", problems) or ()):
        if not isinstance(item, Mapping):
            problems.append(
                Problem(f"{base}[{index}]", f"must be an object, not {_type_name(item)}")
            )
            continue
        where = _task_label(base, index, "name", item.get("name"))
        task_name = item.get("name")
        if not isinstance(task_name, str) or not task_name:
            problems.append(_missing_or_wrong(f"{where}.name", task_name, "a non-empty string"))
            continue
        alias = item.get("id")
        if alias is not None and not isinstance(alias, str):
            problems.append(_missing_or_wrong(f"{where}.id", alias, "a string"))
            alias = None
        runtime = _runtime(item, where, problems)
        tasks.append(
            _RawTask(
                where=where,
                key=task_name,
                key_field="name",
                alias=alias or None,
                parents=_string_list(item, "parents", where, problems),
                children=_string_list(item, "children", where, problems),
                runtime_s=runtime if runtime is not None else 0.0,
                cores=_cores(item, "cores", where, 0, problems),
            )
        )
    return tasks


# -- ids and graph ---------------------------------------------------------------------


def _as_identifier(raw: str) -> str:
    """Return ``raw`` made to match `ID_PATTERN` (see the module docstring)."""
    candidate = _BAD_ID_CHAR.sub("_", raw)[:_MAX_ID_LENGTH]
    if not re.match(r"[A-Za-z0-9_]", candidate):
        candidate = "_" + candidate[1:]
    return candidate


def _assign_ids(tasks: list[_RawTask], problems: list[Problem]) -> None:
    """Give each task its orchestrator id; report duplicate keys and colliding ids."""
    by_key: dict[str, _RawTask] = {}
    by_id: dict[str, _RawTask] = {}
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
        task.task_id = _as_identifier(task.key)
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


def _resolve_dependencies(tasks: list[_RawTask], problems: list[Problem]) -> dict[str, list[str]]:
    """Return the parents of each task (orchestrator ids, in first-seen order)."""
    lookup: dict[str, _RawTask] = {task.key: task for task in tasks}
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
    lookup: Mapping[str, _RawTask],
    ref: str,
    task: _RawTask,
    *,
    where: str,
    kind: str,
    problems: list[Problem],
) -> _RawTask | None:
    found = lookup.get(ref)
    if found is None:
        problems.append(Problem(where, f"unknown task {ref!r}"))
        return None
    if found is task:
        problems.append(Problem(where, f"the task lists itself as its own {kind}"))
        return None
    return found


def _find_cycles(
    tasks: Sequence[_RawTask], edges: Mapping[str, list[str]], problems: list[Problem]
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


# -- result ----------------------------------------------------------------------------


def _build_spec(
    name: str,
    tasks: Sequence[_RawTask],
    edges: Mapping[str, list[str]],
    *,
    time_scale: float,
    mode: str,
    max_cores: int | None,
    version: str,
    data: Mapping[str, Any],
) -> WorkflowSpec:
    specs = []
    problems: list[Problem] = []
    for task in tasks:
        duration_s = (task.runtime_s or 0.0) * time_scale
        cores = task.cores if max_cores is None else min(task.cores, float(max_cores))
        try:
            specs.append(
                TaskSpec(
                    id=task.task_id,
                    function=SIMULATE_FUNCTION,
                    args=(duration_s, mode),
                    depends_on=tuple(edges[task.task_id]),
                    resources=ResourceSpec(num_cpus=cores),
                    estimated_duration_s=duration_s,
                )
            )
        except ValidationError as exc:  # pragma: no cover - inputs were checked above
            problems.extend(problems_from_validation_error(exc, prefix=task.where))
    if problems:  # pragma: no cover
        raise WorkflowRejectedError(name, problems)
    metadata = {
        "source": "wfformat",
        "wfformat.schema_version": version,
        "wfformat.time_scale": f"{time_scale:g}",
        "wfformat.mode": mode,
    }
    if isinstance(data.get("name"), str):
        metadata["wfformat.name"] = data["name"]
    return WorkflowSpec(name=name, tasks=tuple(specs), metadata=metadata)
