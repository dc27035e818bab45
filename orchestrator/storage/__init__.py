"""Durable storage for the orchestrator: bytes by key, and checkpoints built on them.

`CheckpointStore` is the small surface every backend implements (put, get, list, delete
of bytes by key): `MemoryStore` (the in-memory twin), `LocalDirectoryStore` (the
default) and `S3Store` (any S3-compatible object storage). `open_store` builds one from a
URI (``memory://``, ``file://``, ``s3://``). `Checkpoints` keeps immutable, checksummed,
epoch-fenced snapshots in any store; `Blobs` keeps named byte strings beside them.
Storage only moves bytes: what a checkpoint means is the scheduler's business.
"""

from orchestrator.storage.base import CheckpointStore, ObjectMissingError, StorageError
from orchestrator.storage.blobs import Blobs
from orchestrator.storage.checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointId,
    Checkpoints,
    CorruptCheckpointError,
    Latest,
    NewerSchemaError,
    StaleWriterError,
)
from orchestrator.storage.local import LocalDirectoryStore
from orchestrator.storage.memory import MemoryStore
from orchestrator.storage.uri import open_store

__all__ = [
    "Blobs",
    "Checkpoint",
    "CheckpointError",
    "CheckpointId",
    "CheckpointStore",
    "Checkpoints",
    "CorruptCheckpointError",
    "Latest",
    "LocalDirectoryStore",
    "MemoryStore",
    "NewerSchemaError",
    "ObjectMissingError",
    "StaleWriterError",
    "StorageError",
    "open_store",
]
