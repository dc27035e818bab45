"""Writing one checkpoint: the I/O half of a save, safe to run off the supervisor's loop.

`Durability.prepare` gathers on the loop what a save holds (`PreparedSave`: JSON-safe
entries, new specs, the refs of new results); `write` then does the slow part in a worker
thread, in order: new specs and schedule templates, results (fetched from Ray's object
store and pickled), the checkpoint itself, then the clean-up its success allows (released
workflows' objects, removed schedules' templates, old checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import cloudpickle
from structlog.typing import FilteringBoundLogger

from orchestrator.core.packed import PackedWorkflow
from orchestrator.durable import Journal
from orchestrator.durable.journal import schedule_namespace
from orchestrator.storage import CheckpointId, StorageError

#: Turns ``{task: handle}`` (Ray refs in the supervisor) into ``{task: value}``.
Resolve = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(slots=True)
class PreparedSave:
    """What one save writes (see the module docstring).

    Attributes:
        full: A full checkpoint (else a delta).
        epoch: The writer's epoch.
        specs: Workflows admitted since the last save, to store first.
        edits: Tasks added to running workflows since, with the dependencies
            ``(task, upstream)`` an edit gave existing tasks (their stored specs grow).
        templates: Schedules' workflow templates not stored yet, by name.
        results: ``(workflow, segment, {task: handle})`` of results to store.
        workflows: The checkpoint's workflow entries.
        results_index: The checkpoint's results index.
        released: Workflows released since the last save.
        schedules: Every schedule's entry, or None when they did not change.
        dropped_schedules: Schedules removed: their templates go after the checkpoint.
        keep_full: Full checkpoints kept by the gc after a full one.
        not_saved: Filled by `write`: ``(workflow, task)`` whose result could not be pickled.
        result_bytes: Filled by `write`: bytes of results stored, per workflow.
    """

    full: bool
    epoch: int
    specs: list[PackedWorkflow]
    edits: list[tuple[str, PackedWorkflow, tuple[tuple[str, str], ...]]]
    templates: dict[str, PackedWorkflow]
    results: list[tuple[str, str, dict[str, Any]]]
    workflows: dict[str, dict[str, Any]]
    results_index: dict[str, dict[str, str]]
    released: list[str]
    schedules: dict[str, dict[str, Any]] | None
    dropped_schedules: list[str]
    keep_full: int
    not_saved: list[tuple[str, str]] = field(default_factory=list)
    result_bytes: dict[str, int] = field(default_factory=dict)


def write(
    journal: Journal, save: PreparedSave, resolve: Resolve, log: FilteringBoundLogger
) -> CheckpointId:
    """Write ``save`` (see the module docstring); return the checkpoint's id.

    Raises:
        StaleWriterError: a newer epoch writes now: this writer must stop.
        CheckpointError, StorageError, OSError: the store failed; nothing is cleaned up.
    """
    for spec in save.specs:
        journal.write_spec(spec)
    for workflow_id, additions, edges in save.edits:
        journal.write_spec(_combined(journal.read_spec(workflow_id), additions, edges))
    for name, template in save.templates.items():
        journal.write_spec(template, namespace=schedule_namespace(name))
    for workflow_id, segment, handles in save.results:
        values = resolve(handles)
        try:
            written = journal.write_results(workflow_id, segment, values)
        except (StorageError, OSError):
            raise
        except Exception:  # a value cloudpickle cannot store: leave it out
            kept = _picklable(values, workflow_id, log)
            save.not_saved.extend((workflow_id, t) for t in values if t not in kept)
            written = journal.write_results(workflow_id, segment, kept)
        save.result_bytes[workflow_id] = save.result_bytes.get(workflow_id, 0) + written
    saved = journal.save(
        epoch=save.epoch,
        full=save.full,
        workflows=save.workflows,
        results=save.results_index,
        released=save.released,
        schedules=save.schedules,
    )
    for workflow_id in save.released:
        journal.drop_workflow(workflow_id)
    for name in save.dropped_schedules:
        journal.drop_workflow(schedule_namespace(name))
    if save.full:
        journal.gc(save.keep_full)
    return saved


def _combined(
    spec: PackedWorkflow, additions: PackedWorkflow, edges: tuple[tuple[str, str], ...] = ()
) -> PackedWorkflow:
    """Return ``spec`` with the tasks (and the agents not declared yet) of an edit.

    ``edges``, ``(task, upstream)``: dependencies the edit gave existing tasks.
    """
    known = {agent.name for agent in spec.agents}
    agents = spec.agents + tuple(a for a in additions.agents if a.name not in known)
    rows = spec.rows
    if edges:
        gained: dict[str, list[str]] = {}
        for task_id, upstream in edges:
            gained.setdefault(task_id, []).append(upstream)
        rows = tuple(
            row._replace(inputs=tuple(dict.fromkeys((*row.inputs, *gained[row.id]))))
            if row.id in gained
            else row
            for row in rows
        )
    return replace(spec, rows=rows + additions.rows, agents=agents)


def _picklable(
    values: dict[str, Any], workflow_id: str, log: FilteringBoundLogger
) -> dict[str, Any]:
    """Return ``values`` without those cloudpickle cannot store (each logged as an error)."""
    kept = {}
    for task_id, value in values.items():
        try:
            cloudpickle.dumps(value)
        except Exception as exc:  # pickling errors come in many types
            log.error(
                "result.not_saved",
                workflow_id=workflow_id,
                task_id=task_id,
                reason=f"{type(exc).__name__}: {exc}",
                consequence="the task runs again if its result is needed after a restart",
            )
        else:
            kept[task_id] = value
    return kept
