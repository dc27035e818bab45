"""A workflow's spec as stored beside the checkpoints: its structure in JSON, user values apart.

A `PackedWorkflow` is written once, when it is admitted, as two objects:

- ``structure`` (JSON): name, id, labels, retry budget, and one row per task: id, agent,
  function, dependencies, priority, deadline, resources, retry policy, timeouts, estimate.
  A function (the handler, a compensation) is stored by its import path
  (``module:qualname``) whenever that path leads back to the very same object, so a new
  process imports it; retry policies and resources, shared by most tasks, are stored once
  in tables and referred to by index.
- ``values`` (cloudpickle): the tasks' arguments, the functions that have no import path
  (a lambda, a closure, a function of a notebook), and the agents' declarations (classes
  and their constructor arguments). These are the user's values: the orchestrator's own
  state is never pickled.
"""

from __future__ import annotations

import json
import math
from typing import Any

import cloudpickle

from orchestrator.core.packed import PackedWorkflow, TaskExtras, TaskRow
from orchestrator.core.resources import ResourceSpec
from orchestrator.core.specs import RetryPolicy
from orchestrator.import_paths import ImportPathError, import_object

#: Version of the structure below.
SPEC_SCHEMA = 1


class SpecCodecError(ValueError):
    """A stored spec cannot be read (damaged, of a newer schema, or inconsistent)."""


def import_path_of(function: Any) -> str | None:
    """Return ``module:qualname`` of ``function`` if importing it gives it back, else None."""
    if isinstance(function, str):
        return function
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    path = f"{module}:{qualname}"
    try:
        return path if import_object(path) is function else None
    except (ImportPathError, ImportError):
        return None


class _Table:
    """Distinct JSON values of one kind, stored once and referred to by index."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._index: dict[Any, int] = {}

    def ref(self, model: RetryPolicy | ResourceSpec | None) -> int | None:
        if model is None:
            return None
        index = self._index.get(model)
        if index is None:
            index = self._index[model] = len(self.items)
            self.items.append(model.model_dump(mode="json"))
        return index


def encode(spec: PackedWorkflow) -> tuple[bytes, bytes]:
    """Return the ``(structure, values)`` objects of ``spec`` (see the module docstring)."""
    by_value: list[Any] = []
    retries, resources = _Table(), _Table()

    def function_ref(function: Any) -> Any:
        if function is None:
            return None
        path = import_path_of(function)
        if path is not None:
            return path
        by_value.append(function)
        return len(by_value) - 1

    rows = []
    for row in spec.rows:
        extras = row.extras or TaskExtras()
        rows.append(
            [
                row.id,
                row.agent,
                function_ref(row.function),
                list(row.inputs),
                row.priority,
                None if math.isinf(row.deadline_s) else row.deadline_s,
                resources.ref(row.resources),
                retries.ref(row.retry),
                row.timeout_s,
                row.estimated_duration_s,
                extras.heartbeat_timeout_s,
                extras.schedule_to_close_s,
                function_ref(extras.compensate),
                extras.cache,
                extras.cache_ttl_s,
                extras.not_before_s,
                extras.delay_s,
                extras.on_deadline_miss,
                extras.trigger_rule,
                list(extras.reads),
                list(extras.writes),
                extras.preemptible,
            ]
        )
    structure = {
        "schema": SPEC_SCHEMA,
        "name": spec.name,
        "id": spec.id,
        "metadata": spec.metadata,
        "retry_budget": spec.retry_budget,
        "max_concurrency": spec.max_concurrency,
        "tenant": spec.tenant,
        "retries": retries.items,
        "resources": resources.items,
        "rows": rows,
    }
    values = {
        "args": [row.args for row in spec.rows],
        "kwargs": [row.kwargs for row in spec.rows],
        "functions": by_value,
        "agents": spec.agents,
    }
    return json.dumps(structure, separators=(",", ":")).encode(), cloudpickle.dumps(values)


def decode(structure_bytes: bytes, values_bytes: bytes, where: str = "spec") -> PackedWorkflow:
    """Return the `PackedWorkflow` stored as ``structure_bytes`` and ``values_bytes``.

    Functions stored by import path come back as the path (imported where they run).

    Raises:
        SpecCodecError: damaged, of a newer schema, or inconsistent; naming ``where``.
    """
    try:
        structure = json.loads(structure_bytes)
        values = cloudpickle.loads(values_bytes)
    except Exception as exc:  # json, pickle or an import inside the values
        raise SpecCodecError(f"{where}: cannot be read ({type(exc).__name__}: {exc})") from exc
    schema = structure.get("schema") if isinstance(structure, dict) else None
    if not isinstance(schema, int) or schema > SPEC_SCHEMA:
        raise SpecCodecError(
            f"{where}: spec schema {schema!r}; this version reads schemas up to {SPEC_SCHEMA}"
        )
    try:
        return _build(structure, values)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise SpecCodecError(f"{where}: inconsistent ({type(exc).__name__}: {exc})") from exc


def _build(structure: dict[str, Any], values: dict[str, Any]) -> PackedWorkflow:
    retries = [RetryPolicy.model_validate(item) for item in structure["retries"]]
    resources = [ResourceSpec.model_validate(item) for item in structure["resources"]]
    functions = values["functions"]
    args, kwargs = values["args"], values["kwargs"]
    rows = structure["rows"]
    if len(args) != len(rows) or len(kwargs) != len(rows):
        raise ValueError(f"{len(rows)} tasks but {len(args)} argument lists")

    def function(ref: Any) -> Any:
        return functions[ref] if isinstance(ref, int) else ref

    packed = []
    for index, fields in enumerate(rows):
        (task_id, agent, fn, inputs, priority, deadline_s, res, retry) = fields[:8]
        (timeout_s, estimate_s, heartbeat_s, close_s, compensate, cache, ttl_s) = fields[8:15]
        (not_before_s, delay_s, on_miss, rule, reads, writes) = fields[15:21]
        extras = TaskExtras(
            heartbeat_s,
            close_s,
            function(compensate),
            cache,
            ttl_s,
            not_before_s,
            delay_s,
            on_miss,
            rule,
            tuple(reads),
            tuple(writes),
            bool(fields[21]) if len(fields) > 21 else False,  # absent before preemption
        )
        packed.append(
            TaskRow(
                task_id,
                agent,
                function(fn),
                tuple(args[index]),
                dict(kwargs[index]),
                tuple(inputs),
                int(priority),
                math.inf if deadline_s is None else float(deadline_s),
                None if res is None else resources[res],
                retries[retry],
                timeout_s,
                estimate_s,
                None if extras == TaskExtras() else extras,
            )
        )
    return PackedWorkflow(
        structure["name"],
        structure["id"],
        dict(structure["metadata"]),
        tuple(values["agents"]),
        tuple(packed),
        structure["retry_budget"],
        structure.get("max_concurrency"),
        structure.get("tenant"),
    )
