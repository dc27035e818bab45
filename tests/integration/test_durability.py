"""Durable state on a real Ray: pause/resume, a killed supervisor, a restart on saved state.

Each test runs its own supervisor (a name of its own, checkpoints in its own directory) on
this module's Ray; the ledger files written by the tasks are the oracle: which handler
started, how often.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import ray

from orchestrator import (
    EVENT_PAYLOAD,
    Orchestrator,
    OutputOf,
    TaskState,
    Workflow,
    WorkflowState,
)
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.settings import CheckpointSettings, Settings
from tests.integration import workloads

pytestmark = pytest.mark.integration


def _durable(orchestrator: Orchestrator, name: str, storage: Path, **checkpoint: Any) -> Settings:
    settings = orchestrator.settings
    return settings.model_copy(
        update={
            "ray": settings.ray.model_copy(update={"supervisor_name": name}),
            "checkpoint": CheckpointSettings(storage=str(storage), **checkpoint),
        }
    )


def _durability_settings(orchestrator: Orchestrator, tmp_path: Path, **checkpoint: Any) -> Settings:
    name = f"durable-{tmp_path.name}"[:60]
    return _durable(orchestrator, name, tmp_path / "state", **checkpoint)


@pytest.fixture
def durable(
    orchestrator: Orchestrator, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Orchestrator]:
    """An orchestrator of its own, with checkpoints in ``tmp_path / "state"``."""
    name = f"durable-{request.node.name}"[:60].replace("[", "-").replace("]", "")
    with Orchestrator(settings=_durable(orchestrator, name, tmp_path / "state")) as orch:
        yield orch


def _starts(ledger: Path) -> Counter[str]:
    return Counter(e["task"] for e in workloads.read_ledger(ledger) if e.get("event") == "start")


def _wide(ledger: Path, n: int, seconds: float) -> Workflow:
    wf = Workflow("wide")
    for i in range(n):
        wf.task(f"t{i:03d}", workloads.ledgered_sleep, args=(str(ledger), f"t{i:03d}", seconds))
    return wf


def _wait_for(run: Any, done: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while run.status().count(TaskState.SUCCEEDED) < done:
        assert time.monotonic() < deadline, f"fewer than {done} tasks done in {timeout_s}s"
        time.sleep(0.02)


def test_a_paused_workflow_starts_nothing_and_resumes_without_running_a_task_twice(
    durable: Orchestrator, tmp_path: Path
) -> None:
    # Given a 200-task workflow running midway
    ledger = tmp_path / "ledger.jsonl"
    run = durable.submit(_wide(ledger, 200, 0.02))
    _wait_for(run, 40)
    # When it is paused
    key = run.pause()
    # Then a checkpoint was saved, nothing runs, and nothing starts while paused
    assert key is not None and "ckpt-" in key
    status = run.status()
    assert status.state is WorkflowState.PAUSED
    assert status.count(TaskState.RUNNING) == 0
    started = sum(_starts(ledger).values())
    assert started < 200
    time.sleep(1.0)
    assert sum(_starts(ledger).values()) == started
    assert run.status().state is WorkflowState.PAUSED
    # When it is resumed, Then it completes, every task started exactly once
    assert run.resume().state is WorkflowState.RUNNING
    assert run.wait(timeout_s=120).state is WorkflowState.SUCCEEDED
    starts = _starts(ledger)
    assert len(starts) == 200 and set(starts.values()) == {1}


def test_a_killed_supervisor_comes_back_from_its_checkpoint_and_finishes(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    # Given 300 tasks running, a third of them done, on a supervisor that waits for each
    # save before it handles more outcomes (checkpoint.wait_for_saves)
    settings = _durability_settings(orchestrator, tmp_path, wait_for_saves=True)
    durable = Orchestrator(settings=settings).start()
    ledger = tmp_path / "ledger.jsonl"
    run = durable.submit(_wide(ledger, 300, 0.03))
    _wait_for(run, 100)
    # When the supervisor is killed
    in_flight = run.status().count(TaskState.RUNNING)
    old = durable.supervisor
    ray.kill(old, no_restart=True)
    # Then the driver's next calls reach a new supervisor, reloaded from the checkpoint,
    # which finishes the workflow
    final = run.wait(timeout_s=180)
    assert final.state is WorkflowState.SUCCEEDED
    assert final.count(TaskState.SUCCEEDED) == 300
    assert durable.supervisor != old
    results = run.results()
    assert results == {f"t{i:03d}": f"t{i:03d} done" for i in range(300)}
    # And the tasks run twice are at most those in flight when it died (plus the batch
    # already handed to each agent: tasks dispatched but not yet started then)
    starts = _starts(ledger)
    assert len(starts) == 300
    again = [task for task, n in starts.items() if n > 1]
    assert len(again) <= in_flight + 8, (len(again), in_flight)
    durable.shutdown()


def test_a_new_supervisor_on_saved_state_continues_and_keeps_finished_results(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    # Given a chain whose first half ran under one supervisor, which is then stopped
    ledger = tmp_path / "ledger.jsonl"
    settings = _durable(orchestrator, "restart-on-saved", tmp_path / "state")
    wf = Workflow("chain")
    step = workloads.ledgered_sleep_then
    previous = wf.task("s0", step, args=(str(ledger), "s0", 0.3, 0))
    for i in range(1, 6):
        previous = wf.task(f"s{i}", step, args=(str(ledger), f"s{i}", 0.3, previous.output))
    first = Orchestrator(settings=settings)
    run = first.submit(wf)
    _wait_for(run, 3)
    first.attach(run.id).pause()
    first.shutdown()
    # When a new supervisor starts on the same storage, and the workflow is resumed
    with Orchestrator(settings=settings) as second:
        again = second.attach(run.id)
        assert again.status().state is WorkflowState.PAUSED
        done_before = again.status().count(TaskState.SUCCEEDED)
        assert done_before >= 3
        again.resume()
        # Then it finishes; results from before come from the store
        assert again.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
        assert again.result("s0") == 0
        assert again.result("s5") == 0
    starts = _starts(ledger)
    assert set(starts.values()) == {1}, starts


def test_the_workflow_commands_steer_the_running_orchestrator(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    # Given a slow workflow on the running orchestrator (no checkpoint storage set)
    from click.testing import CliRunner

    from orchestrator.cli import main

    run = orchestrator.submit(_wide(tmp_path / "ledger.jsonl", 40, 0.1))
    runner = CliRunner()
    # status lists it; pause holds it (and says nothing was saved); resume and cancel
    listed = runner.invoke(main, ["status"])
    assert listed.exit_code == 0 and run.id in listed.output
    paused = runner.invoke(main, ["pause", run.id])
    assert paused.exit_code == 0, paused.output
    assert "no checkpoint storage is set" in paused.output
    assert run.status().state is WorkflowState.PAUSED
    shown = runner.invoke(main, ["status", run.id])
    assert shown.exit_code == 0 and "paused" in shown.output
    resumed = runner.invoke(main, ["resume", run.id])
    assert resumed.exit_code == 0 and "running" in resumed.output
    cancelled = runner.invoke(main, ["cancel", run.id, "--reason", "enough"])
    assert cancelled.exit_code == 0
    assert run.wait(timeout_s=60).state is WorkflowState.CANCELLED
    # Unknown workflows and finished ones are refused with exit code 2, naming them
    for args in (["pause", "nope"], ["resume", "nope"], ["cancel", "nope"], ["status", "nope"]):
        refused = runner.invoke(main, args)
        assert refused.exit_code == 2, (args, refused.output)
        assert "nope" in refused.output
    finished = runner.invoke(main, ["pause", run.id])
    assert finished.exit_code == 2 and "has finished" in finished.output
    assert runner.invoke(main, ["resume"]).exit_code == 2  # names nothing
    # The orchestrator is still up
    assert orchestrator.workflows()


def test_a_driver_joining_with_other_settings_is_told_which_differ(
    orchestrator: Orchestrator,
) -> None:
    settings = orchestrator.settings
    other = settings.model_copy(
        update={"heartbeat": settings.heartbeat.model_copy(update={"interval_s": 0.7})}
    )
    joined = Orchestrator(settings=other)
    with pytest.warns(UserWarning, match=r"heartbeat.interval_s: yours 0.7, running 0.2"):
        joined.start()
    assert joined.settings_mismatch == {"heartbeat.interval_s": (0.7, 0.2)}
    joined.shutdown()  # it only joined: the running supervisor stays up
    assert orchestrator.workflows() is not None
    same = Orchestrator(settings=settings).start()
    assert same.settings_mismatch == {}


def test_a_cached_result_is_reused_by_a_later_workflow_until_it_expires(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "ledger.jsonl")

    def workflow(name: str, ttl_s: float | None = None) -> Workflow:
        wf = Workflow(name)
        slow = wf.task(
            "slow", workloads.ledgered, args=(ledger, "slow", 21), cache=True, cache_ttl_s=ttl_s
        )
        wf.task("double", workloads.add, args=(slow.output, slow.output))
        return wf

    # Given a workflow whose cached task ran once
    first = orchestrator.run(workflow("first"))
    assert first.result("double") == 42
    # When a later workflow has the same task, Then it is not run again; its result is reused
    second = orchestrator.run(workflow("second"))
    assert second.status().state is WorkflowState.SUCCEEDED
    assert second.result("slow") == 21 and second.result("double") == 42
    assert second.task("slow").attempts == 0
    assert _starts(Path(ledger))["slow"] == 1
    # And past its expiry it runs again
    time.sleep(1.2)
    third = orchestrator.run(workflow("third", ttl_s=1.0))
    assert third.result("double") == 42
    assert _starts(Path(ledger))["slow"] == 2
    # A task whose key cannot be made refuses the workflow, naming it
    bad = Workflow("bad")
    bad.task("odd", workloads.add, args=(lambda: 1, 2), cache=True)
    with pytest.raises(WorkflowRejectedError, match=r"tasks\[.odd.\].cache"):
        orchestrator.submit(bad)


def test_a_supervisor_whose_process_crashes_is_restarted_by_ray_and_reloads(
    durable: Orchestrator, tmp_path: Path
) -> None:
    # Given a workflow running midway on a supervisor with durable state
    ledger = tmp_path / "ledger.jsonl"
    run = durable.submit(_wide(ledger, 120, 0.03))
    _wait_for(run, 40)
    handle = durable.supervisor
    pid = durable.client.process_stats()["pid"]
    # When its process dies (as a segfault or the out-of-memory killer would end it)
    os.kill(pid, signal.SIGKILL)
    # Then Ray restarts the same actor, which reloads its checkpoint and finishes
    assert run.wait(timeout_s=180).state is WorkflowState.SUCCEEDED
    assert durable.supervisor == handle
    assert durable.client.process_stats()["pid"] != pid
    assert set(_starts(ledger)) == {f"t{i:03d}" for i in range(120)}


_DETACHED_DRIVER = """
import sys
from orchestrator import Orchestrator, Workflow
from orchestrator.settings import CheckpointSettings, RaySettings, Settings
from tests.integration import workloads

