"""Workflows run end to end on a real local Ray (one per module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray

from orchestrator import Orchestrator, Priority, TaskState, Workflow, WorkflowState
from orchestrator.api import TaskFailedError, WorkflowRun
from orchestrator.core.status import TaskInfo
from tests.integration import workloads

pytestmark = pytest.mark.integration


def test_fork_join_workflow_computes_the_right_results(orchestrator: Orchestrator) -> None:
    # Given a fork/join graph mixing functions and an agent class
    wf = Workflow("fork-join")
    a = wf.task("a", workloads.add, args=(1, 2))
    b = wf.task("b", workloads.add, args=(a.output, 10))
    c = wf.task("c", workloads.add, args=(a.output, 100))
    doubled = wf.task("doubled", workloads.Doubler, depends_on=[b])
    wf.task("join", workloads.total, args=(b.output, c.output, doubled.output))

    # When it runs
    run = orchestrator.submit(wf)
    status = run.wait(timeout_s=60)

    # Then every task succeeded, results are right, and dependencies ran first
    assert status.state is WorkflowState.SUCCEEDED
    assert status.count(TaskState.SUCCEEDED) == 5
    assert run.result("join") == 13 + 103 + 26
    tasks = {info.task_id: info for info in run.tasks()}
    for upstream, downstream in [("a", "b"), ("a", "c"), ("b", "doubled"), ("c", "join")]:
        assert tasks[upstream].finished_s <= tasks[downstream].started_s  # type: ignore[operator]
    summary = run.summary()
    assert summary.succeeded == 5
    assert summary.critical_path[0] == "a" and summary.critical_path[-1] == "join"


def test_failure_retries_then_skips_dependents(orchestrator: Orchestrator) -> None:
    wf = Workflow("failing")
    bad = wf.task(
        "bad", workloads.fail, args=("boom",), retry={"max_attempts": 3, "initial_backoff_s": 0.05}
    )
    wf.task("after", workloads.add, args=(bad.output, 1))
    wf.task("independent", workloads.add, args=(2, 2))
    permanent = wf.task(
        "permanent", workloads.fail_permanently, args=("no retry",), retry={"max_attempts": 5}
    )

    run = orchestrator.submit(wf)
    status = run.wait(timeout_s=60)

    assert status.state is WorkflowState.FAILED
    bad_info = run.task("bad")
    assert bad_info.state is TaskState.FAILED
    assert bad_info.attempts == 3
    assert bad_info.error_type == "ValueError" and bad_info.error_message == "boom"
    assert "ValueError: boom" in (bad_info.traceback or "")
    assert run.task("after").state is TaskState.SKIPPED
    assert run.result("independent") == 4
    assert run.task(permanent.id).attempts == 1
    with pytest.raises(TaskFailedError, match="skipped"):
        run.result("after")


def test_large_results_pass_by_reference_not_through_the_supervisor(
    orchestrator: Orchestrator,
) -> None:
    # Given a 64 MiB result handed from one task to the next
    size = 64 * 2**20
    before = orchestrator.client.process_stats()["max_rss_bytes"]
    wf = Workflow("big-result")
    blob = wf.task("blob", workloads.payload, args=(size,))
    wf.task("measure", workloads.length, args=(blob.output,))

    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED

    # Then the downstream task saw all of it, and the supervisor never held it
    assert run.result("measure") == size
    after = orchestrator.client.process_stats()["max_rss_bytes"]
    assert after - before < size // 4


def test_priorities_decide_the_order_on_a_busy_agent(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    # Given one replica and tasks of every priority, all ready at once
    ledger = str(tmp_path / "order.jsonl")
    wf = Workflow("priorities")
    order = [Priority.LOW, Priority.BACKGROUND, Priority.MEDIUM, Priority.CRITICAL, Priority.HIGH]
    for priority in order:
        wf.task(
            f"p-{priority.name.lower()}",
            workloads.OrderRecorder,
            kwargs={"ledger": ledger, "seconds": 0.1},
            priority=priority,
        )

    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED

    # Then they started in priority order
    started = [entry["task"] for entry in workloads.read_ledger(ledger)]
    assert started == ["p-critical", "p-high", "p-medium", "p-low", "p-background"]


def test_killed_agent_is_replaced_and_its_task_completes(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "kill.jsonl")
    wf = Workflow("kill-agent")
    wf.task("slow", workloads.ledgered_sleep, args=(ledger, "slow", 2.0))
    run = orchestrator.submit(wf)

    # When the agent running it is killed mid-run
    info = _wait_for_state(run, "slow", TaskState.RUNNING)
    _wait_for_ledger(ledger, 1)
    handles = ray.get(orchestrator.supervisor.agent_handle.remote(info.agent_id))
    ray.kill(handles[0], no_restart=True)

    # Then a new agent re-runs it to completion, exactly once more
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    final = run.task("slow")
    assert final.attempts == 2
    assert final.agent_id != info.agent_id
    events = workloads.read_ledger(ledger)
    assert [e["event"] for e in events] == ["start", "start", "finish"]
    assert events[0]["pid"] != events[1]["pid"]
    assert run.result("slow") == "slow done"


def test_hung_agent_is_detected_by_heartbeat_and_replaced(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    # Given an agent whose first attempt holds the GIL so it cannot answer pings
    ledger = str(tmp_path / "hang.jsonl")
    wf = Workflow("hung")
    # A hang is the task's fault: it is charged an attempt, so it needs a second one
    wf.task(
        "stuck",
        workloads.HangsOnFirstAttempt,
        kwargs={"ledger": ledger},
        retry={"max_attempts": 2, "initial_backoff_s": 0.0},
    )

    run = orchestrator.submit(wf)

    # Then the heartbeat reports it hung, it is replaced and the task finishes
    assert run.wait(timeout_s=90).state is WorkflowState.SUCCEEDED
    assert run.task("stuck").attempts == 2
    assert run.result("stuck") == "finished on attempt 2"
    assert [e["attempt"] for e in workloads.read_ledger(ledger)] == [1, 2]


def test_attempt_past_its_timeout_fails_and_frees_the_agent(orchestrator: Orchestrator) -> None:
    wf = Workflow("timeout")
    wf.task("too-slow", workloads.sleep_then, args=(30.0,), timeout_s=1.0)
    wf.task("quick", workloads.add, args=(1, 1))

    run = orchestrator.submit(wf)
    status = run.wait(timeout_s=60)

    assert status.state is WorkflowState.FAILED
    info = run.task("too-slow")
    assert info.state is TaskState.FAILED
    assert info.error_type == "TimeoutError"
    assert "timeout_s=1" in (info.error_message or "")
    assert run.result("quick") == 2


def test_agent_that_cannot_start_fails_its_tasks_with_the_reason(
    orchestrator: Orchestrator,
) -> None:
    wf = Workflow("broken-setup")
    wf.task("never", workloads.BrokenSetup, retry={"max_agent_losses": 1})

    run = orchestrator.submit(wf)
    status = run.wait(timeout_s=60)

    assert status.state is WorkflowState.FAILED
    info = run.task("never")
    assert info.error_type == "AgentLost"
    assert "cannot load the model" in (info.error_message or "")


def test_cancel_stops_what_has_not_run(orchestrator: Orchestrator) -> None:
    wf = Workflow("cancel-me")
    first = wf.task("first", workloads.sleep_then, args=(1.0, 1))
    wf.task("second", workloads.add, args=(first.output, 1))
    run = orchestrator.submit(wf)
    _wait_for_state(run, "first", TaskState.RUNNING)

    run.cancel("changed my mind")

    status = run.wait(timeout_s=30)
    assert status.state is WorkflowState.CANCELLED
    assert run.task("second").state is TaskState.CANCELLED
    assert run.task("second").error_message == "changed my mind"


def _wait_for_state(
    run: WorkflowRun, task_id: str, state: TaskState, timeout_s: float = 30.0
) -> TaskInfo:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = run.task(task_id)
        if info.state is state:
            return info
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} never reached {state}")


def _wait_for_ledger(ledger: str, entries: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(workloads.read_ledger(ledger)) < entries:
        if time.monotonic() > deadline:
            raise AssertionError("ledger never filled")
        time.sleep(0.05)


def test_release_frees_results_and_unknown_ids_raise_key_error(
    orchestrator: Orchestrator,
) -> None:
    wf = Workflow("released")
    wf.task("value", workloads.add, args=(20, 22))
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    assert run.result("value") == 42
    with pytest.raises(KeyError):
        run.task("no-such-task")
    held_before = orchestrator.client.process_stats()["results_held"]

    run.release()

    held_after = orchestrator.client.process_stats()["results_held"]
    assert held_after == held_before - 1
    with pytest.raises(KeyError):
        run.status()
    with pytest.raises(KeyError):
        run.release()


def test_a_running_workflow_cannot_be_released(orchestrator: Orchestrator) -> None:
    wf = Workflow("busy")
    wf.task("nap", workloads.sleep_then, args=(1.0,))
    run = orchestrator.submit(wf)
    with pytest.raises(ValueError, match="still running"):
        run.release()
    run.wait(timeout_s=60)
    stats = orchestrator.statistics()
    assert stats.workflows_kept >= 1
    assert any(key.startswith("functions[") for key in stats.pools)


def test_restarted_heartbeat_watches_the_live_agents_again(orchestrator: Orchestrator) -> None:
    # Given an agent kept alive (min_replicas=1) and watched by the heartbeat
    wf = Workflow("before-restart")
    wf.task("warm", workloads.KeptWarm, args=(1,))
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    agent_id = run.task("warm").agent_id
    assert agent_id is not None
    supervisor = orchestrator.supervisor
    (heartbeat,) = ray.get(supervisor.heartbeat_handle.remote())
    assert agent_id in ray.get(heartbeat.health.remote())

    # When the heartbeat actor's process dies and Ray restarts it (memory lost)
    ray.kill(heartbeat, no_restart=False)

    # Then the supervisor's resync makes it watch (and ping) the agent again
    deadline = time.monotonic() + 30
    health: dict[str, object] = {}
    while time.monotonic() < deadline:
        try:
            health = ray.get(heartbeat.health.remote(), timeout=5)
        except ray.exceptions.RayActorError:
            health = {}
        if health.get(agent_id) == "healthy":
            break
        time.sleep(0.2)
    assert health.get(agent_id) == "healthy"
    assert agent_id in orchestrator.client.agents()


def test_a_second_driver_joins_the_running_cluster_and_leaves_it_up(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    # Given this module's Ray, a second driver (the CLI in another process) joins it by
    # address, in a namespace of its own so that it gets its own supervisor
    address = ray.get_runtime_context().gcs_address
    root = Path(__file__).resolve().parents[2]
    # The child inherits this process's RAY_AUTH_MODE: the same as the cluster's.
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "ORCHESTRATOR_RAY__NAMESPACE": "second-driver",
        "ORCHESTRATOR_LOGGING__LEVEL": "WARNING",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "run",
            str(root / "tests" / "data" / "tiny.yaml"),
            "--address",
            address,
            "--no-progress",
            "--output-dir",
            str(tmp_path),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then it ran there, and this driver's cluster and supervisor are still up
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "sum.json").read_text()) == 10
    assert "Started a local Ray instance" not in result.stderr
    wf = Workflow("after-second-driver")
    wf.task("still-here", workloads.add, args=(2, 3))
    assert orchestrator.submit(wf).wait(timeout_s=60).state is WorkflowState.SUCCEEDED
