"""Progress heartbeats on a real Ray: a silent handler is stopped and retried from its
last report; a slow one that keeps reporting is never stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import Orchestrator, Workflow
from orchestrator.core.states import TaskState, WorkflowState
from tests.integration import workloads

pytestmark = pytest.mark.integration

TIMEOUT_S = 1.5  # the test settings ping every 0.2 s


def test_a_silent_handler_is_stopped_and_retried_from_its_last_report(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "silent.jsonl")
    wf = Workflow("silent")
    wf.task(
        "crawl",
        workloads.falls_silent_once,
        args=(ledger, 60.0),
        heartbeat_timeout_s=TIMEOUT_S,
        retry={"max_attempts": 2, "initial_backoff_s": 0.0},
    )
    run = orchestrator.submit(wf)
    status = run.wait(timeout_s=60)
    # Within about twice the limit it was stopped, charged, and the retry resumed
    assert status.state is WorkflowState.SUCCEEDED
    assert run.result("crawl") == {"resumed_from": {"page": 7}}
    entries = workloads.read_ledger(ledger)
    assert [(e["attempt"], e["resumed"]) for e in entries] == [(1, None), (2, {"page": 7})]
    # Detection takes about the limit (plus a ping interval); the retry also waits for a
    # new agent process to start, which a loaded machine makes slow: a loose bound.
    retried_after_s = entries[1]["time_s"] - entries[0]["time_s"]
    assert TIMEOUT_S <= retried_after_s < 10 * TIMEOUT_S, retried_after_s
    info = run.task("crawl")
    assert info.attempts == 2


def test_a_slow_handler_that_keeps_reporting_is_never_stopped(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "slow.jsonl")
    wf = Workflow("slow")
    # Runs about 4 s, more than twice its heartbeat timeout, reporting every 0.25 s
    wf.task(
        "long",
        workloads.slow_but_talking,
        args=(ledger, 16, 0.25),
        heartbeat_timeout_s=TIMEOUT_S,
    )
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    assert run.result("long") == 16
    assert run.task("long").attempts == 1
    assert len(workloads.read_ledger(ledger)) == 1
    assert run.task("long").state is TaskState.SUCCEEDED
