"""``orchestrator tasks|why|agents|status --follow`` against the running orchestrator."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from orchestrator import Orchestrator, Workflow
from orchestrator.cli import main
from tests.integration import workloads

pytestmark = pytest.mark.integration


def test_tasks_why_agents_and_follow_tell_what_happened(orchestrator: Orchestrator) -> None:
    wf = Workflow("observed")
    first = wf.task("first", workloads.add, args=(1, 2))
    wf.task("broken", workloads.fail, args=("observed failure",), depends_on=[first])
    run = orchestrator.submit(wf)
    runner = CliRunner()

    followed = runner.invoke(main, ["status", run.id, "--follow", "--interval", "0.1"])
    assert followed.exit_code == 1, followed.output  # it failed
    assert f"{run.id}: failed 2/2" in followed.output

    # Events drive --follow: with a safety interval of a minute, each change still shows
    # as it happens (a workflow of three 1 s steps, told step by step in about 3 s)
    slow = Workflow("observed-slowly")
    step = slow.task("s1", workloads.sleep_then, args=(1.0, 1))
    step = slow.task("s2", workloads.sleep_then, args=(1.0, 2), depends_on=[step])
    slow.task("s3", workloads.sleep_then, args=(1.0, 3), depends_on=[step])
    slow_run = orchestrator.submit(slow)
    started = time.monotonic()
    followed = runner.invoke(main, ["status", slow_run.id, "--follow", "--interval", "60"])
    took_s = time.monotonic() - started
    assert followed.exit_code == 0, followed.output
    assert f"{slow_run.id}: succeeded 3/3" in followed.output
    assert took_s < 45, took_s  # polling every 60 s would have taken a minute or more

    # graph WORKFLOW_ID: the running orchestrator's workflow, coloured by state now
    drawn = runner.invoke(main, ["graph", run.id, "--format", "dot"])
    assert drawn.exit_code == 0, drawn.output
    assert f'digraph "{run.id}"' in drawn.output
    assert '"first" [label="first\\nadd · medium"' in drawn.output
    assert 'tooltip="succeeded"' in drawn.output and 'tooltip="failed"' in drawn.output
    assert '"first" -> "broken";' in drawn.output
    unknown = runner.invoke(main, ["graph", "no-such-workflow-or-file"])
    assert unknown.exit_code == 2 and "no workflow 'no-such-workflow-or-file'" in unknown.output

    listed = runner.invoke(main, ["tasks", run.id])
    assert listed.exit_code == 0, listed.output
    assert "first" in listed.output and "broken" in listed.output
    assert "2 of 2 task(s)" in listed.output
    failed_only = runner.invoke(main, ["tasks", run.id, "--state", "failed"])
    assert "1 of 2 task(s)" in failed_only.output
    assert "ValueError" in failed_only.output

    why = runner.invoke(main, ["why", run.id, "broken"])
    assert why.exit_code == 0, why.output
    assert f"{run.id}/broken: failed" in why.output
    assert "error: ValueError: observed failure" in why.output
    assert "traceback (last attempt):" in why.output
    assert "raise ValueError(message)" in why.output

    agents = runner.invoke(main, ["agents"])
    assert agents.exit_code == 0, agents.output
    assert "functions" in agents.output  # the pool of plain functions, and its agent
    assert "healthy" in agents.output

    for args in (["tasks", "nope"], ["why", run.id, "nope"], ["why", "nope", "x"]):
        refused = runner.invoke(main, args)
        assert refused.exit_code == 2, (args, refused.output)
        assert "nope" in refused.output
