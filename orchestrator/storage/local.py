"""`LocalDirectoryStore`: keys as files under a root directory (the default store).

Writes are atomic and durable: the bytes go to a temporary file in the same directory,
which is flushed and fsynced, then renamed over the key's file (atomic on POSIX), and the
directory is fsynced so the rename survives a crash of the machine. A reader therefore
sees the old file or the new one, never a part; a writer killed midway leaves at most a
temporary file, which listing ignores and a later write of the same key cleans up.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from orchestrator.storage.base import CheckpointStore, ObjectMissingError, StorageError, check_key

_TEMP_PREFIX = ".tmp-"


class LocalDirectoryStore(CheckpointStore):
    """Bytes by key under ``root`` (made if missing)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Use (and create) the directory ``root``."""
        self.root = Path(root).expanduser().resolve()
        self.uri = self.root.as_uri()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the storage directory {self.root}: {exc}") from exc

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` to ``key``'s file atomically (temporary file, fsync, rename)."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            _fsync_directory(path.parent)
        except OSError as exc:
            raise StorageError(f"cannot write {key!r} in {self.root}: {exc}") from exc

    def get(self, key: str) -> bytes:
        """Return the bytes of ``key``'s file."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ObjectMissingError(f"no object {key!r} in {self.uri}") from None
        except OSError as exc:
            raise StorageError(f"cannot read {key!r} in {self.root}: {exc}") from exc

    def list(self, prefix: str = "") -> list[str]:
        """Return the keys starting with ``prefix``, sorted (temporary files left out).

        Only the directory the prefix leads to is walked, not the whole store (which
        holds every result segment and other supervisors' objects too).
        """
        directory, _, _ = prefix.rpartition("/")
        base = self.root / directory if directory else self.root
        if not base.is_dir():
            return []
        keys = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith(_TEMP_PREFIX):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Delete ``key``'s file if present."""
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r} in {self.root}: {exc}") from exc


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
