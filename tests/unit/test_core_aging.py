"""Aging: BACKGROUND work still progresses under a steady stream of HIGH work."""

from __future__ import annotations

import math
from typing import Any

from orchestrator.core import SchedulerConfig, TaskState
from orchestrator.core.aging import age
from orchestrator.core.queue import PriorityTaskQueue


def _stream_of_high_work(spec: Any, make_sim: Any, aging_s: float | None) -> Any:
    """One agent busy with HIGH work; a BACKGROUND task queued at t=0, and a new HIGH task
    of 1.5 s every second (the backlog of HIGH work only grows)."""
    sim = make_sim(config=SchedulerConfig(aging_s=aging_s), duration_s=1.5)
    sim.submit(spec.workflow(spec.task("hot", priority="high"), workflow_id="hi-first"))
    sim.submit(spec.workflow(spec.task("slow-lane", priority="background"), workflow_id="bg"))
    start_s = sim.clock.now_s()
    for second in range(1, 100):
        workflow = spec.workflow(spec.task("hot", priority="high"), workflow_id=f"hi{second}")
        sim.at(start_s + second, lambda w=workflow: sim.submit(w))
    sim.run(until_s=start_s + 100.0)
    return sim


def _started_s(sim: Any, workflow_id: str) -> list[float]:
    return [t for t, _, o in sim.ledger.attempts if o.workflow_id == workflow_id]


def test_without_aging_background_work_starves(spec: Any, make_sim: Any) -> None:
    sim = _stream_of_high_work(spec, make_sim, aging_s=None)
    assert _started_s(sim, "bg") == []
    assert sim.scheduler.task_info("bg", "slow-lane").state is TaskState.READY


def test_with_aging_it_starts_once_it_reached_high_ahead_of_later_high_work(
    spec: Any, make_sim: Any
) -> None:
    sim = _stream_of_high_work(spec, make_sim, aging_s=10.0)
    [started] = _started_s(sim, "bg")
    start_s = sim.ledger.attempts[0][0]
    # BACKGROUND (4) -> HIGH (1) takes three aging periods (30 s), checked every 2.5 s;
    # then it waits at most for the task running
    assert 30.0 <= started - start_s <= 30.0 + 2.5 + 1.5
    # Its reported priority is still its own
    assert sim.scheduler.task_info("bg", "slow-lane").priority.name == "BACKGROUND"


def test_aging_never_lifts_a_task_to_critical(spec: Any, make_sim: Any) -> None:
    # A CRITICAL task submitted late still goes before a long-aged BACKGROUND one
    sim = make_sim(config=SchedulerConfig(aging_s=1.0), duration_s=5.0)
    sim.submit(spec.workflow(spec.task("busy"), workflow_id="busy"))
    sim.submit(spec.workflow(spec.task("old", priority="background"), workflow_id="bg"))
    start_s = sim.clock.now_s()
    sim.at(
        start_s + 4.0,
        lambda: sim.submit(
            spec.workflow(spec.task("now", priority="critical"), workflow_id="crit")
        ),
    )
    sim.run()
    order = [o.workflow_id for _, _, o in sim.ledger.attempts]
    assert order == ["busy", "crit", "bg"]


def test_reprioritize_keeps_deadline_rank_and_place() -> None:
    queue: PriorityTaskQueue[str] = PriorityTaskQueue()
    queue.push("early-low", 4)
    queue.push("high", 1)
    queue.push("late-high", 1)
    queue.reprioritize("early-low", 1)
    assert [queue.pop() for _ in range(3)] == ["early-low", "high", "late-high"]
    assert sorted(PriorityTaskQueue[str]().queued()) == []


def _pool_with(tasks: list[tuple[str, int, float]]) -> tuple[Any, dict[str, Any]]:
    """A pool whose ready queue holds ``(id, priority, ready_s)`` tasks of one workflow."""
    from orchestrator.core import RetryPolicy, TaskGraph
    from orchestrator.core.pools import AgentPoolSpec
    from orchestrator.core.records import PoolRecord, WorkflowRecord, task_record
    from orchestrator.core.resources import ResourceSpec

    spec = AgentPoolSpec(key="p", agent_class="m:C", resources=ResourceSpec(), max_replicas=1)
    pool = PoolRecord(spec=spec, shape=spec.resources.as_vector())
    workflow = WorkflowRecord(name="wf", workflow_id="wf", graph=TaskGraph(), submitted_s=0.0)
    records = {}
    for task_id, priority, ready_s in tasks:
        record = task_record(
            workflow=workflow, task_id=task_id, function="m:f", args=(), kwargs={},
            retry=RetryPolicy(), timeout_s=None, pool=pool, inputs=(), priority=priority,
            deadline_s=math.inf, rank=0.0, estimate_s=None,
        )  # fmt: skip
        record.ready_s = ready_s
        pool.ready.push(record, priority)
        records[task_id] = record
    return pool, records


def _levels(pool: Any) -> dict[str, int]:
    return {task.task_id: level for task, level in pool.ready.queued()}


def test_a_backlog_is_not_lifted_above_its_own_level_when_nothing_more_urgent_waits() -> None:
    # Old MEDIUM work and a fresh MEDIUM task: nothing to overtake, so no aging; the fresh
    # one is served fairly beside the backlog, not after it
    pool, _ = _pool_with([("old", 2, 0.0), ("fresh", 2, 500.0)])
    assert age([pool], now_s=500.0, aging_s=10.0) == []
    assert _levels(pool) == {"old": 2, "fresh": 2}


def test_aging_lifts_up_to_the_most_urgent_waiting_work_then_back_down() -> None:
    pool, records = _pool_with([("bg", 4, 0.0), ("low", 3, 0.0), ("high", 1, 95.0)])
    assert age([pool], now_s=100.0, aging_s=10.0) == [pool]
    # Up to HIGH (what waits), not beyond; "high" itself is not lifted
    assert _levels(pool) == {"bg": 1, "low": 1, "high": 1}
    pool.ready.remove(records["high"])  # the HIGH work is gone
    assert age([pool], now_s=101.0, aging_s=10.0) == [pool]
    # back to the most urgent level still waiting (LOW): "bg" and "low" now share it
    assert _levels(pool) == {"bg": 3, "low": 3}
