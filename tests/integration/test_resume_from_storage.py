"""Whole-cluster loss: Ray goes down midway; ``orchestrator resume --from`` finishes the work.

Both sides run in processes of their own, each with its own embedded Ray, as a user would:
a driver that loses its cluster midway, then the command line on a new one. The ledger
written by the tasks shows that no task finished before the loss ran again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from tests.integration import workloads

pytestmark = pytest.mark.integration

_ROOT = Path(__file__).resolve().parents[2]

_DRIVER = textwrap.dedent(
    """
    import json, sys, time
    import ray
    from orchestrator import Orchestrator, TaskState, Workflow
    from tests.integration import workloads

    ledger, out = sys.argv[1], sys.argv[2]
    wf = Workflow("lost-cluster")
    parts = [
        wf.task(f"t{i:02d}", workloads.ledgered_sleep_then, args=(ledger, f"t{i:02d}", 0.2, i))
        for i in range(30)
    ]
    wf.task("join", workloads.total, args=tuple(p.output for p in parts))
    orchestrator = Orchestrator()
    run = orchestrator.submit(wf)
    while run.status().count(TaskState.SUCCEEDED) < 10:
        time.sleep(0.02)
    done = [i.task_id for i in run.tasks() if i.state is TaskState.SUCCEEDED]
    ray.shutdown()  # the whole cluster is gone; the orchestrator is never told
    with open(out, "w") as file:
        json.dump({"id": run.id, "done": done}, file)
    """
)


def _env(storage: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(_ROOT),
        RAY_USAGE_STATS_ENABLED="0",
        ORCHESTRATOR_RAY__ADDRESS="local",
        ORCHESTRATOR_RAY__NUM_CPUS="2",
        ORCHESTRATOR_RAY__AUTH_MODE="disabled",
        ORCHESTRATOR_RAY__LOG_TO_DRIVER="false",
        ORCHESTRATOR_LOGGING__LEVEL="WARNING",
        ORCHESTRATOR_CHECKPOINT__STORAGE=storage.as_uri(),
    )
    return env


def test_resume_from_storage_finishes_a_workflow_whose_cluster_was_lost(tmp_path: Path) -> None:
    # Given a driver whose Ray went down with a third of a workflow done
    storage, ledger, out = tmp_path / "state", tmp_path / "ledger.jsonl", tmp_path / "out.json"
    driver = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(ledger), str(out)],
        env=_env(storage),
        cwd=_ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=150,
    )
    assert driver.returncode == 0, driver.stderr[-3000:]
    before = json.loads(out.read_text())
    assert len(before["done"]) >= 10
    # When `orchestrator resume --from` runs on a new embedded Ray
    env = _env(tmp_path / "elsewhere")  # the storage comes from --from, not the settings
    resumed = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "resume", "--from", storage.as_uri()],
        env=env,
        cwd=_ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=150,
    )
    # Then it finishes the workflow
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "continuing 1 unfinished workflow" in resumed.stdout
    assert before["id"] in resumed.stdout and "succeeded" in resumed.stdout
    # And the tasks finished before the loss did not run again; every task ran
    starts = Counter(e["task"] for e in workloads.read_ledger(ledger))
    assert set(starts) == {f"t{i:02d}" for i in range(30)}
    assert all(starts[task] == 1 for task in before["done"]), starts


def test_resume_from_an_empty_storage_says_there_is_nothing(tmp_path: Path) -> None:
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "resume",
            "--from",
            (tmp_path / "none").as_uri(),
        ],
        env=_env(tmp_path / "unused"),
        cwd=_ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=150,
    )
    assert resumed.returncode == 2
    assert "no saved workflow" in resumed.stderr
