"""`Checkpoints`: immutable, checksummed, fenced snapshots in any `CheckpointStore`.

Each checkpoint is one object, ``<prefix>ckpt-<sequence>`` (zero-padded, so listing
sorts), never rewritten: a magic line, a JSON header, then the payload::

    ORCKPT
    {"format": 1, "schema": 1, "sequence": 42, "epoch": 3, "length": 1234, "sha256": "..."}
    <payload bytes>

The checksum covers the payload and the header's numbers, so a truncated object or a
flipped bit anywhere is refused, naming the object, and `latest` falls back to the
previous good checkpoint (saying which it skipped). A checkpoint of a newer format or
payload schema than this code reads is refused with both versions named: silently going
back to an older one would lose work. After the object, a ``LATEST`` pointer is written;
loading does not trust it blindly: the newest complete checkpoint wins, so a writer that
died between the two writes loses nothing it had written. Fencing: a save whose epoch is
older than the newest checkpoint's is refused, so a stale incarnation of the supervisor
can no longer write. The orchestrator's payloads are JSON (never pickle).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from orchestrator.storage.base import CheckpointStore, ObjectMissingError

MAGIC = b"ORCKPT"
#: Version of the envelope above; payload schemas are versioned by their writers.
FORMAT_VERSION = 1
_NAME = "ckpt-"
_LATEST = "LATEST"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message names the object and the reason."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint is truncated or damaged (bad magic, header, length or checksum)."""


class NewerSchemaError(CheckpointError):
    """A checkpoint was written by a newer version than this code reads."""


class StaleWriterError(CheckpointError):
    """A writer's epoch is older than the newest checkpoint's: it was superseded."""


@dataclass(frozen=True, slots=True)
class CheckpointId:
    """Where a saved checkpoint is: its sequence number and its object's key."""

    sequence: int
    key: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A loaded checkpoint."""

    id: CheckpointId
    epoch: int
    schema: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Latest:
    """What `Checkpoints.latest` found: the newest good checkpoint, and what it skipped.

    Attributes:
        checkpoint: The newest checkpoint that loads, or None when there is none.
        skipped: The reason each newer, damaged checkpoint was skipped (newest first).
    """

    checkpoint: Checkpoint | None
    skipped: tuple[str, ...] = ()


class Checkpoints:
    """The checkpoints under ``prefix`` of ``store`` (see the module docstring).

    Args:
        store: Where the objects live.
        prefix: Key prefix, e.g. ``checkpoints/`` (empty or ending with ``/``).
        schema: The payload schema version this code writes and the newest it reads.
    """

    def __init__(self, store: CheckpointStore, prefix: str = "checkpoints/", schema: int = 1):
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"checkpoint prefix {prefix!r} must be empty or end with '/'")
        self.store = store
        self.prefix = prefix
        self.schema = schema

    def keys(self) -> list[str]:
        """Return every checkpoint object's key, oldest first."""
        start = self.prefix + _NAME
        return [key for key in self.store.list(start) if key[len(start) :].isdigit()]

    def save(self, payload: bytes, *, epoch: int) -> CheckpointId:
        """Write a new checkpoint of ``payload`` by a writer of ``epoch``; return its id.

        Cheap when saves are frequent: the epoch and the last sequence come from the small
        ``LATEST`` pointer; the checkpoints are listed only when it is missing, damaged or
        behind (a writer that died between its two writes).

        Raises:
            StaleWriterError: a checkpoint of a newer epoch exists.
            CheckpointError: the object to write exists already (a concurrent writer).
        """
        pointer = self._pointer()
        if pointer is not None:
            newest_epoch, sequence = pointer
            self._check_epoch(epoch, newest_epoch, f"{self.prefix}{_LATEST}")
            key = self._key(sequence + 1)
            if self.store.exists(key):
                pointer = None  # the pointer is behind: look at the checkpoints themselves
        if pointer is None:
            keys = self.keys()
            newest = self._newest(keys)
            if newest is not None:
                self._check_epoch(epoch, newest.epoch, newest.id.key)
            key = self._key(self._sequence_of(keys[-1]) + 1 if keys else 1)
            if self.store.exists(key):
                raise CheckpointError(
                    f"checkpoint {key!r} exists already: another writer is active"
                )
        sequence = self._sequence_of(key)
        self.store.put(key, encode(payload, sequence=sequence, epoch=epoch, schema=self.schema))
        pointer_data = {"sequence": sequence, "key": key, "epoch": epoch}
        self.store.put(self.prefix + _LATEST, json.dumps(pointer_data).encode())
        return CheckpointId(sequence, key)

    def pointer_epoch(self) -> int | None:
        """Return the epoch the ``LATEST`` pointer names, or None if it is missing or damaged."""
        pointer = self._pointer()
        return pointer[0] if pointer is not None else None

    def _pointer(self) -> tuple[int, int] | None:
        """Return (epoch, sequence) from the ``LATEST`` pointer, or None if unusable."""
        try:
            pointer = json.loads(self.store.get(self.prefix + _LATEST))
            return int(pointer["epoch"]), int(pointer["sequence"])
        except (ObjectMissingError, ValueError, KeyError, TypeError):
            return None

    @staticmethod
    def _check_epoch(epoch: int, newest_epoch: int, where: str) -> None:
        if newest_epoch > epoch:
            raise StaleWriterError(
                f"writer of epoch {epoch} is stale: {where!r} was written by epoch {newest_epoch}"
            )

    def _key(self, sequence: int) -> str:
        return f"{self.prefix}{_NAME}{sequence:012d}"

    def load(self, key: str) -> Checkpoint:
        """Load the checkpoint stored under ``key``.

        Raises:
            ObjectMissingError: no such object.
            CorruptCheckpointError: truncated or damaged.
            NewerSchemaError: written by a newer version.
        """
        return decode(key, self.store.get(key), supported_schema=self.schema)

    def latest(self) -> Latest:
        """Return the newest checkpoint that loads, skipping damaged ones (said in ``skipped``).

        Raises:
            NewerSchemaError: the newest complete checkpoint is of a newer version.
        """
        skipped: list[str] = []
        for key in reversed(self.keys()):
            try:
                return Latest(self.load(key), tuple(skipped))
            except CorruptCheckpointError as exc:
                skipped.append(str(exc))
            except ObjectMissingError as exc:  # deleted meanwhile (a concurrent gc)
                skipped.append(str(exc))
        return Latest(None, tuple(skipped))

    def gc(self, keep_last: int) -> list[str]:
        """Delete all but the ``keep_last`` newest checkpoints; return the keys deleted."""
        if keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {keep_last}")
        doomed = self.keys()[:-keep_last]
        for key in doomed:
            self.store.delete(key)
        return doomed

    def _newest(self, keys: list[str]) -> Checkpoint | None:
        for key in reversed(keys):
            try:
                return self.load(key)
            except (CorruptCheckpointError, ObjectMissingError):
                continue
        return None

    def _sequence_of(self, key: str) -> int:
        return int(key[len(self.prefix) + len(_NAME) :])


