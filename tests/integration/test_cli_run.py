"""`orchestrator run` end to end, as a user runs it: a subprocess with its own embedded Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def run_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "ORCHESTRATOR_RAY__AUTH_MODE": "disabled",
        "ORCHESTRATOR_RAY__LOG_TO_DRIVER": "false",
        "ORCHESTRATOR_LOGGING__LEVEL": "WARNING",
        "COLUMNS": "120",
    }
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )


def test_run_prints_a_summary_and_writes_the_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "run", str(DATA / "tiny.yaml"), "--slots", "2", "--output-dir", str(out), tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "workflow tiny-" in result.stdout and ": succeeded" in result.stdout
    assert "critical path" in result.stdout and "speed-up" in result.stdout
    assert json.loads((out / "sum.json").read_text()) == 10
    summary = json.loads((out / "summary.json").read_text())
    assert summary["succeeded"] == 3 and summary["failed"] == 0
    assert summary["critical_path"][-1] == "sum.json"


def test_failing_workflow_exits_1_and_lists_the_failure(tmp_path: Path) -> None:
    result = run_cli("run", str(DATA / "failing.yaml"), "--no-progress", tmp_path=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failed tasks" in result.stdout
    assert "ValueError: expected failure" in result.stdout


def test_run_replays_a_wfformat_instance_with_its_time_scale(tmp_path: Path) -> None:
    # A 6-task WfFormat 1.5 instance: runtimes 10-30 s scaled by 0.01, up to 4 cores.
    out = tmp_path / "out"
    result = run_cli(
        "run",
        str(DATA / "wfformat" / "valid-1.5.json"),
        "--time-scale",
        "0.01",
        "--slots",
        "4",
        "--no-progress",
        "--output-dir",
        str(out),
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["succeeded"] == 6
    # Every task slept its scaled runtime: 0.68 s of work, 0.46 s on the critical path.
    assert summary["task_time_sum_s"] >= 0.68
    assert summary["critical_path"] == [
        "split_00000001",
        "align_00000003",
        "merge_00000004",
        "report_00000006",
    ]
    assert summary["wall_s"] >= 0.46


def test_run_executes_a_taskmaster_tag_in_dependency_order(tmp_path: Path) -> None:
    # The feature-auth tag: 1 <- 2.1 <- 2.2 <- 3, and task 2 after its subtasks.
    out = tmp_path / "out"
    result = run_cli(
        "run",
        str(DATA / "taskmaster" / "tagged.json"),
        "--tag",
        "feature-auth",
        "--slots",
        "2",
        "--no-progress",
        "--output-dir",
        str(out),
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["succeeded"] == 5 and summary["failed"] == 0
    # The default handler's summary of each final task (3, and 2 that nothing depends on)
    assert json.loads((out / "task-3.json").read_text()) == {
        "id": "3",
        "title": "Session expiry",
        "description": "Sessions end after a day.",
    }
    assert json.loads((out / "task-2.json").read_text())["title"] == "Log in with OIDC"
