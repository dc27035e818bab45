"""The journal: specs round-trip, full and delta checkpoints chain, damage falls back, gc."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import pytest

from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.specs import RetryPolicy
from orchestrator.durable import Journal, SpecCodecError
from orchestrator.durable.spec_codec import import_path_of
from orchestrator.storage import CheckpointError, CheckpointStore, MemoryStore, NewerSchemaError
from orchestrator.testing import SpecBuilder


def triple(x: int) -> int:
    """A module-level function: stored by its import path."""
    return 3 * x


def _spec() -> PackedWorkflow:
    spec = SpecBuilder()
    offset = 7
    retry = RetryPolicy(max_attempts=3, non_retryable=("KeyError",))
    workflow = spec.workflow(
        spec.task("a", function=triple, args=(2,), retry=retry, priority="high"),
        spec.task(
            "b",
            function=lambda value: value + offset,  # a closure: stored by value
            args=({"nested": [1, 2]},),
            kwargs={"k": b"bytes"},
            depends_on=["a"],
            deadline=spec.epoch + timedelta(minutes=5),
            timeout_s=3.0,
            heartbeat_timeout_s=2.0,
            compensate="math:floor",
        ),
        spec.task("c", agent="worker", depends_on=["b"], estimated_duration_s=1.5),
    )
    return PackedWorkflow.pack(workflow)


def test_import_paths_are_used_only_when_they_lead_back_to_the_function() -> None:
    assert import_path_of(triple) == f"{__name__}:triple"
    assert import_path_of(math.floor) == "math:floor"
    assert import_path_of("pkg.mod:fn") == "pkg.mod:fn"
    assert import_path_of(lambda: 1) is None

    def local() -> None: ...

    assert import_path_of(local) is None


def test_a_spec_round_trips_with_functions_by_path_or_by_value(store: CheckpointStore) -> None:
    journal = Journal(store, "sup/")
    spec = _spec()
    journal.write_spec(spec)
    again = journal.read_spec("wf")
    assert (again.name, again.id, again.agents, again.retry_budget) == (
        spec.name,
        spec.id,
        spec.agents,
        spec.retry_budget,
    )
    a, b, c = again.rows
    assert a.function == f"{__name__}:triple"  # by path: imported where it runs
    assert b.function(10) == 17  # by value: the closure itself
    for before, after in zip(spec.rows, again.rows, strict=True):
        assert after._replace(function=None) == before._replace(function=None)
    assert b.extras is not None and b.extras.compensate == "math:floor"
    assert c.agent == "worker" and c.estimated_duration_s == 1.5
    structure = json.loads(store.get(journal.blobs._key("wf", "spec.json")))
    assert len(structure["retries"]) == 2  # shared policies stored once each


def test_a_damaged_or_newer_spec_is_refused_naming_the_workflow(store: CheckpointStore) -> None:
    journal = Journal(store)
    journal.write_spec(_spec())
    key = journal.blobs._key("wf", "spec.json")
    good = store.get(key)
    store.put(key, good[: len(good) // 2])
    with pytest.raises(SpecCodecError, match="spec of workflow 'wf': cannot be read"):
        journal.read_spec("wf")
    newer = json.loads(good)
    newer["schema"] = 99
    store.put(key, json.dumps(newer).encode())
    with pytest.raises(SpecCodecError, match="schema 99; this version reads schemas up to 1"):
        journal.read_spec("wf")


def _entry(tasks: dict[str, Any], state: str = "running") -> dict[str, Any]:
    return {"id": "wf", "name": "wf", "submitted_s": 1.0, "state": state, "tasks": tasks}


def _task(state: str) -> list[Any]:
    return [state, 1, 0, 0, 0, None, None, 0.0, None, None, None, None, None, None, False]


def test_deltas_apply_over_the_full_checkpoint_in_order(store: CheckpointStore) -> None:
    journal = Journal(store)
    assert journal.load() is None
    journal.save(
        epoch=1,
        full=True,
        workflows={"wf": _entry({"a": _task("running")}), "old": _entry({})},
        results={},
        released=[],
    )
    journal.save(
        epoch=1,
        full=False,
        workflows={"wf": _entry({"a": _task("succeeded")})},
        results={"wf": {"a": "1-1"}},
        released=[],
    )
    journal.save(
        epoch=1,
        full=False,
        workflows={"wf": _entry({"b": _task("running")})},
        results={},
        released=["old"],
    )
    state = Journal(store).load()
    assert state is not None
    assert (state.epoch, state.sequence, state.newest_epoch, state.skipped) == (1, 3, 1, [])
    assert state.workflows["wf"]["tasks"] == {"a": _task("succeeded"), "b": _task("running")}
    assert "old" not in state.workflows
    assert state.results == {"wf": {"a": "1-1"}}


def test_a_damaged_delta_stops_the_chain_there_and_is_named(store: CheckpointStore) -> None:
    journal = Journal(store)
    journal.save(epoch=1, full=True, workflows={"wf": _entry({})}, results={}, released=[])
    ids = [
        journal.save(
            epoch=1,
            full=False,
            workflows={"wf": _entry({f"t{n}": _task("succeeded")})},
            results={},
            released=[],
        )
        for n in range(3)
    ]
    data = store.get(ids[1].key)
    store.put(ids[1].key, data[:-3])
    state = Journal(store).load()
    assert state is not None
    assert set(state.workflows["wf"]["tasks"]) == {"t0"}
    assert ids[1].key in state.skipped[0] and ids[2].key in state.skipped[1]


def test_a_damaged_full_checkpoint_falls_back_to_the_previous_chain(
    store: CheckpointStore,
) -> None:
    journal = Journal(store)
    journal.save(epoch=1, full=True, workflows={"wf": _entry({})}, results={}, released=[])
    one = {"a": _task("succeeded")}
    journal.save(epoch=1, full=False, workflows={"wf": _entry(one)}, results={}, released=[])
    later = {"wf": _entry({"z": _task("failed")})}
    newest = journal.save(epoch=2, full=True, workflows=later, results={}, released=[])
    store.put(newest.key, b"ORCKPT\nnot a header")
    state = Journal(store).load()
    assert state is not None
    assert state.workflows["wf"]["tasks"] == one
    assert state.newest_epoch == 2  # the damaged checkpoint's writer still fences
    assert newest.key in state.skipped[0]


def test_no_full_checkpoint_that_loads_is_an_error_not_an_empty_start(
    store: CheckpointStore,
) -> None:
    journal = Journal(store)
    only = journal.save(epoch=1, full=True, workflows={}, results={}, released=[])
    store.put(only.key, b"garbage")
    with pytest.raises(CheckpointError, match="no full checkpoint loads"):
        Journal(store).load()


def test_a_newer_schema_is_refused() -> None:
    store = MemoryStore("journal-newer")
    Journal(store).save(epoch=1, full=True, workflows={}, results={}, released=[])
    reader = Journal(store)
    reader.checkpoints.schema = 0  # an older reader
    with pytest.raises(NewerSchemaError):
        reader.load()


def test_a_delta_needs_a_full_checkpoint_first(store: CheckpointStore) -> None:
    with pytest.raises(CheckpointError, match="needs a full one first"):
        Journal(store).save(epoch=1, full=False, workflows={}, results={}, released=[])


def test_gc_keeps_the_newest_full_checkpoints_and_their_deltas(store: CheckpointStore) -> None:
    journal = Journal(store)
    written = []
    for _ in range(3):
        written.append(journal.save(epoch=1, full=True, workflows={}, results={}, released=[]))
        written.append(journal.save(epoch=1, full=False, workflows={}, results={}, released=[]))
    deleted = journal.gc(keep_full=2)
    assert deleted == [w.key for w in written[:2]]
    assert journal.checkpoints.keys() == [w.key for w in written[2:]]
    assert journal.gc(keep_full=2) == []
    with pytest.raises(ValueError, match="keep_full"):
        journal.gc(keep_full=0)


def test_results_round_trip_and_go_with_their_workflow(store: CheckpointStore) -> None:
    journal = Journal(store)
    journal.write_spec(_spec())
    journal.write_results("wf", "1-1", {"a": 6, "b": {"x": [1.5]}})
    assert journal.read_results("wf", "1-1") == {"a": 6, "b": {"x": [1.5]}}
    assert journal.drop_workflow("wf") == 3
    with pytest.raises(KeyError):
        journal.read_results("wf", "1-1")
