"""`Durability`: when the supervisor saves its state, and how its workflows come back.

The supervisor tells it what happened (the commands it executes: task and workflow
events, releases) and asks, after each batch of outcomes, whether a save is due. A save
writes first the results of the tasks that succeeded since the last one (one segment per
workflow), then a delta checkpoint of the tasks and workflows that changed, or, every
``full_every_s`` (or ``max_deltas`` deltas), a full one, after which older checkpoints
are collected. A released workflow's spec and results are deleted once a checkpoint that
no longer lists it is written.

Each incarnation of the supervisor writes with an epoch one above the newest found in the
store: a stale incarnation that still runs is refused by the store (`StaleWriterError`)
and stops saving.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cloudpickle
from structlog.typing import FilteringBoundLogger

from orchestrator.core.clock import Clock
from orchestrator.core.commands import TaskEvent
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.schedules import ScheduleSpec
from orchestrator.core.states import TaskState
from orchestrator.durable import Journal, SpecCodecError
from orchestrator.durable.journal import schedule_namespace
from orchestrator.settings import CheckpointSettings
from orchestrator.storage import (
    CheckpointError,
    ObjectMissingError,
    StaleWriterError,
    StorageError,
    open_store,
)
from orchestrator.storage.blobs import encode_segment

_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_.=-]+$")
_SUCCEEDED = TaskState.SUCCEEDED


def scope_prefix(namespace: str, supervisor_name: str) -> str:
    """Return the key prefix of one supervisor's state: ``<namespace>/<name>/``."""
    names = (namespace, supervisor_name)
    parts = [name if _SAFE_SEGMENT.match(name) else encode_segment(name) for name in names]
    return "/".join(parts) + "/"


@dataclass(frozen=True, slots=True)
class Restorable:
    """A workflow found in the store, ready to be handed back to the scheduler.

    Attributes:
        spec: Its spec.
        entry: Where it was (`orchestrator.core.checkpoint_state`).
        missing_results: Its succeeded tasks whose result was not saved.
        results: Where each saved result is: ``{task: segment}``.
    """

    spec: PackedWorkflow
    entry: dict[str, Any]
    missing_results: tuple[str, ...]
    results: dict[str, str]


#: Returns ``{task: value}`` of a workflow's succeeded tasks (their results, fetched).
FetchResults = Callable[[str, list[str]], dict[str, Any]]
#: Returns a workflow's checkpoint entry, of the named tasks or (None) all that changed.
EntryOf = Callable[[str, Iterable[str] | None], dict[str, Any]]
#: Returns each schedule's checkpoint entry and workflow template, by name.
SchedulesOf = Callable[[], dict[str, tuple[dict[str, Any], PackedWorkflow]]]


@dataclass(frozen=True, slots=True)
class RestorableSchedule:
    """A schedule found in the store: its spec, workflow template and state."""

    spec: ScheduleSpec
    workflow: PackedWorkflow
    state: dict[str, Any]


