"""Read a WfFormat instance into a `WorkflowSpec`: the public `load_wfformat` and friends.

`read_wfformat` reads the document, its name and schema version, the tasks of its layout
(`orchestrator.wfformat.layouts`), their ids and dependencies
(`orchestrator.wfformat.graph`), and builds one ``agents.simulated:simulate`` task each.
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
from orchestrator.core.resources import ResourceSpec
from orchestrator.core.specs import ID_PATTERN, TaskSpec, WorkflowSpec
from orchestrator.validation_problems import problems_from_validation_error
from orchestrator.wfformat.fields import missing_or_wrong, type_name
from orchestrator.wfformat.graph import (
    as_identifier,
    assign_ids,
    find_cycles,
    resolve_dependencies,
)
from orchestrator.wfformat.layouts import (
    RawTask,
    read_single_list_layout,
    read_split_layout,
    schema_version,
)
from orchestrator.workflow import check_structure

#: Import path of the function every imported task runs (`agents.simulated.simulate`).
SIMULATE_FUNCTION = "agents.simulated:simulate"

_MODES = ("sleep", "compute")
_ID_RE = re.compile(ID_PATTERN)


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
    version, split_layout = schema_version(data, problems)
    workflow = data.get("workflow")
    if not isinstance(workflow, Mapping):
        problems.append(missing_or_wrong("workflow", workflow, "an object"))
        raise WorkflowRejectedError(label, problems)

    if split_layout:
        tasks = read_split_layout(workflow, problems)
    else:
        tasks = read_single_list_layout(workflow, problems)
    assign_ids(tasks, problems)
    edges = resolve_dependencies(tasks, problems)
    find_cycles(tasks, edges, problems)
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
            [Problem(str(path), f"a WfFormat instance is a JSON object, not {type_name(data)}")],
        )
    return data, label


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
        problems.append(missing_or_wrong("name", raw, "a non-empty string"))
        return None
    return as_identifier(raw.strip())


# -- result ----------------------------------------------------------------------------


def _build_spec(
    name: str,
    tasks: Sequence[RawTask],
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
