"""`CheckpointStore`: the small surface every storage backend implements: bytes by key.

Keys are ``/``-separated paths of safe segments (letters, digits, ``-_.=``), e.g.
``checkpoints/ckpt-000000000042``: a local directory maps them to files, object storage
to object names. Everything durable is built on these four operations
(`orchestrator.storage.checkpoints`, `orchestrator.storage.blobs`); a backend only moves
bytes and knows nothing of what they mean.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod

_SEGMENT = re.compile(r"^[A-Za-z0-9_.=-]+$")


class StorageError(RuntimeError):
    """A storage backend failed (I/O, network, permissions); the message says where."""


class ObjectMissingError(KeyError):
    """No object is stored under the key (the message names it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "object missing"


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid key, else raise `ValueError` naming the problem."""
    if not key or key.startswith("/") or key.endswith("/"):
        raise ValueError(f"invalid storage key {key!r}: empty, or starts or ends with '/'")
    for segment in key.split("/"):
        if segment in {".", ".."} or not _SEGMENT.match(segment):
            raise ValueError(
                f"invalid storage key {key!r}: segment {segment!r} must be letters, digits"
                " or -_.= (and not . or ..)"
            )
    return key


class CheckpointStore(ABC):
    """Bytes by key.

    Implementations must make `put` atomic: a reader sees the whole new value or the old
    one (or nothing), never a part.
    """

    #: The URI the store was opened with (``memory://name``, ``file:///path``, ``s3://...``).
    uri: str

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what was there, atomically."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Return the bytes under ``key``. Raises `ObjectMissingError` naming the key."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Return the keys that start with ``prefix``, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key does nothing."""

    def exists(self, key: str) -> bool:
        """Return whether an object is stored under ``key``."""
        try:
            self.get(key)
        except ObjectMissingError:
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with ``prefix``; return how many."""
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)
