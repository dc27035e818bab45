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

from structlog.typing import FilteringBoundLogger

from orchestrator.core.clock import Clock
from orchestrator.core.commands import TaskEvent
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.schedules import ScheduleSpec
from orchestrator.core.states import TaskState
from orchestrator.durable import Journal, SpecCodecError
from orchestrator.durable.journal import schedule_namespace
from orchestrator.runtime import checkpoint_write
from orchestrator.runtime.checkpoint_write import PreparedSave, Resolve
from orchestrator.settings import CheckpointSettings
from orchestrator.storage import (
    CheckpointError,
    CheckpointStore,
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
        #: The checkpoint storage (None when off): the result cache lives there too.
        self.store: CheckpointStore | None = open_store(settings.storage) if self.enabled else None
        self._journal = Journal(self.store, scope) if self.store is not None else None
        self._clock = clock
        self._log = log
        self.epoch = 1
        self.last_checkpoint: str | None = None
        #: Bytes of results stored beside the checkpoints, per workflow (tenants' quotas).
        self.result_bytes: dict[str, int] = {}
        self._fenced = False
        # What changed since the last save: tasks by workflow (None: the whole workflow).
        self._dirty: dict[str, set[str] | None] = {}
        self._succeeded: dict[str, list[str]] = {}
        self._index: dict[str, dict[str, str]] = {}
        self._released: list[str] = []
        self._completions = 0
        self._deltas = 0
        self._last_full_s = -math.inf
        self._segments = 0
        self._schedules_dirty = False
        self._specs: list[PackedWorkflow] = []
        self._edits: list[tuple[str, PackedWorkflow, tuple[tuple[str, str], ...]]] = []
        # What the save being written took (put back by `finish` if it fails).
        self._pending: tuple[dict[str, set[str] | None], int, bool, float] = ({}, 0, False, 0.0)
        self._taken: dict[str, list[str]] = {}
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
        """Note a newly admitted workflow: its spec is stored by the next save, whole."""
        if self._journal is None:
            return
        workflow_id = spec.id or ""
        self._specs.append(spec)
        self._dirty[workflow_id] = None
        self._index.setdefault(workflow_id, {})

    def edited(
        self,
        workflow_id: str,
        additions: PackedWorkflow,
        edges: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """Note an edit of a running workflow: its stored spec grows at the next save.

        ``additions``: the tasks added; ``edges``: the dependencies ``(task, upstream)``
        its existing tasks gained.
        """
        if self._journal is None:
            return
        self._edits.append((workflow_id, additions, edges))
        self._dirty[workflow_id] = None

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
        """Note that a schedule was added, removed or fired (saved with the next checkpoint)."""
        if self._journal is not None:
            self._schedules_dirty = True

    def released(self, workflow_id: str) -> None:
        """Note that a workflow was released: the next checkpoint drops it."""
        if self._journal is None:
            return
        self._released.append(workflow_id)
        self.result_bytes.pop(workflow_id, None)
        self._dirty.pop(workflow_id, None)
        self._succeeded.pop(workflow_id, None)
        self._index.pop(workflow_id, None)
        self._specs = [spec for spec in self._specs if spec.id != workflow_id]

    # -- saving --------------------------------------------------------------------------

    def due(self) -> bool:
        """Return whether a save is due (enough completions, or a full one's time)."""
        if self._journal is None or self._fenced:
            return False
        if self._completions >= self.settings.every_n_completions:
            return True
        changed = bool(self._dirty or self._released or self._schedules_dirty)
        return changed and self._clock.now_s() - self._last_full_s >= self.settings.full_every_s

    def prepare(
        self,
        workflow_ids: list[str],
        entry_of: EntryOf,
        handles_of: FetchResults,
        schedules_of: SchedulesOf | None = None,
        running: dict[str, list[str]] | None = None,
    ) -> PreparedSave | None:
        """Gather what a save holds, on the loop; None when off or fenced.

        What it takes is no longer pending: `finish` puts it back if the write fails.

        Args:
            workflow_ids: Every workflow the scheduler keeps (for a full checkpoint).
            entry_of: The scheduler's `checkpoint_entry`.
            handles_of: ``{task: handle}`` of the results of succeeded tasks (refs).
            schedules_of: The scheduler's `schedule_entries` (saved when they changed,
                and in every full checkpoint).
            running: Tasks with an attempt running, by workflow: a delta carries them, so
                that a restore charges their lost attempts (their start is not an event).
        """
        if self._journal is None or self._fenced:
            return None
        now_s = self._clock.now_s()
        full = (
            now_s - self._last_full_s >= self.settings.full_every_s
            or self._deltas >= self.settings.max_deltas
        )
        results, new_index = self._take_results(handles_of)
        dirty = self._dirty
        for workflow_id, task_ids in (running or {}).items():
            tasks = dirty.setdefault(workflow_id, set())
            if tasks is not None:
                tasks.update(task_ids)
        if full:
            workflows = {w: entry_of(w, None) for w in workflow_ids}
            index = {w: {**self._index.get(w, {}), **new_index.get(w, {})} for w in workflow_ids}
        else:
            workflows = {w: entry_of(w, tasks) for w, tasks in dirty.items() if w in self._index}
            index = new_index
        schedules, templates, dropped = None, {}, []
        if schedules_of is not None and (full or self._schedules_dirty):
            entries = schedules_of()
            schedules = {name: entry for name, (entry, _) in entries.items()}
            templates = {n: t for n, (_, t) in entries.items() if n not in self._schedules_written}
            dropped = sorted(self._schedules_written - set(entries))
        save = PreparedSave(
            full=full,
            epoch=self.epoch,
            specs=self._specs,
            edits=self._edits,
            templates=templates,
            results=results,
            workflows=workflows,
            results_index=index,
            released=self._released,
            schedules=schedules,
            dropped_schedules=dropped,
            keep_full=self.settings.keep_full,
        )
        self._pending = (dirty, self._completions, self._schedules_dirty, now_s)
        self._specs, self._edits, self._dirty, self._released = [], [], {}, []
        self._completions, self._schedules_dirty = 0, False
        return save

    def _take_results(
        self, handles_of: FetchResults
    ) -> tuple[list[tuple[str, str, dict[str, Any]]], dict[str, dict[str, str]]]:
        """Take the results of the tasks that succeeded since the last save, one segment each."""
        succeeded, self._succeeded = self._succeeded, {}
        results: list[tuple[str, str, dict[str, Any]]] = []
        index: dict[str, dict[str, str]] = {}
        if not self.settings.save_results:
            return results, index
        for workflow_id, task_ids in succeeded.items():
            handles = handles_of(workflow_id, task_ids)
            if handles:
                self._segments += 1
                segment = f"{self.epoch:06d}-{self._segments:09d}"
                results.append((workflow_id, segment, handles))
                index[workflow_id] = dict.fromkeys(handles, segment)
        self._taken = succeeded
        return results, index

    def finish(self, save: PreparedSave, key: str | None, error: BaseException | None) -> None:
        """Record how the write of ``save`` went, on the loop; a failed one is pending again."""
        dirty, completions, schedules_dirty, started_s = self._pending
        if error is None and key is not None:
            for workflow_id, segment, handles in save.results:
                if workflow_id in self._index:  # not released meanwhile
                    self._index[workflow_id].update(dict.fromkeys(handles, segment))
                    stored = save.result_bytes.get(workflow_id, 0)
                    self.result_bytes[workflow_id] = self.result_bytes.get(workflow_id, 0) + stored
            self._schedules_written |= set(save.templates)
            self._schedules_written -= set(save.dropped_schedules)
            if save.full:
                self._last_full_s, self._deltas = started_s, 0
            else:
                self._deltas += 1
            self.last_checkpoint = key
            self._log.debug("checkpoint.saved", key=key, full=save.full)
            return
        if isinstance(error, StaleWriterError):
            self._fenced = True
            self._log.error("checkpoint.fenced", reason=str(error))
            return
        self._log.error("checkpoint.failed", reason=f"{type(error).__name__}: {error}")
        # Pending again: merged under what changed since (None, a whole workflow, wins).
        for workflow_id, tasks in dirty.items():
            now = self._dirty.get(workflow_id, set())
            self._dirty[workflow_id] = None if tasks is None or now is None else now | tasks
        self._specs = save.specs + self._specs
        self._edits = save.edits + self._edits
        self._released = save.released + self._released
        self._completions += completions
        self._schedules_dirty = self._schedules_dirty or schedules_dirty
        for workflow_id, task_ids in self._taken.items():
            self._succeeded.setdefault(workflow_id, []).extend(task_ids)

    def save(
        self,
        workflow_ids: list[str],
        entry_of: EntryOf,
        fetch_results: FetchResults,
        schedules_of: SchedulesOf | None = None,
        running: dict[str, list[str]] | None = None,
    ) -> str | None:
        """Save now, on this thread; return the checkpoint's key (None: off, fenced, failed).

        ``fetch_results`` returns the values themselves (see `prepare` for the rest).
        """
        save = self.prepare(workflow_ids, entry_of, fetch_results, schedules_of, running)
        if save is None:
            return None
        key, error = self.write(save, dict)
        self.finish(save, key, error)
        return key

    def write(
        self, save: PreparedSave, resolve: Resolve
    ) -> tuple[str | None, BaseException | None]:
        """Write ``save`` (any thread); return its key, or the error that stopped it."""
        assert self._journal is not None
        try:
            return checkpoint_write.write(self._journal, save, resolve, self._log).key, None
        except (CheckpointError, StorageError, OSError) as exc:
            return None, exc


def saved_segments(results: Mapping[str, str], task_ids: Iterable[str]) -> list[str]:
    """Return the segments that hold the results of ``task_ids`` (those saved)."""
    return sorted({results[task_id] for task_id in task_ids if task_id in results})