class Durability:
    """Saves the supervisor's state when due; finds it again at start-up.

    Args:
        settings: Where and when to save; empty ``storage`` turns everything off.
        scope: Key prefix of this supervisor (`scope_prefix`).
        clock: When saves are due.
        log: Where saves and their failures are told.
    """

    def __init__(
        self,
        settings: CheckpointSettings,
        scope: str,
        clock: Clock,
        log: FilteringBoundLogger,
    ) -> None:
        self.settings = settings
        self.enabled = bool(settings.storage)
        self._journal = Journal(open_store(settings.storage), scope) if self.enabled else None
        self._clock = clock
        self._log = log
        self.epoch = 1
        self.last_checkpoint: str | None = None
        self._fenced = False
        # What changed since the last save: tasks by workflow (None: the whole workflow).
        self._dirty: dict[str, set[str] | None] = {}
        self._succeeded: dict[str, list[str]] = {}
        self._index: dict[str, dict[str, str]] = {}
        self._new_index: dict[str, dict[str, str]] = {}
        self._released: list[str] = []
        self._completions = 0
        self._deltas = 0
        self._last_full_s = -math.inf
        self._segments = 0
        self._schedules_dirty = False
        self._schedules_written: set[str] = set()
        #: The schedules `load` found (handed back to the scheduler by the supervisor).
        self.restorable_schedules: list[RestorableSchedule] = []

    # -- start-up ------------------------------------------------------------------------

    def load(self) -> list[Restorable]:
        """Return the unfinished and kept workflows saved in the store (none when off).

        Takes the epoch after the newest in the store. A workflow whose spec is missing or
        damaged is logged and left out; the others come back.

        Raises:
            NewerSchemaError: the store was written by a newer version.
            CheckpointError: there are checkpoints but none loads.
        """
        if self._journal is None:
            return []
        state = self._journal.load()
        if state is None:
            return []
        self.epoch = state.newest_epoch + 1
        for reason in state.skipped:
            self._log.warning("checkpoint.skipped", reason=reason)
        restorable = []
        for workflow_id, entry in state.workflows.items():
            try:
                spec = self._journal.read_spec(workflow_id)
            except (ObjectMissingError, SpecCodecError) as exc:
                self._log.error("workflow.not_restored", workflow_id=workflow_id, reason=str(exc))
                continue
            saved = state.results.get(workflow_id, {})
            missing = tuple(
                task_id
                for task_id, fields in entry.get("tasks", {}).items()
                if fields[0] == _SUCCEEDED.value and task_id not in saved
            )
            restorable.append(Restorable(spec, entry, missing, dict(saved)))
            self._index[workflow_id] = dict(saved)
        self.restorable_schedules = self._schedules_in(state.schedules)
        self._log.info(
            "checkpoint.loaded",
            sequence=state.sequence,
            epoch=self.epoch,
            workflows=len(restorable),
            schedules=len(self.restorable_schedules),
        )
        return restorable

    def _schedules_in(self, entries: dict[str, dict[str, Any]]) -> list[RestorableSchedule]:
        assert self._journal is not None
        found = []
        for name, state in entries.items():
            try:
                spec = ScheduleSpec.model_validate(state["spec"])
                template = self._journal.read_spec(schedule_namespace(name))
            except (ObjectMissingError, SpecCodecError, ValueError, KeyError) as exc:
                self._log.error("schedule.not_restored", schedule=name, reason=str(exc))
                continue
            found.append(RestorableSchedule(spec, template, state))
            self._schedules_written.add(name)
        return found

    def read_results(self, workflow_id: str, segments: Iterable[str]) -> dict[str, Any]:
        """Return the saved results in ``segments`` of a workflow, ``{task: value}``."""
        assert self._journal is not None
        values: dict[str, Any] = {}
        for segment in sorted(set(segments)):
            try:
                values.update(self._journal.read_results(workflow_id, segment))
            except (ObjectMissingError, StorageError) as exc:
                self._log.error("results.not_restored", workflow_id=workflow_id, reason=str(exc))
        return values

    # -- what happened -------------------------------------------------------------------

    def admitted(self, spec: PackedWorkflow) -> None:
        """Store a newly admitted workflow's spec; it is in the next checkpoint, whole."""
        if self._journal is None:
            return
        workflow_id = spec.id or ""
        self._journal.write_spec(spec)
        self._dirty[workflow_id] = None
        self._index.setdefault(workflow_id, {})

    def tasks_changed(self, events: Iterable[TaskEvent]) -> None:
        """Note task state changes (from the scheduler's `PublishTaskEvents`)."""
        if self._journal is None:
            return
        dirty = self._dirty
        for event in events:
            workflow_id = event.workflow_id
            tasks = dirty.get(workflow_id, set())
            if tasks is not None:
                tasks.add(event.task_id)
                dirty[workflow_id] = tasks
            if event.state is _SUCCEEDED:
                self._succeeded.setdefault(workflow_id, []).append(event.task_id)
                self._completions += 1
            elif event.state.is_terminal:
                self._completions += 1

    def workflow_changed(self, workflow_id: str) -> None:
        """Note a change of the workflow itself (state, paused, budget, dead letters)."""
        if self._journal is not None:
            self._dirty.setdefault(workflow_id, set())

    def schedules_changed(self) -> None:
        """Note that a schedule was added or removed (saved with the next checkpoint)."""
        if self._journal is not None:
            self._schedules_dirty = True

    def released(self, workflow_id: str) -> None:
        """Note that a workflow was released: the next checkpoint drops it."""
        if self._journal is None:
            return
        self._released.append(workflow_id)
        self._dirty.pop(workflow_id, None)
        self._succeeded.pop(workflow_id, None)
        self._index.pop(workflow_id, None)
        self._new_index.pop(workflow_id, None)

    # -- saving --------------------------------------------------------------------------

    def due(self) -> bool:
        """Return whether a save is due (enough completions, or a full one's time)."""
        if self._journal is None or self._fenced:
            return False
        if self._completions >= self.settings.every_n_completions:
            return True
        changed = bool(self._dirty or self._released)
        return changed and self._clock.now_s() - self._last_full_s >= self.settings.full_every_s

    def save(
        self,
        workflow_ids: list[str],
        entry_of: EntryOf,
        fetch_results: FetchResults,
        schedules_of: SchedulesOf | None = None,
    ) -> str | None:
        """Save now; return the checkpoint's key (None when off, fenced or failed).

        Args:
            workflow_ids: Every workflow the scheduler keeps (for a full checkpoint).
            entry_of: The scheduler's `checkpoint_entry`.
            fetch_results: Fetches the results of succeeded tasks to store.
            schedules_of: The scheduler's `schedule_entries` (saved when they changed,
                and in every full checkpoint).
        """
        journal = self._journal
        if journal is None or self._fenced:
            return None
        now_s = self._clock.now_s()
        full = (
            now_s - self._last_full_s >= self.settings.full_every_s
            or self._deltas >= self.settings.max_deltas
        )
        try:
            self._save_results(journal, fetch_results)
            if full:
                workflows = {w: entry_of(w, None) for w in workflow_ids}
                results = self._index
            else:
                workflows = {w: entry_of(w, tasks) for w, tasks in self._dirty.items()}
                results = self._new_index
            schedules = None
            if schedules_of is not None and (full or self._schedules_dirty):
                schedules = self._save_schedule_templates(journal, schedules_of())
            saved = journal.save(
                epoch=self.epoch,
                full=full,
                workflows=workflows,
                results=results,
                released=self._released,
                schedules=schedules,
            )
        except StaleWriterError as exc:
            self._fenced = True
            self._log.error("checkpoint.fenced", reason=str(exc))
            return None
        except (CheckpointError, StorageError, OSError) as exc:
            self._log.error("checkpoint.failed", reason=str(exc))
            return None
        for workflow_id in self._released:
            journal.drop_workflow(workflow_id)
        if schedules is not None:
            self._schedules_dirty = False
            for gone in self._schedules_written - set(schedules):
                journal.drop_workflow(schedule_namespace(gone))
            self._schedules_written &= set(schedules)
        self._dirty, self._new_index, self._released = {}, {}, []
        self._completions = 0
        if full:
            self._last_full_s, self._deltas = now_s, 0
            journal.gc(self.settings.keep_full)
        else:
            self._deltas += 1
        self.last_checkpoint = saved.key
        self._log.debug("checkpoint.saved", key=saved.key, full=full, workflows=len(workflows))
        return saved.key

    def _save_schedule_templates(
        self, journal: Journal, entries: dict[str, tuple[dict[str, Any], PackedWorkflow]]
    ) -> dict[str, dict[str, Any]]:
        """Store the workflow templates of new schedules; return every schedule's entry."""
        for name, (_, template) in entries.items():
            if name not in self._schedules_written:
                journal.write_spec(template, namespace=schedule_namespace(name))
                self._schedules_written.add(name)
        return {name: entry for name, (entry, _) in entries.items()}

    def _save_results(self, journal: Journal, fetch_results: FetchResults) -> None:
        """Store the results of the tasks that succeeded since the last save."""
        succeeded, self._succeeded = self._succeeded, {}
        if not self.settings.save_results:
            return
        pending = list(succeeded.items())
        try:
            while pending:
                workflow_id, task_ids = pending[0]
                values = fetch_results(workflow_id, task_ids)
                if values:
                    self._segments += 1
                    segment = f"{self.epoch:06d}-{self._segments:09d}"
                    try:
                        journal.write_results(workflow_id, segment, values)
                    except (StorageError, OSError):
                        raise
                    except Exception:  # a value cloudpickle cannot store: leave it out
                        values = _picklable(values, workflow_id, self._log)
                        journal.write_results(workflow_id, segment, values)
                    index = dict.fromkeys(values, segment)
                    self._index.setdefault(workflow_id, {}).update(index)
                    self._new_index.setdefault(workflow_id, {}).update(index)
                pending.pop(0)
        finally:
            for workflow_id, task_ids in pending:  # not stored: again at the next save
                self._succeeded.setdefault(workflow_id, []).extend(task_ids)


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


def saved_segments(results: Mapping[str, str], task_ids: Iterable[str]) -> list[str]:
    """Return the segments that hold the results of ``task_ids`` (those saved)."""
    return sorted({results[task_id] for task_id in task_ids if task_id in results})