address, name, ledger = sys.argv[1], sys.argv[2], sys.argv[3]
settings = Settings(ray=RaySettings(supervisor_name=name, detached=True, log_to_driver=False))
wf = Workflow("outlives-its-driver")
for i in range(6):
    wf.task(f"t{i}", workloads.ledgered_sleep, args=(ledger, f"t{i}", 0.5))
with Orchestrator(address, settings=settings) as orchestrator:
    print(orchestrator.submit(wf).id)
"""


def test_a_detached_supervisor_outlives_its_driver_and_another_attaches(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    # Given a driver process that submits a workflow to a detached supervisor and exits
    ledger = tmp_path / "ledger.jsonl"
    address = ray.get_runtime_context().gcs_address
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(Path.cwd())}
    driver = subprocess.run(
        [sys.executable, "-c", _DETACHED_DRIVER, address, "detached-sup", str(ledger)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert driver.returncode == 0, driver.stderr[-3000:]
    workflow_id = driver.stdout.strip().splitlines()[-1]
    # When another driver attaches by name, Then it follows the same workflow to its end
    settings = orchestrator.settings.model_copy(
        update={
            "ray": orchestrator.settings.ray.model_copy(update={"supervisor_name": "detached-sup"})
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its settings are the defaults, not this module's
        other = Orchestrator(settings=settings).start()
    try:
        assert other.attach(workflow_id).wait(timeout_s=60).state is WorkflowState.SUCCEEDED
        assert len(_starts(ledger)) == 6
    finally:
        other.client.stop()  # end the detached supervisor this test made


def test_a_schedule_fires_on_time_and_survives_its_supervisor(
    durable: Orchestrator, tmp_path: Path
) -> None:
    # Given a workflow scheduled every second on a supervisor with durable state
    ledger = str(tmp_path / "ledger.jsonl")
    wf = Workflow("tick")
    wf.task("beat", workloads.ledgered, args=(ledger, "beat", 1))
    added_s = time.time()
    info = durable.schedule(wf, name="every-second", every_s=1.0)
    returned_s = time.time()
    assert (info.name, info.every_s) == ("every-second", 1.0)
    _wait_until(lambda: durable.schedules()[0].runs >= 3, timeout_s=30)
    # Then each run is a workflow of its own, named by its firing time, and succeeds;
    # the first fired when the schedule was added, the next ones on the second
    first = durable.schedules()[0]
    runs = [s for s in durable.workflows() if s.workflow_id.startswith("every-second@")]
    assert len(runs) >= 3
    fired = [_fire_time(s.workflow_id) for s in runs[:3]]
    assert added_s - 0.01 <= fired[0] <= returned_s
    gaps = [b - a for a, b in itertools.pairwise(fired)]
    # whole seconds apart (a firing while the previous run still ran is skipped)
    assert all(round(gap) >= 1 and abs(gap - round(gap)) < 1e-3 for gap in gaps), gaps
    assert durable.attach(runs[0].workflow_id).wait(timeout_s=30).state is WorkflowState.SUCCEEDED
    # When the supervisor is killed, Then the new one has the schedule and it goes on
    ray.kill(durable.supervisor, no_restart=True)
    _wait_until(lambda: durable.schedules()[0].runs > first.runs + 1, timeout_s=60)
    # And once removed, it fires no more
    durable.unschedule("every-second")
    assert durable.schedules() == []
    started = {s.workflow_id for s in durable.workflows() if s.workflow_id.startswith("every")}
    time.sleep(2.5)
    later = {s.workflow_id for s in durable.workflows() if s.workflow_id.startswith("every")}
    assert later == started  # no run started since (those submitted before may still end)
    with pytest.raises(KeyError, match="every-second"):
        durable.unschedule("every-second")


def _fire_time(run_id: str) -> float:
    """The firing time in a run id such as ``name@20261129T004412.345Z``."""
    stamp = run_id.split("@", 1)[1].rstrip("Z")
    layout = "%Y%m%dT%H%M%S.%f" if "." in stamp else "%Y%m%dT%H%M%S"
    return datetime.strptime(stamp, layout).replace(tzinfo=UTC).timestamp()


def _wait_until(condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not true after {timeout_s}s"
        time.sleep(0.1)


def test_a_message_on_a_topic_starts_the_workflow_it_triggers(orchestrator: Orchestrator) -> None:
    wf = Workflow("order-received")
    echo = wf.task("echo", workloads.sleep_then, args=(0.0, EVENT_PAYLOAD))
    wf.task("total", workloads.total, args=(echo.output, 1))
    info = orchestrator.on("orders", wf, name="on-order")
    assert info.topic == "orders"
    [run_id] = orchestrator.publish("orders", 41)
    assert orchestrator.publish("nobody-listens", 1) == []
    run = orchestrator.attach(run_id)
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    assert (run.result("echo"), run.result("total")) == (41, 42)
    # The same from the command line: the list, a message, a refused payload
    from click.testing import CliRunner

    from orchestrator.cli import main

    runner = CliRunner()
    listed = runner.invoke(main, ["schedules"])
    assert listed.exit_code == 0 and "on-order" in listed.output and "on orders" in listed.output
    published = runner.invoke(main, ["publish", "orders", "--payload", "1"])
    assert published.exit_code == 0 and "started 1 run(s): on-order@event-" in published.output
    assert runner.invoke(main, ["publish", "orders", "--payload", "{nope"]).exit_code == 2
    orchestrator.unschedule("on-order")
    assert orchestrator.publish("orders", 1) == []


def test_tasks_added_to_a_running_workflow_survive_its_supervisor(
    durable: Orchestrator, tmp_path: Path
) -> None:
    # Given a slow chain running on a supervisor with durable state
    ledger = str(tmp_path / "ledger.jsonl")
    wf = Workflow("growing")
    first = wf.task("first", workloads.ledgered_sleep_then, args=(ledger, "first", 1.0, 20))
    wf.task("second", workloads.ledgered_sleep_then, args=(ledger, "second", 1.0, first.output))
    run = durable.submit(wf)
    # When tasks are added, one using a result of the running workflow
    more = Workflow("more")
    more.task("third", workloads.add, args=(OutputOf(output_of="second"), 1))
    assert run.add_tasks(more) == ["third"]
    bad = Workflow("bad")
    bad.task("fourth", workloads.add, args=(1, 2), depends_on=["ghost"])
    with pytest.raises(WorkflowRejectedError, match="ghost"):
        run.add_tasks(bad)
    # And the supervisor is killed before they ran
    ray.kill(durable.supervisor, no_restart=True)
    # Then the new supervisor has them, and the workflow ends with them
    assert run.wait(timeout_s=120).state is WorkflowState.SUCCEEDED
    assert run.result("third") == 21
    assert run.status().total == 3


def test_dependencies_added_to_a_running_workflow_survive_its_supervisor(
    durable: Orchestrator,
) -> None:
    # Given slow -> late running on a supervisor with durable state
    wf = Workflow("rewired")
    wf.task("slow", workloads.sleep_then, args=(1.0, "slow"))
    wf.task("late", workloads.add, args=(1, 2), depends_on=["slow"])
    run = durable.submit(wf)
    # When late must also wait for a new, slower task
    extra = Workflow("extra")
    extra.task("check", workloads.sleep_then, args=(4.0, "checked"))
    assert run.add_dependencies({"late": ["check"]}, tasks=extra) == ["check"]
    # And the supervisor is killed before late ran
    ray.kill(durable.supervisor, no_restart=True)
    # Then the new supervisor still makes late wait for check (stored with the spec)
    assert run.wait(timeout_s=120).state is WorkflowState.SUCCEEDED
    late, check = run.task("late"), run.task("check")
    assert late.started_s is not None and check.finished_s is not None
    assert late.started_s >= check.finished_s
    assert run.status().total == 3