def encode(
    payload: bytes,
    *,
    sequence: int,
    epoch: int,
    schema: int,
    format_version: int = FORMAT_VERSION,
) -> bytes:
    """Return the bytes of a checkpoint object (see the module docstring)."""
    header = {
        "format": format_version,
        "schema": schema,
        "sequence": sequence,
        "epoch": epoch,
        "length": len(payload),
        "sha256": _digest(format_version, schema, sequence, epoch, payload),
    }
    return MAGIC + b"\n" + json.dumps(header, sort_keys=True).encode() + b"\n" + payload


def decode(key: str, data: bytes, *, supported_schema: int) -> Checkpoint:
    """Parse and verify a checkpoint object read from ``key``.

    Raises:
        CorruptCheckpointError: truncated or damaged, naming ``key`` and what is wrong.
        NewerSchemaError: of a newer format or schema than supported, naming both.
    """
    magic, _, rest = data.partition(b"\n")
    if magic != MAGIC:
        raise CorruptCheckpointError(f"checkpoint {key!r} is damaged: bad magic {magic[:8]!r}")
    line, newline, payload = rest.partition(b"\n")
    if not newline:
        raise CorruptCheckpointError(f"checkpoint {key!r} is truncated: its header is incomplete")
    try:
        header = json.loads(line)
        fmt, schema = int(header["format"]), int(header["schema"])
        sequence, epoch = int(header["sequence"]), int(header["epoch"])
        length, digest = int(header["length"]), str(header["sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptCheckpointError(f"checkpoint {key!r} is damaged: bad header ({exc})") from None
    if len(payload) != length:
        raise CorruptCheckpointError(
            f"checkpoint {key!r} is truncated or damaged: {len(payload)} payload bytes,"
            f" {length} expected"
        )
    # The checksum first: a flipped bit in a version number is damage, not a new version
    # (every format keeps this checksum, so a real newer one passes it).
    if _digest(fmt, schema, sequence, epoch, payload) != digest:
        raise CorruptCheckpointError(f"checkpoint {key!r} is damaged: checksum mismatch")
    if fmt > FORMAT_VERSION:
        raise NewerSchemaError(
            f"checkpoint {key!r} has format {fmt}; this version reads format {FORMAT_VERSION}"
        )
    if schema > supported_schema:
        raise NewerSchemaError(
            f"checkpoint {key!r} has schema {schema}; this version reads schemas up to"
            f" {supported_schema}"
        )
    return Checkpoint(CheckpointId(sequence, key), epoch, schema, payload)


def _digest(fmt: int, schema: int, sequence: int, epoch: int, payload: bytes) -> str:
    digest = hashlib.sha256(f"{fmt}:{schema}:{sequence}:{epoch}:".encode())
    digest.update(payload)
    return digest.hexdigest()
