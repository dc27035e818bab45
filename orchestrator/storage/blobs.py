"""`Blobs`: named byte strings (task results, arguments) beside the checkpoints.

Names and namespaces are any strings (task ids, workflow ids): each is encoded into a
safe key segment (URL-safe base64), so a blob key is ``<prefix><namespace>/<name>``.
"""

from __future__ import annotations

import base64

from orchestrator.storage.base import CheckpointStore


def encode_segment(text: str) -> str:
    """Return ``text`` as a key segment (URL-safe base64, no padding, prefixed with ``b``)."""
    return "b" + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_segment(segment: str) -> str:
    """Invert `encode_segment`."""
    body = segment[1:]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


class Blobs:
    """Byte strings by (namespace, name) under ``prefix`` of ``store``."""

    def __init__(self, store: CheckpointStore, prefix: str = "blobs/") -> None:
        """Keep blobs under ``prefix`` (empty or ending with ``/``)."""
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"blob prefix {prefix!r} must be empty or end with '/'")
        self.store = store
        self.prefix = prefix

    def _key(self, namespace: str, name: str) -> str:
        return f"{self.prefix}{encode_segment(namespace)}/{encode_segment(name)}"

    def put(self, namespace: str, name: str, data: bytes) -> None:
        """Store ``data`` as blob ``name`` of ``namespace``."""
        self.store.put(self._key(namespace, name), data)

    def get(self, namespace: str, name: str) -> bytes:
        """Return a blob. Raises `ObjectMissingError` when absent."""
        return self.store.get(self._key(namespace, name))

    def names(self, namespace: str) -> list[str]:
        """Return the names of the blobs of ``namespace``, sorted by key."""
        start = f"{self.prefix}{encode_segment(namespace)}/"
        return [decode_segment(key[len(start) :]) for key in self.store.list(start)]

    def delete(self, namespace: str, name: str) -> None:
        """Delete a blob (nothing if absent)."""
        self.store.delete(self._key(namespace, name))

    def delete_namespace(self, namespace: str) -> int:
        """Delete every blob of ``namespace``; return how many."""
        return self.store.delete_prefix(f"{self.prefix}{encode_segment(namespace)}/")
