"""`Journal`: the supervisor's durable state in a `CheckpointStore`: specs, results, checkpoints.

Layout under a prefix (one per supervisor, so that several share a bucket)::

    checkpoints/ckpt-<sequence>     full or delta checkpoints (JSON payloads, see below)
    checkpoints/LATEST              the pointer, written last
    blobs/<workflow>/spec.json      each workflow's structure, written once when admitted
    blobs/<workflow>/spec.values    its user values (arguments, agents), cloudpickle
    blobs/<workflow>/results-<n>    results of its tasks that succeeded together, cloudpickle

A checkpoint's payload is JSON::

    {"kind": "full" | "delta", "base": <sequence of the full one>,
     "workflows": {id: entry}, "results": {id: {task: segment}}, "released": [id, ...]}

A full checkpoint holds every workflow's entry (`orchestrator.core.checkpoint_state`) and
the whole results index; a delta holds only what changed since the previous checkpoint, so
its cost follows the change, not the size of the workflows. Loading takes the newest full
checkpoint that loads and applies its deltas in order, stopping at the first damaged one
(each one skipped is said). Garbage collection keeps the last few full checkpoints and
every delta after the oldest kept; a released workflow's blobs go with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from orchestrator.core.checkpoint_state import SCHEMA, merge
from orchestrator.core.packed import PackedWorkflow
from orchestrator.durable import spec_codec
from orchestrator.storage.base import CheckpointStore, ObjectMissingError
from orchestrator.storage.blobs import Blobs
from orchestrator.storage.checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointId,
    Checkpoints,
    CorruptCheckpointError,
)

_SPEC = "spec.json"
_VALUES = "spec.values"
_RESULTS = "results-"


@dataclass(slots=True)
class SavedState:
    """What the newest usable checkpoint chain says.

    Attributes:
        epoch: The epoch of the writer of its newest checkpoint.
        newest_epoch: The newest epoch seen in the store (a new writer takes the next).
        sequence: The sequence number of its newest checkpoint.
        workflows: Each workflow's entry, merged over the chain.
        results: Where each saved result is: ``{workflow: {task: segment}}``.
        schedules: Each schedule's entry (`ScheduleRecord.entry`), by name.
        skipped: Why each newer checkpoint was not used (damaged, out of chain).
    """

    epoch: int
    sequence: int
    newest_epoch: int = 0
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, dict[str, str]] = field(default_factory=dict)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


class Journal:
    """Specs, results and checkpoints of one supervisor (see the module docstring)."""

    def __init__(self, store: CheckpointStore, prefix: str = "") -> None:
        """Keep everything under ``prefix`` of ``store`` (empty or ending with ``/``)."""
        self.store = store
        self.checkpoints = Checkpoints(store, prefix + "checkpoints/", schema=SCHEMA)
        self.blobs = Blobs(store, prefix + "blobs/")
        self._base: int | None = None  # the sequence of the last full checkpoint written
        self._fulls: list[str] = []  # keys of the full checkpoints written or loaded

    # -- specs and results ---------------------------------------------------------------

    def write_spec(self, spec: PackedWorkflow, namespace: str | None = None) -> None:
        """Store an admitted workflow's spec (values first: the structure marks it whole).

        ``namespace``: where (default: the workflow's id; a schedule's template has none).
        """
        structure, values = spec_codec.encode(spec)
        where = spec.id or "" if namespace is None else namespace
        self.blobs.put(where, _VALUES, values)
        self.blobs.put(where, _SPEC, structure)

    def read_spec(self, workflow_id: str) -> PackedWorkflow:
        """Return a stored spec (of a workflow, or under a `schedule_namespace`).

        Raises:
            ObjectMissingError: it was never stored (or was deleted).
            SpecCodecError: it is damaged or of a newer schema.
        """
        structure = self.blobs.get(workflow_id, _SPEC)
        values = self.blobs.get(workflow_id, _VALUES)
        return spec_codec.decode(structure, values, where=f"spec of workflow {workflow_id!r}")

    def write_results(self, workflow_id: str, segment: str, values: dict[str, Any]) -> int:
        """Store results of a workflow's tasks, ``{task: value}``, as one segment.

        Returns:
            The bytes stored (tenants' ``max_result_bytes`` quotas count them).
        """
        data = cloudpickle.dumps(values)
        self.blobs.put(workflow_id, _RESULTS + segment, data)
        return len(data)

    def read_results(self, workflow_id: str, segment: str) -> dict[str, Any]:
        """Return a stored segment of results. Raises `ObjectMissingError` when absent."""
        values: dict[str, Any] = cloudpickle.loads(self.blobs.get(workflow_id, _RESULTS + segment))
        return values

    def drop_workflow(self, workflow_id: str) -> int:
        """Delete a released workflow's spec and results; return how many objects."""
        return self.blobs.delete_namespace(workflow_id)

    # -- checkpoints ---------------------------------------------------------------------

    def save(
        self,
        *,
        epoch: int,
        full: bool,
        workflows: dict[str, dict[str, Any]],
        results: dict[str, dict[str, str]],
        released: list[str],
        schedules: dict[str, dict[str, Any]] | None = None,
    ) -> CheckpointId:
        """Write a full or delta checkpoint (a delta needs a full one written before).

        ``schedules``: every schedule's entry, when they changed (always in a full one).

        Raises:
            StaleWriterError: a newer epoch wrote since (this writer must stop).
            CheckpointError: another writer is active.
        """
        if not full and self._base is None:
            raise CheckpointError("a delta checkpoint needs a full one first")
        payload = {
            "kind": "full" if full else "delta",
            "base": None if full else self._base,
            "workflows": workflows,
            "results": results,
            "released": released,
        }
        if schedules is not None:
            payload["schedules"] = schedules
        data = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
        saved = self.checkpoints.save(data, epoch=epoch)
        if full:
            self._base = saved.sequence
            self._fulls.append(saved.key)
        return saved

    def load(self) -> SavedState | None:
        """Return the state of the newest usable chain, or None when nothing was saved.

        Raises:
            NewerSchemaError: the newest checkpoint is of a newer version than this code.
            CheckpointError: there are checkpoints, but no full one loads (each named).
        """
        keys = self.checkpoints.keys()
        if not keys:
            return None
        tail: list[tuple[str, Checkpoint | None, dict[str, Any] | None, str]] = []
        for key in reversed(keys):
            checkpoint, payload, problem = self._read(key)
            tail.append((key, checkpoint, payload, problem))
            if payload is not None and payload["kind"] == "full":
                break
        else:
            problems = "; ".join(problem for *_, problem in tail if problem)
            raise CheckpointError(f"no full checkpoint loads: {problems}")
        chain = tail[::-1]  # the full checkpoint first
        full_key, full, full_payload, _ = chain[0]
        assert full is not None and full_payload is not None  # the loop stopped at it
        base = full.id.sequence
        state = _apply(None, full, full_payload)
        for index, (key, checkpoint, payload, problem) in enumerate(chain[1:], start=1):
            if checkpoint is None or payload is None:
                reason = problem
            elif payload.get("base") != base:
                reason = f"checkpoint {key!r} belongs to another chain"
            else:
                state = _apply(state, checkpoint, payload)
                continue
            state.skipped.append(reason)
            later = chain[index + 1 :]
            state.skipped.extend(f"{k!r}: after a skipped checkpoint" for k, *_ in later)
            break
        # A new writer's epoch must pass every epoch written, skipped checkpoints' too.
        epochs = [checkpoint.epoch for _, checkpoint, *_ in tail if checkpoint is not None]
        state.newest_epoch = max([*epochs, self.checkpoints.pointer_epoch() or 0])
        self._base, self._fulls = base, [full_key]
        return state

    def _read(self, key: str) -> tuple[Checkpoint | None, dict[str, Any] | None, str]:
        try:
            checkpoint = self.checkpoints.load(key)
        except (CorruptCheckpointError, ObjectMissingError) as exc:
            return None, None, str(exc)
        try:
            payload = json.loads(checkpoint.payload)
        except ValueError as exc:
            return None, None, f"checkpoint {key!r} holds no JSON: {exc}"
        if not isinstance(payload, dict) or payload.get("kind") not in ("full", "delta"):
            return None, None, f"checkpoint {key!r} holds no journal payload"
        return checkpoint, payload, ""

    def gc(self, keep_full: int) -> list[str]:
        """Delete checkpoints older than the ``keep_full``-th newest full one; return them.

        Only full checkpoints this journal wrote or loaded count (no object is read).
        """
        if keep_full < 1:
            raise ValueError(f"keep_full must be at least 1, got {keep_full}")
        if len(self._fulls) <= keep_full:
            return []
        oldest_kept = self._fulls[-keep_full]
        del self._fulls[:-keep_full]
        doomed = [key for key in self.checkpoints.keys() if key < oldest_kept]  # noqa: SIM118
        for key in doomed:
            self.store.delete(key)
        return doomed


def _apply(state: SavedState | None, checkpoint: Checkpoint, payload: dict[str, Any]) -> SavedState:
    """Return ``state`` with one more checkpoint of its chain applied (a full one starts it)."""
    if state is None or payload["kind"] == "full":
        state = SavedState(checkpoint.epoch, checkpoint.id.sequence)
    state.epoch, state.sequence = checkpoint.epoch, checkpoint.id.sequence
    for workflow_id, entry in payload["workflows"].items():
        older = state.workflows.get(workflow_id)
        state.workflows[workflow_id] = entry if older is None else merge(older, entry)
    for workflow_id, index in payload["results"].items():
        state.results.setdefault(workflow_id, {}).update(index)
    for workflow_id in payload["released"]:
        state.workflows.pop(workflow_id, None)
        state.results.pop(workflow_id, None)
    if "schedules" in payload:
        state.schedules = payload["schedules"]
    return state


def schedule_namespace(name: str) -> str:
    """Return where a schedule's workflow template is stored (apart from workflows)."""
    return f"schedule/{name}"  # "/" is in no workflow id: no clash
