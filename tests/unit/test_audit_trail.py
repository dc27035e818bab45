"""The audit trail: hash-chained records in a file or a store; tampering is found."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.audit import AuditTrail
from orchestrator.cli import main
from orchestrator.core.audit_chain import GENESIS_HASH, make_record, verify_chain
from orchestrator.storage import MemoryStore


def _filled(trail: AuditTrail) -> None:
    trail.append("alice", "submit", "allowed", "wf-1", {"tasks": "3"})
    trail.append("bob", "cancel", "denied", "wf-1", {"reason": "lacks cancel"})
    trail.append("olga", "cancel", "allowed", "wf-1")
    trail.append("olga", "purge", "allowed", None, {"tasks": "*"})


def _rewrite(path: Path, change: object) -> None:
    lines = path.read_text().splitlines()
    assert callable(change)
    path.write_text("\n".join(change(lines)) + "\n")


def test_an_intact_file_trail_verifies_and_links_each_record(tmp_path: Path) -> None:
    trail = AuditTrail(path=tmp_path / "a" / "audit.jsonl")
    _filled(trail)
    records = trail.records()
    assert [r.seq for r in records] == [0, 1, 2, 3]
    assert records[0].prev == GENESIS_HASH
    assert all(b.prev == a.hash for a, b in itertools.pairwise(records))
    assert trail.verify() is None


def _edit(lines: list[str]) -> list[str]:
    record = json.loads(lines[1])
    record["principal"] = "olga"
    lines[1] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return lines


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_edit, "audit.jsonl:2: record 1 was altered"),
        (lambda lines: [lines[0], *lines[2:]], "audit.jsonl:2: sequence 2 where 1 was expected"),
        (lambda lines: [lines[0], lines[2], lines[1], lines[3]], "sequence 2 where 1"),
        (lambda lines: [*lines[:2], "{not json", *lines[2:]], "audit.jsonl:3: not an audit"),
    ],
    ids=["edit", "delete", "reorder", "garbage"],
)
def test_tampering_with_the_file_is_found(tmp_path: Path, change: object, expected: str) -> None:
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path=path)
    _filled(trail)
    _rewrite(path, change)
    broken = trail.verify()
    assert broken is not None and expected in broken


def test_a_record_rehashed_after_an_edit_still_breaks_the_next_link(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path=path)
    _filled(trail)
    lines = path.read_text().splitlines()
    old = json.loads(lines[1])
    forged = make_record(**{**{k: v for k, v in old.items() if k != "hash"}, "action": "submit"})
    lines[1] = forged.to_line()
    path.write_text("\n".join(lines) + "\n")
    assert (
        verify_chain(trail.lines()) == f"{path}:3: record 2 does not link to the record before it"
    )


def test_store_trail_is_numbered_objects_and_tampering_is_found() -> None:
    store = MemoryStore()
    trail = AuditTrail(store=store, prefix="ns/sup/audit/")
    _filled(trail)
    keys = store.list("ns/sup/audit/")
    assert keys == [f"ns/sup/audit/{n:012d}" for n in range(4)]
    # A second writer on the same store (a restarted supervisor) continues the chain.
    AuditTrail(store=store, prefix="ns/sup/audit/").append("local", "resume", "allowed", "wf-1")
    assert trail.verify() is None and len(trail.records()) == 5
    store.delete(keys[2])
    broken = trail.verify()
    assert broken is not None and "ns/sup/audit/000000000003: sequence 3 where 2" in broken


def test_cli_audit_verify_and_list_filter(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _filled(AuditTrail(path=path))
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify", "--file", str(path)])
    assert ok.exit_code == 0, ok.output
    assert "ok: 4 records" in ok.output
    listed = runner.invoke(
        main, ["audit", "list", "--file", str(path), "--principal", "olga", "--action", "cancel"]
    )
    assert listed.exit_code == 0, listed.output
    assert "2 record(s)" not in listed.output and "1 record(s)" in listed.output
    assert "olga" in listed.output and "alice" not in listed.output
    by_workflow = runner.invoke(main, ["audit", "list", "--file", str(path), "--workflow", "wf-1"])
    assert "3 record(s)" in by_workflow.output
    _rewrite(path, _edit)
    broken = runner.invoke(main, ["audit", "verify", "--file", str(path)])
    assert broken.exit_code == 1
    assert "broken:" in broken.output and "record 1 was altered" in broken.output


def test_a_trail_needs_a_place() -> None:
    with pytest.raises(ValueError, match=r"security\.audit_path"):
        AuditTrail()


def test_cli_reads_the_trail_beside_the_checkpoints(tmp_path: Path) -> None:
    from orchestrator.storage import open_store

    uri = f"file://{tmp_path / 'state'}"
    trail = AuditTrail(store=open_store(uri), prefix="orchestrator/supervisor/audit/")
    _filled(trail)
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify", "--storage", uri])
    assert ok.exit_code == 0, ok.output
    assert "ok: 4 records" in ok.output
    listed = runner.invoke(main, ["audit", "list", "--storage", uri, "--outcome", "denied"])
    assert "1 record(s)" in listed.output and "bob" in listed.output
    trail_keys = sorted((tmp_path / "state").rglob("000000000001"))
    assert trail_keys, "records are numbered objects"
    trail_keys[0].unlink()
    broken = runner.invoke(main, ["audit", "verify", "--storage", uri])
    assert broken.exit_code == 1 and "sequence 2 where 1 was expected" in broken.output
