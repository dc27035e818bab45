"""`MemoryStore`: the in-memory twin of the durable stores, for tests and notebooks.

``memory://name`` opens the store of that name in this process (the same object each
time), so two parts of a test share it as they would share a directory or a bucket.
"""

from __future__ import annotations

import threading
from typing import ClassVar

from orchestrator.storage.base import CheckpointStore, ObjectMissingError, check_key


class MemoryStore(CheckpointStore):
    """Bytes by key in a dict (thread-safe). Nothing survives the process."""

    _named: ClassVar[dict[str, MemoryStore]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str = "default") -> None:
        """Make an empty store (use `named` to share one by name)."""
        self.uri = f"memory://{name}"
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def named(cls, name: str) -> MemoryStore:
        """Return this process's store called ``name``, making it on first use."""
        with cls._registry_lock:
            store = cls._named.get(name)
            if store is None:
                store = cls._named[name] = cls(name)
            return store

    def put(self, key: str, data: bytes) -> None:
        """Store a copy of ``data`` under ``key``."""
        check_key(key)
        with self._lock:
            self._objects[key] = bytes(data)

    def get(self, key: str) -> bytes:
        """Return the bytes under ``key``."""
        check_key(key)
        with self._lock:
            try:
                return self._objects[key]
            except KeyError:
                raise ObjectMissingError(f"no object {key!r} in {self.uri}") from None

    def list(self, prefix: str = "") -> list[str]:
        """Return the keys starting with ``prefix``, sorted."""
        with self._lock:
            return sorted(key for key in self._objects if key.startswith(prefix))

    def delete(self, key: str) -> None:
        """Delete ``key`` if present."""
        check_key(key)
        with self._lock:
            self._objects.pop(key, None)
