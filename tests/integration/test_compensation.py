"""Compensation on a real Ray: a failed workflow undoes its completed steps, latest first."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from orchestrator import Orchestrator, Workflow
from orchestrator.core.states import TaskState, WorkflowState
from tests.integration import workloads

pytestmark = pytest.mark.integration


def test_a_failed_booking_is_undone_in_reverse_order(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "undo.jsonl")
    undo = functools.partial(workloads.undo, ledger)
    wf = Workflow("booking")
    charge = wf.task("charge", workloads.add, args=(100, 0), compensate=undo)
    seat = wf.task("seat", workloads.add, args=(charge.output, 1), compensate=undo)
    hotel = wf.task("hotel", workloads.add, args=(seat.output, 1), compensate=undo)
    wf.task("notify", workloads.fail, args=("mail server down",), depends_on=[hotel])

    run = orchestrator.submit(wf)

    assert run.wait(timeout_s=60).state is WorkflowState.FAILED
    undone = [entry["undo"] for entry in workloads.read_ledger(ledger)]
    assert undone == [102, 101, 100]  # hotel, seat, charge: latest completion first
    assert run.task("hotel:compensate").state is TaskState.SUCCEEDED
    assert run.result("charge:compensate") == "undid 100"
