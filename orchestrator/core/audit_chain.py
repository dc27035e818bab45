"""The audit trail's records and their hash chain.

Each `AuditRecord` carries its sequence number, the previous record's hash and its own
hash, which covers every other field and the previous hash (SHA-256 of canonical JSON):
editing a record breaks its own hash, deleting one breaks the sequence and the next
record's link, reordering breaks both. `verify_chain` names the first broken link.

Pure: records are made from values the caller passes (time included); writing them is
`orchestrator.audit`'s business.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

#: The previous hash of the first record.
GENESIS_HASH = "0" * 64

Outcome = Literal["allowed", "denied", "rejected", "failed"]


class AuditRecord(BaseModel):
    """One audited decision or operation.

    Attributes:
        seq: Position in the trail, from 0.
        time: When, ISO 8601 in UTC.
        principal: Who asked.
        action: What (``submit``, ``cancel``, ``pause``, ``purge``...).
        outcome: ``allowed``, ``denied`` (by a role), ``rejected`` (bad input or over
            quota) or ``failed`` (the operation raised).
        workflow_id: The workflow concerned, when one is.
        detail: More, as short strings (reason, task ids, the denial's message...).
        prev: The previous record's hash.
        hash: SHA-256 over every field above.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    time: str
    principal: str
    action: str
    outcome: Outcome
    workflow_id: str | None = None
    detail: dict[str, str] = {}
    prev: str
    hash: str

    def to_line(self) -> str:
        """Return the record as one JSON line (no newline)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def record_hash(fields: dict[str, Any]) -> str:
    """Return the SHA-256 of a record's fields other than ``hash`` (canonical JSON)."""
    body = {key: value for key, value in fields.items() if key != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_record(
    *,
    seq: int,
    prev: str,
    time: str,
    principal: str,
    action: str,
    outcome: Outcome,
    workflow_id: str | None = None,
    detail: dict[str, str] | None = None,
) -> AuditRecord:
    """Return the record following ``prev`` (its hash computed)."""
    fields: dict[str, Any] = {
        "seq": seq,
        "time": time,
        "principal": principal,
        "action": action,
        "outcome": outcome,
        "workflow_id": workflow_id,
        "detail": dict(detail or {}),
        "prev": prev,
    }
    return AuditRecord(**fields, hash=record_hash(fields))


def parse_line(line: str) -> AuditRecord:
    """Parse one JSON line. Raises `ValueError` saying what is wrong."""
    try:
        return AuditRecord.model_validate_json(line)
    except ValidationError as exc:
        raise ValueError(f"not an audit record: {exc.errors()[0]['msg']}") from None


def verify_chain(lines: Iterable[tuple[str, str]]) -> str | None:
    """Check a trail; return the first broken link, described, or None when intact.

    Args:
        lines: ``(where, text)`` of each record in stored order (``where``: a line
            number or an object key, for the message).
    """
    prev = GENESIS_HASH
    for expected_seq, (where, text) in enumerate(lines):
        try:
            record = parse_line(text)
        except ValueError as exc:
            return f"{where}: {exc}"
        if record.seq != expected_seq:
            return (
                f"{where}: sequence {record.seq} where {expected_seq} was expected"
                " (a record was deleted, inserted or moved)"
            )
        if record.prev != prev:
            return f"{where}: record {record.seq} does not link to the record before it"
        if record_hash(record.model_dump(mode="json")) != record.hash:
            return f"{where}: record {record.seq} was altered (its hash does not match)"
        prev = record.hash
    return None
