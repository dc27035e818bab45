"""`orchestrator run` of a scheduled workflow file, as a user runs it (a subprocess)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_cli_run import run_cli

pytestmark = pytest.mark.integration

SCHEDULED = """\
name: often
schedule: {every_s: 1, overlap: false}
tasks:
  - id: left
    function: tests.integration.workloads:add
    args: [1, 2]
    resources: {num_cpus: 0.25}
"""


def test_a_scheduled_file_is_served_until_max_runs_have_ended(tmp_path: Path) -> None:
    path = tmp_path / "often.yaml"
    path.write_text(SCHEDULED)
    result = run_cli("run", str(path), "--slots", "2", "--max-runs", "2", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "scheduled as 'often': every 1 s" in out
    assert out.count("started often@") >= 2
    assert out.count(": succeeded") >= 2
    assert "schedule 'often' removed: 2 run(s) ended, 0 not succeeded" in out


def test_once_runs_a_scheduled_file_one_time_now(tmp_path: Path) -> None:
    path = tmp_path / "often.yaml"
    path.write_text(SCHEDULED)
    result = run_cli("run", str(path), "--slots", "2", "--once", "--no-progress", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scheduled as" not in result.stdout
    assert "workflow often-" in result.stdout and ": succeeded" in result.stdout
