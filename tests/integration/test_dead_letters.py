"""Dead letters on a real Ray: listed, inspected, re-queued and purged, from Python and
from the ``orchestrator dlq`` commands (which join the running supervisor and leave it up)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import Orchestrator, Workflow
from orchestrator.cli import main
from orchestrator.core.states import TaskState, WorkflowState
from tests.integration import workloads

pytestmark = pytest.mark.integration


def _outage(orchestrator: Orchestrator, flag: Path, name: str) -> str:
    wf = Workflow(name)
    fetch = wf.task("fetch", workloads.fails_until, args=(str(flag), 20))
    wf.task("double", workloads.add, args=(fetch.output, fetch.output))
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=60).state is WorkflowState.FAILED
    return run.id


def test_a_dead_letter_requeued_after_the_fix_completes_its_workflow(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    flag = tmp_path / "service-up"
    run = orchestrator.attach(_outage(orchestrator, flag, "outage"))
    [letter] = run.dead_letters()
    assert (letter.task_id, letter.error_type, letter.args) == (
        "fetch",
        "ConnectionError",
        (str(flag), 20),
    )
    assert run.task("double").state is TaskState.SKIPPED
    # When the service is back and the dead letter re-queued
    flag.touch()
    run.requeue()
    # Then the workflow runs again to success, the skipped task included
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    assert run.result("double") == 40
    assert run.dead_letters() == []


def test_the_dlq_commands_reach_the_running_orchestrator_and_leave_it_up(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    flag = tmp_path / "service-up"
    workflow_id = _outage(orchestrator, flag, "outage-cli")
    runner = CliRunner()

    listed = runner.invoke(main, ["dlq", "list", "--workflow", workflow_id])
    assert listed.exit_code == 0, listed.output
    assert "fetch" in listed.output and "ConnectionError" in listed.output

    shown = runner.invoke(main, ["dlq", "show", workflow_id, "fetch"])
    assert shown.exit_code == 0, shown.output
    assert "service down" in shown.output and "Traceback" in shown.output

    refused = runner.invoke(main, ["dlq", "requeue", workflow_id, "double"])
    assert refused.exit_code == 2
    assert "not dead letters" in refused.output

    flag.touch()
    requeued = runner.invoke(main, ["dlq", "requeue", workflow_id])
    assert requeued.exit_code == 0, requeued.output
    run = orchestrator.attach(workflow_id)  # the supervisor is still up
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED

    assert runner.invoke(main, ["dlq", "purge"]).exit_code == 2  # names nothing: refused
    assert runner.invoke(main, ["dlq", "purge", "--all"]).exit_code == 0
    assert orchestrator.dead_letters() == []
