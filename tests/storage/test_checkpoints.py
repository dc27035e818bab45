"""Checkpoints on every backend: sequence, LATEST last, fallback, versions, fencing, gc."""

from __future__ import annotations

import json

import pytest

from orchestrator.storage import (
    Checkpoints,
    CheckpointStore,
    CorruptCheckpointError,
    NewerSchemaError,
    ObjectMissingError,
    StaleWriterError,
)
from orchestrator.storage.checkpoints import encode


def test_saves_are_numbered_and_latest_is_the_newest(store: CheckpointStore) -> None:
    checkpoints = Checkpoints(store)
    assert checkpoints.latest().checkpoint is None
    first = checkpoints.save(b'{"n": 1}', epoch=1)
    second = checkpoints.save(b'{"n": 2}', epoch=1)
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.key == "checkpoints/ckpt-000000000001"
    latest = checkpoints.latest()
    assert latest.checkpoint is not None and latest.skipped == ()
    assert (latest.checkpoint.id, latest.checkpoint.payload) == (second, b'{"n": 2}')
    assert latest.checkpoint.epoch == 1 and latest.checkpoint.schema == 1
    pointer = json.loads(store.get("checkpoints/LATEST"))
    assert pointer == {"sequence": 2, "key": second.key, "epoch": 1}


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(store: CheckpointStore) -> None:
    checkpoints = Checkpoints(store)
    checkpoints.save(b"good", epoch=1)
    bad = checkpoints.save(b"will be damaged", epoch=1)
    store.put(bad.key, store.get(bad.key)[:-3])  # truncated
    with pytest.raises(CorruptCheckpointError, match="ckpt-000000000002"):
        checkpoints.load(bad.key)
    latest = checkpoints.latest()
    assert latest.checkpoint is not None and latest.checkpoint.payload == b"good"
    assert len(latest.skipped) == 1 and "ckpt-000000000002" in latest.skipped[0]


def test_a_checkpoint_of_a_newer_schema_or_format_is_refused_naming_both(
    store: CheckpointStore,
) -> None:
    newer = Checkpoints(store, schema=3)
    newer.save(b"from the future", epoch=1)
    older = Checkpoints(store, schema=2)
    with pytest.raises(NewerSchemaError, match="schema 3; this version reads schemas up to 2"):
        older.latest()
    data = encode(b"x", sequence=9, epoch=1, schema=1, format_version=7)
    store.put("checkpoints/ckpt-000000000009", data)
    with pytest.raises(NewerSchemaError, match="format 7; this version reads format 1"):
        older.load("checkpoints/ckpt-000000000009")


def test_a_stale_writer_is_fenced_off(store: CheckpointStore) -> None:
    checkpoints = Checkpoints(store)
    checkpoints.save(b"epoch 2", epoch=2)
    with pytest.raises(StaleWriterError, match="epoch 1 is stale"):
        checkpoints.save(b"old incarnation", epoch=1)
    checkpoints.save(b"epoch 3", epoch=3)
    latest = checkpoints.latest().checkpoint
    assert latest is not None and (latest.payload, latest.epoch) == (b"epoch 3", 3)


def test_sequence_numbers_continue_across_instances(store: CheckpointStore) -> None:
    Checkpoints(store).save(b"1", epoch=1)
    again = Checkpoints(store).save(b"2", epoch=1)  # e.g. after a restart
    assert again.sequence == 2


def test_gc_keeps_the_last_n(store: CheckpointStore) -> None:
    checkpoints = Checkpoints(store)
    ids = [checkpoints.save(str(n).encode(), epoch=1) for n in range(5)]
    deleted = checkpoints.gc(keep_last=2)
    assert deleted == [i.key for i in ids[:3]]
    assert checkpoints.keys() == [i.key for i in ids[3:]]
    with pytest.raises(ObjectMissingError):
        checkpoints.load(ids[0].key)
    with pytest.raises(ValueError, match="keep_last"):
        checkpoints.gc(keep_last=0)
