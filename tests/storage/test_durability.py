"""`Durability`: when the supervisor saves, what each save holds, fencing, results, restore."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
import structlog

from orchestrator.core import FakeClock, TaskState, WorkflowRestored, WorkflowState
from orchestrator.core.commands import TaskEvent
from orchestrator.core.packed import PackedWorkflow
from orchestrator.durable import Journal
from orchestrator.runtime.durability import Durability, scope_prefix
from orchestrator.settings import CheckpointSettings
from orchestrator.storage import open_store
from orchestrator.testing import SimRuntime, SpecBuilder

_names = itertools.count()


def _settings(**fields: Any) -> CheckpointSettings:
    return CheckpointSettings(storage=f"memory://durability-{next(_names)}", **fields)


def _durability(settings: CheckpointSettings, clock: FakeClock) -> Durability:
    return Durability(settings, "ns/sup/", clock, structlog.get_logger("test"))


def _event(task_id: str, state: TaskState) -> TaskEvent:
    return TaskEvent("wf", task_id, state, 1, "")


def _run_midway() -> tuple[SimRuntime, PackedWorkflow]:
    spec = SpecBuilder()
    workflow = spec.workflow(*[spec.task(f"t{i}") for i in range(6)])
    sim = SimRuntime(duration_s=1.0)
    sim.submit(workflow)
    sim.run(until_s=sim.clock.now_s() + 2.5)
    return sim, PackedWorkflow.pack(workflow)


def test_scope_prefixes_keep_readable_names_and_encode_the_others() -> None:
    assert scope_prefix("orchestrator", "supervisor") == "orchestrator/supervisor/"
    odd = scope_prefix("team a", "sup/1")
    assert odd.count("/") == 2 and " " not in odd


def test_nothing_is_due_or_saved_without_storage() -> None:
    durability = _durability(CheckpointSettings(), FakeClock(0.0))
    durability.tasks_changed([_event("a", TaskState.SUCCEEDED)])
    assert not durability.enabled and not durability.due()
    assert durability.save([], lambda w, t: {}, lambda w, t: {}) is None
    assert durability.load() == []


def test_a_save_is_due_after_n_completions_or_when_a_full_one_is_due() -> None:
    clock = FakeClock(0.0)
    durability = _durability(_settings(every_n_completions=2, full_every_s=10.0), clock)
    assert not durability.due()
    durability.tasks_changed([_event("a", TaskState.RUNNING), _event("a", TaskState.SUCCEEDED)])
    assert durability.due() is True  # the first full checkpoint is due at once
    durability.save(["wf"], lambda w, t: {"id": w, "tasks": {}}, lambda w, t: {})
    durability.tasks_changed([_event("b", TaskState.FAILED)])
    assert not durability.due()  # one completion of two, and the full one is recent
    durability.tasks_changed([_event("c", TaskState.SUCCEEDED)])
    assert durability.due()
    durability.save(["wf"], lambda w, t: {"id": w, "tasks": {}}, lambda w, t: {})
    durability.workflow_changed("wf")
    assert not durability.due()
    clock.advance(10.0)
    assert durability.due()  # a change, and the full checkpoint's time


def test_saves_are_full_then_deltas_of_what_changed_and_restore_where_it_was() -> None:
    # Given a durability fed what a scheduler did, with its results
    sim, packed = _run_midway()
    settings = _settings()
    durability = _durability(settings, sim.clock)
    durability.admitted(packed)
    durability.tasks_changed(sim.ledger.task_events)
    asked: list[Any] = []

    def entry_of(workflow_id: str, task_ids: Any) -> dict[str, Any]:
        asked.append(None if task_ids is None else sorted(task_ids))
        return sim.scheduler.checkpoint_entry(workflow_id, task_ids)

    def fetch(workflow_id: str, task_ids: list[str]) -> dict[str, Any]:
        return {task_id: f"result of {task_id}" for task_id in task_ids}

    first = durability.save(["wf"], entry_of, fetch)
    assert first is not None and asked == [None]  # the first save is full
    # When one more task changes, Then the next save is a delta naming only it
    durability.tasks_changed([_event("t5", TaskState.RUNNING)])
    second = durability.save(["wf"], entry_of, fetch)
    assert second is not None and second > first and asked[-1] == ["t5"]
    # When a new incarnation loads it, Then it finds the workflow, its succeeded tasks'
    # results, and takes the next epoch
    again = _durability(settings, FakeClock(sim.clock.now_s()))
    [item] = again.load()
    assert again.epoch == 2
    succeeded = {
        i.task_id for i in sim.scheduler.task_infos("wf") if i.state is TaskState.SUCCEEDED
    }
    assert succeeded and set(item.results) == succeeded and item.missing_results == ()
    values = again.read_results("wf", item.results.values())
    assert values == {t: f"result of {t}" for t in succeeded}
    restored = SimRuntime(duration_s=1.0, clock=FakeClock(sim.clock.now_s()))
    restored.send(WorkflowRestored(workflow=item.spec, progress=item.entry))
    restored.run()
    assert restored.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
    assert not {o.task_id for _, _, o in restored.ledger.attempts} & succeeded


def test_a_stale_incarnation_is_fenced_and_stops_saving() -> None:
    settings = _settings()
    clock = FakeClock(0.0)
    old = _durability(settings, clock)
    old.save([], lambda w, t: {}, lambda w, t: {})
    new = _durability(settings, clock)
    new.load()
    assert new.epoch == 2
    assert new.save([], lambda w, t: {}, lambda w, t: {}) is not None
    old.workflow_changed("wf")
    assert old.save([], lambda w, t: {}, lambda w, t: {}) is None
    assert not old.due()  # fenced for good


def test_a_result_that_cannot_be_stored_is_left_out_and_the_rest_kept() -> None:
    settings = _settings()
    durability = _durability(settings, FakeClock(0.0))
    durability.tasks_changed(
        [_event("ok", TaskState.SUCCEEDED), _event("lock", TaskState.SUCCEEDED)]
    )

    def fetch(workflow_id: str, task_ids: list[str]) -> dict[str, Any]:
        return {"ok": 42, "lock": threading.Lock()}

    with structlog.testing.capture_logs() as logs:
        assert durability.save(["wf"], lambda w, t: {"id": w, "tasks": {}}, fetch) is not None
    assert [e["task_id"] for e in logs if e["event"] == "result.not_saved"] == ["lock"]
    journal = Journal(open_store(settings.storage), "ns/sup/")
    state = journal.load()
    assert state is not None
    # The segment holds what could be stored; a restore finds "lock" missing and, if a
    # task still needs it, runs it again (see `restoring`)
    [segment] = set(state.results["wf"].values())
    assert journal.read_results("wf", segment) == {"ok": 42}


def test_a_released_workflow_is_dropped_from_the_next_checkpoint_with_its_objects() -> None:
    sim, packed = _run_midway()
    settings = _settings()
    durability = _durability(settings, sim.clock)
    durability.admitted(packed)
    durability.save(["wf"], sim.scheduler.checkpoint_entry, lambda w, t: {})
    durability.released("wf")
    assert durability.save([], sim.scheduler.checkpoint_entry, lambda w, t: {}) is not None
    store = open_store(settings.storage)
    assert store.list("ns/sup/blobs/") == []
    assert _durability(settings, sim.clock).load() == []


@pytest.mark.parametrize("broken", ["spec.json", "spec.values"])
def test_a_workflow_whose_spec_is_damaged_is_left_out_and_said(broken: str) -> None:
    sim, packed = _run_midway()
    settings = _settings()
    durability = _durability(settings, sim.clock)
    durability.admitted(packed)
    durability.save(["wf"], sim.scheduler.checkpoint_entry, lambda w, t: {})
    journal = Journal(open_store(settings.storage), "ns/sup/")
    journal.blobs.put("wf", broken, b"\x00 damaged")
    with structlog.testing.capture_logs() as logs:
        assert _durability(settings, sim.clock).load() == []
    assert any(e["event"] == "workflow.not_restored" for e in logs)


def test_a_delta_carries_the_running_tasks_so_a_restore_charges_their_lost_attempts() -> None:
    # Given a full checkpoint taken before anything ran, then a delta midway
    spec = SpecBuilder()
    workflow = spec.workflow(*[spec.task(f"t{i}") for i in range(6)])
    sim = SimRuntime(duration_s=1.0)
    sim.submit(workflow)
    settings = _settings(full_every_s=3600.0)
    durability = _durability(settings, sim.clock)
    durability.admitted(PackedWorkflow.pack(workflow))
    durability.save(["wf"], sim.scheduler.checkpoint_entry, lambda w, t: {})
    sim.run(until_s=sim.clock.now_s() + 2.5)
    running = sim.scheduler.running_tasks()
    assert running["wf"]  # dispatched: their start is no task event
    durability.tasks_changed(sim.ledger.task_events)
    durability.save(
        ["wf"], sim.scheduler.checkpoint_entry, lambda w, t: dict.fromkeys(t, 0), None, running
    )
    # When a new incarnation restores it, Then those tasks come back charged one loss
    [item] = _durability(settings, sim.clock).load()
    restored = SimRuntime(duration_s=1.0, clock=FakeClock(sim.clock.now_s()))
    restored.send(WorkflowRestored(workflow=item.spec, progress=item.entry))
    for task_id in running["wf"]:
        assert item.entry["tasks"][task_id][:2] == ["running", 1]
        # its lost attempt counted, and it was dispatched again at once
        assert restored.scheduler.task_info("wf", task_id).attempts == 2
    restored.run()
    assert restored.scheduler.workflow_status("wf").state is WorkflowState.SUCCEEDED
