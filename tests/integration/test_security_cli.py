"""`orchestrator run` refused by the door, as a user meets it: a subprocess with its own Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_cli_run import DATA, run_cli

pytestmark = pytest.mark.integration


def test_a_principal_without_the_permission_is_refused_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_PRINCIPAL", "stranger")
    monkeypatch.setenv("ORCHESTRATOR_SECURITY__AUDIT_PATH", str(tmp_path / "audit.jsonl"))
    result = run_cli("run", str(DATA / "tiny.yaml"), "--no-progress", tmp_path=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "permission denied: principal 'stranger' lacks permission 'submit'" in result.stderr
    audit = run_cli(
        "audit",
        "list",
        "--file",
        str(tmp_path / "audit.jsonl"),
        "--outcome",
        "denied",
        tmp_path=tmp_path,
    )
    assert "stranger" in audit.stdout and "1 record(s)" in audit.stdout


def test_a_workflow_over_its_quota_is_refused_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_SECURITY__DEFAULT_QUOTA__MAX_TASKS_PER_WORKFLOW", "2")
    monkeypatch.setenv("ORCHESTRATOR_SECURITY__AUDIT_PATH", str(tmp_path / "audit.jsonl"))
    result = run_cli("run", str(DATA / "tiny.yaml"), "--no-progress", tmp_path=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "quota.max_tasks_per_workflow: tenant 'default': 3 tasks in one workflow exceed the"
        " quota of 2"
    ) in result.stderr
