"""The conformance suite every `CheckpointStore` passes: memory, local directory, S3."""

from __future__ import annotations

import pytest

from orchestrator.storage import CheckpointStore, ObjectMissingError


def test_put_then_get_returns_the_same_bytes(store: CheckpointStore) -> None:
    store.put("a/b/c", b"\x00\x01payload\xff")
    assert store.get("a/b/c") == b"\x00\x01payload\xff"
    assert store.exists("a/b/c")


def test_a_missing_key_is_an_error_naming_it(store: CheckpointStore) -> None:
    with pytest.raises(ObjectMissingError, match="no object 'nope/x'"):
        store.get("nope/x")
    assert not store.exists("nope/x")
    assert isinstance(ObjectMissingError("k"), KeyError)


def test_put_replaces_the_whole_value(store: CheckpointStore) -> None:
    store.put("k", b"a long first value")
    store.put("k", b"short")
    assert store.get("k") == b"short"


def test_list_is_sorted_and_filtered_by_prefix(store: CheckpointStore) -> None:
    for key in ("ckpt/2", "ckpt/10", "ckpt/1", "blobs/x", "ckptx"):
        store.put(key, key.encode())
    assert store.list("ckpt/") == ["ckpt/1", "ckpt/10", "ckpt/2"]
    assert store.list("ckpt") == ["ckpt/1", "ckpt/10", "ckpt/2", "ckptx"]
    assert store.list() == ["blobs/x", "ckpt/1", "ckpt/10", "ckpt/2", "ckptx"]
    assert store.list("none/") == []


def test_delete_is_idempotent(store: CheckpointStore) -> None:
    store.put("gone", b"1")
    store.delete("gone")
    store.delete("gone")
    assert not store.exists("gone")
    assert store.list() == []


def test_delete_prefix(store: CheckpointStore) -> None:
    for key in ("w1/a", "w1/b", "w2/a"):
        store.put(key, b"")
    assert store.delete_prefix("w1/") == 2
    assert store.list() == ["w2/a"]


def test_empty_and_large_objects(store: CheckpointStore) -> None:
    big = bytes(range(256)) * (5 * 2**20 // 256)  # 5 MiB
    store.put("big", big)
    store.put("empty", b"")
    assert store.get("big") == big
    assert store.get("empty") == b""


@pytest.mark.parametrize(
    "key", ["", "/abs", "trailing/", "a//b", "a/../b", "./a", "spa ce", "ünïcode", "a\\b"]
)
def test_unsafe_keys_are_refused(store: CheckpointStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        store.put(key, b"x")
    assert store.list() == []


def test_keys_with_every_allowed_character(store: CheckpointStore) -> None:
    key = "A-Z_a.z=0/9-._="
    store.put(key, b"ok")
    assert store.get(key) == b"ok"
    assert store.list() == [key]
