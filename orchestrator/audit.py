"""Where the audit trail is written: beside the checkpoints, or a local JSON-lines file.

With checkpoint storage set, each record is an immutable object of its own,
``<scope>audit/<seq, 12 digits>``, next to the checkpoints it explains; otherwise records
are appended to a local file (``security.audit_path``), one JSON line each, under an
exclusive lock so that two writers never fork the chain. Either way a record links to the
one before it (`orchestrator.core.audit_chain`): ``orchestrator audit verify`` finds the
first broken link.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.core.audit_chain import (
    GENESIS_HASH,
    AuditRecord,
    Outcome,
    make_record,
    parse_line,
    verify_chain,
)
from orchestrator.storage import CheckpointStore

#: Folder of the audit objects inside a supervisor's scope.
AUDIT_FOLDER = "audit/"


class AuditTrail:
    """Append-only, hash-chained audit records in a store or a local file.

    Args:
        store: Checkpoint storage (records kept as objects under ``prefix``), or None.
        prefix: Key prefix in the store (``<scope>audit/``).
        path: The local file used when there is no store.
    """

    def __init__(
        self, *, store: CheckpointStore | None = None, prefix: str = "", path: str | Path = ""
    ) -> None:
        if store is None and not path:
            raise ValueError("an audit trail needs a store or a file path (security.audit_path)")
        self._store = store
        self._prefix = prefix
        self._path = Path(path).expanduser() if path else None
        self._last: tuple[int, str] | None = None  # store only: (seq, hash) of the last record

    @property
    def where(self) -> str:
        """Where the records are (a store URI and prefix, or a file path)."""
        if self._store is not None:
            return f"{self._store.uri} {self._prefix}"
        return str(self._path)

    def append(
        self,
        principal: str,
        action: str,
        outcome: Outcome,
        workflow_id: str | None = None,
        detail: dict[str, str] | None = None,
    ) -> AuditRecord:
        """Write the next record and return it."""
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        fields = {
            "time": now,
            "principal": principal,
            "action": action,
            "outcome": outcome,
            "workflow_id": workflow_id,
            "detail": detail,
        }
        if self._store is not None:
            seq, prev = self._last if self._last is not None else self._tail_of_store()
            record = make_record(seq=seq + 1, prev=prev, **fields)  # type: ignore[arg-type]
            self._store.put(f"{self._prefix}{record.seq:012d}", record.to_line().encode())
            self._last = (record.seq, record.hash)
            return record
        assert self._path is not None
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._path, "a+b") as file:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            try:
                seq, prev = _tail_of_file(file)
                record = make_record(seq=seq + 1, prev=prev, **fields)  # type: ignore[arg-type]
                file.write(record.to_line().encode() + b"\n")
                file.flush()
                os.fsync(file.fileno())
            finally:
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)
        return record

    def lines(self) -> Iterator[tuple[str, str]]:
        """Yield ``(where, text)`` of every stored record, in stored order."""
        if self._store is not None:
            for key in self._store.list(self._prefix):
                yield key, self._store.get(key).decode("utf-8", errors="replace")
            return
        assert self._path is not None
        if not self._path.exists():
            return
        with open(self._path, encoding="utf-8", errors="replace") as file:
            for number, line in enumerate(file, start=1):
                if line.strip():
                    yield f"{self._path}:{number}", line.rstrip("\n")

    def records(self) -> list[AuditRecord]:
        """Return every record that parses (see `verify` for the trail's integrity)."""
        found = []
        for _, text in self.lines():
            try:
                found.append(parse_line(text))
            except ValueError:
                continue
        return found

    def verify(self) -> str | None:
        """Return the first broken link, described, or None when the trail is intact."""
        return verify_chain(self.lines())

    def _tail_of_store(self) -> tuple[int, str]:
        assert self._store is not None
        keys = self._store.list(self._prefix)
        if not keys:
            return -1, GENESIS_HASH
        last = parse_line(self._store.get(keys[-1]).decode("utf-8"))
        return last.seq, last.hash


def _tail_of_file(file: object) -> tuple[int, str]:
    """Return ``(seq, hash)`` of the file's last record (``(-1, genesis)`` when empty)."""
    import io

    assert isinstance(file, io.BufferedRandom)
    size = file.seek(0, os.SEEK_END)
    if size == 0:
        return -1, GENESIS_HASH
    chunk = 4096
    while True:
        start = max(size - chunk, 0)
        file.seek(start)
        data = file.read(size - start)
        lines = [line for line in data.split(b"\n") if line.strip()]
        if start == 0 or len(lines) >= 2:
            break
        chunk *= 2
    last = parse_line(lines[-1].decode("utf-8"))
    file.seek(0, os.SEEK_END)
    return last.seq, last.hash
