"""A real checkpoint damaged in every way is refused, naming it, and the previous one is
used; a writer killed at random moments never leaves the loader behind what it saw
acknowledged."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.storage import (
    Checkpoints,
    CorruptCheckpointError,
    LocalDirectoryStore,
    MemoryStore,
)

PAYLOAD = b'{"workflows": {"wf": {"tasks": ["a", "b", "c"], "state": "running"}}}' * 8


def _two_checkpoints() -> tuple[MemoryStore, Checkpoints, str, bytes]:
    store = MemoryStore("damage")
    checkpoints = Checkpoints(store)
    checkpoints.save(b"previous good one", epoch=1)
    newest = checkpoints.save(PAYLOAD, epoch=1)
    return store, checkpoints, newest.key, store.get(newest.key)


def test_every_truncation_is_refused_and_the_previous_checkpoint_used() -> None:
    store, checkpoints, key, whole = _two_checkpoints()
    for length in range(len(whole)):
        store.put(key, whole[:length])
        with pytest.raises(CorruptCheckpointError, match=key):
            checkpoints.load(key)
        latest = checkpoints.latest()
        assert latest.checkpoint is not None
        assert latest.checkpoint.payload == b"previous good one", length
        assert latest.skipped and key in latest.skipped[0]


def test_every_bit_flip_is_refused_and_the_previous_checkpoint_used() -> None:
    store, checkpoints, key, whole = _two_checkpoints()
    for position in range(len(whole)):
        for bit in range(8):
            damaged = bytearray(whole)
            damaged[position] ^= 1 << bit
            store.put(key, bytes(damaged))
            with pytest.raises(CorruptCheckpointError, match=key):
                checkpoints.load(key)
            latest = checkpoints.latest()
            assert latest.checkpoint is not None, (position, bit)
            assert latest.checkpoint.payload == b"previous good one"


_WRITER = """
import sys
from orchestrator.storage import Checkpoints, LocalDirectoryStore
checkpoints = Checkpoints(LocalDirectoryStore(sys.argv[1]))
n = 0
while True:
    n += 1
    payload = (b"checkpoint %d " % n) * 20_000  # about 300 KB: writes take a while
    ident = checkpoints.save(payload, epoch=1)
    print(ident.sequence, flush=True)
"""


def test_a_writer_killed_midway_never_leaves_the_loader_behind(tmp_path: Path) -> None:
    # Given a writer process saving checkpoints in a loop, printing each acknowledged one
    rng = random.Random(5)
    root = tmp_path / "store"
    acknowledged = 0
    for _ in range(30):
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(root)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert writer.stdout is not None
        first = writer.stdout.readline()  # it is up and has saved once
        # When it is killed (SIGKILL) at a random moment after that
        time.sleep(rng.uniform(0.0, 0.2))
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
        printed = [int(line) for line in (first + writer.stdout.read()).split()]
        acknowledged = max([acknowledged, *printed])
        # Then the loader returns a checkpoint at least as new as the last acknowledged
        latest = Checkpoints(LocalDirectoryStore(root)).latest()
        if acknowledged:
            assert latest.checkpoint is not None
            assert latest.checkpoint.id.sequence >= acknowledged
            payload = latest.checkpoint.payload  # whole: one unit repeated, never torn
            unit = payload[: payload.index(b" ", len(b"checkpoint ")) + 1]
            assert payload == unit * 20_000
    assert acknowledged >= 30  # every writer saved at least once before being killed
