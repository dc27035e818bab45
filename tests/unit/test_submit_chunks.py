"""Chunked submission: packing a slice at a time, and the supervisor's staging of chunks."""

from __future__ import annotations

import pytest

from orchestrator import Workflow
from orchestrator.core.packed import PackedWorkflow, SpecRows, TaskRow, row_chunks
from orchestrator.core.validation import check_structure
from orchestrator.runtime.submit_streams import StagedSubmissions


def _spec(num_tasks: int) -> PackedWorkflow:
    workflow = Workflow("chunks", metadata={"team": "a"}, tenant="t", retry_budget=3)
    for index in range(num_tasks):
        deps = [f"t{index - 1}"] if index else []
        workflow.task(f"t{index}", "benchmarks.workloads:noop", depends_on=deps)
    return PackedWorkflow.pack(workflow.to_spec("wf-1"))


def _chunks_of(num_tasks: int, size: int) -> tuple[PackedWorkflow, list[tuple[TaskRow, ...]]]:
    workflow = Workflow("chunks", metadata={"team": "a"}, tenant="t", retry_budget=3)
    for index in range(num_tasks):
        deps = [f"t{index - 1}"] if index else []
        workflow.task(f"t{index}", "benchmarks.workloads:noop", depends_on=deps)
    spec = workflow.to_spec("wf-1")
    return PackedWorkflow.header(spec), list(row_chunks(spec, size))


def test_chunks_reassembled_equal_the_workflow_packed_whole() -> None:
    header, chunks = _chunks_of(25, 10)
    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    assert header.rows == ()
    assert header.with_rows(tuple(row for c in chunks for row in c)) == _spec(25)


def test_row_chunks_refuses_a_size_below_one() -> None:
    workflow = Workflow("w")
    workflow.task("a", "benchmarks.workloads:noop")
    with pytest.raises(ValueError, match="size must be > 0"):
        list(row_chunks(workflow.to_spec(), 0))


def test_structure_checked_from_rows_made_on_the_fly_finds_what_the_packed_check_does() -> None:
    workflow = Workflow("bad")
    workflow.task("a", "benchmarks.workloads:noop", depends_on=["missing"])
    workflow.task("b", "benchmarks.workloads:noop", depends_on=["b"])
    spec = workflow.to_spec(whole=False)
    _, lazily = check_structure(SpecRows(spec))
    _, packed = check_structure(PackedWorkflow.pack(spec))
    assert lazily == packed and len(lazily) >= 2


def test_staged_chunks_are_taken_whole_and_forgotten() -> None:
    header, chunks = _chunks_of(25, 10)
    staged = StagedSubmissions()
    token = staged.begin(header, "alice", now_s=0.0)
    counts = [staged.add(token, i, chunk, now_s=1.0) for i, chunk in enumerate(chunks)]
    assert counts == [10, 20, 25]
    workflow, principal = staged.take(token)
    assert workflow == _spec(25) and principal == "alice"
    assert len(staged) == 0
    with pytest.raises(KeyError, match="no chunked submission"):
        staged.take(token)


def test_a_chunk_out_of_order_drops_the_whole_submission_with_a_clear_error() -> None:
    header, chunks = _chunks_of(25, 10)
    staged = StagedSubmissions()
    token = staged.begin(header, "alice", now_s=0.0)
    staged.add(token, 0, chunks[0], now_s=0.0)
    with pytest.raises(ValueError, match="chunk 2 arrived where chunk 1 was expected"):
        staged.add(token, 2, chunks[2], now_s=0.0)
    assert len(staged) == 0
    with pytest.raises(KeyError):  # nothing half-kept to add to or submit
        staged.add(token, 1, chunks[1], now_s=0.0)


def test_a_chunk_that_is_not_rows_drops_the_submission_naming_the_bad_row() -> None:
    header, chunks = _chunks_of(5, 5)
    staged = StagedSubmissions()
    token = staged.begin(header, "alice", now_s=0.0)
    bad = (*chunks[0][:3], {"id": "t3"}, *chunks[0][4:])
    with pytest.raises(ValueError, match="'wf-1' dropped: row 3 of chunk 0 is a dict"):
        staged.add(token, 0, bad, now_s=0.0)  # type: ignore[arg-type]
    assert len(staged) == 0
    token = staged.begin(header, "alice", now_s=0.0)
    with pytest.raises(ValueError, match="chunk 0 is a list"):
        staged.add(token, 0, list(chunks[0]), now_s=0.0)  # type: ignore[arg-type]
    assert len(staged) == 0


def test_begin_needs_a_header_without_rows() -> None:
    with pytest.raises(ValueError, match="without rows"):
        StagedSubmissions().begin(_spec(2), "alice", now_s=0.0)


def test_an_abandoned_submission_is_dropped_when_the_next_one_begins() -> None:
    header, chunks = _chunks_of(5, 5)
    staged = StagedSubmissions(idle_s=60.0)
    old = staged.begin(header, "alice", now_s=0.0)
    staged.add(old, 0, chunks[0], now_s=10.0)
    recent = staged.begin(header, "bob", now_s=50.0)
    assert len(staged) == 2  # the first is 40 s idle: kept
    staged.begin(header, "carol", now_s=100.0)
    assert len(staged) == 2  # the first was idle 90 s: dropped
    assert staged.principal_of(recent) == "bob"
    assert not staged.drop(old)
    assert staged.drop(recent)
