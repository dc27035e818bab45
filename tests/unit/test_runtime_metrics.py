"""Metrics: what the supervisor counts from its commands and attempts, and hands to Ray.

The core runs on the simulated runtime (fake clock); the instruments are recorders with
``ray.util.metrics``' methods, so no Ray is needed here. The Prometheus endpoint itself is
checked in tests/integration/test_metrics.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.core import AttemptOrder, Priority
from orchestrator.core.clock import FakeClock
from orchestrator.core.commands import Command
from orchestrator.core.events import AttemptOutcome
from orchestrator.core.specs import RetryPolicy
from orchestrator.core.status import SchedulerStatistics
from orchestrator.runtime.metrics import (
    METRICS,
    MetricsTally,
    SupervisorMetrics,
    pool_of_agent,
)
from orchestrator.settings import MetricsSettings
from orchestrator.testing import Behaviour, SimRuntime, SpecBuilder
from orchestrator.testing.specs import START_S


class Recorder:
    """Stands for a ray.util.metrics instrument: remembers what it was given."""

    def __init__(self) -> None:
        self.values: dict[tuple[tuple[str, str], ...], float] = {}
        self.observed: list[tuple[float, dict[str, str]]] = []

    def set(self, value: float, tags: dict[str, str]) -> None:
        self.values[tuple(sorted(tags.items()))] = value

    def inc(self, value: float, tags: dict[str, str]) -> None:
        key = tuple(sorted(tags.items()))
        self.values[key] = self.values.get(key, 0.0) + value

    def observe(self, value: float, tags: dict[str, str]) -> None:
        self.observed.append((value, tags))


def _recorders() -> dict[str, Any]:
    return {name: Recorder() for name in METRICS}


def _run_with_metrics(
    sim: SimRuntime, metrics: SupervisorMetrics
) -> Callable[[list[Command]], None]:
    """Feed every command list the simulated runtime executes to ``metrics`` first."""
    original = sim.execute

    def execute(commands: list[Command]) -> None:
        metrics.commands(commands)
        original(commands)

    sim.execute = execute  # type: ignore[method-assign]
    return execute


def test_a_run_with_a_retry_and_a_failure_is_counted() -> None:
    # Given a workflow of three tasks: "flaky" fails once then succeeds, "bad" always fails.
    tries: dict[str, int] = {}

    def behaviour(order: AttemptOrder) -> Behaviour:
        tries[order.task_id] = tries.get(order.task_id, 0) + 1
        if order.task_id == "bad" or (order.task_id == "flaky" and tries["flaky"] == 1):
            return Behaviour(0.5, ok=False)
        return Behaviour(0.5)

    sim = SimRuntime(behaviour=behaviour)
    instruments = _recorders()
    metrics = SupervisorMetrics(MetricsSettings(interval_s=1.0), sim.clock, instruments)
    _run_with_metrics(sim, metrics)
    spec = SpecBuilder()
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.1)
    sim.submit(
        spec.workflow(
            spec.task("ok"),
            spec.task("flaky", retry=retry),
            spec.task("bad", retry=RetryPolicy(max_attempts=1)),
        )
    )
    # When it runs to the end and the metrics are flushed.
    sim.run()
    metrics.flush(sim.scheduler.statistics())

    # Then every attempt, the retry, the ends and the dead letter are counted.
    def value(name: str, **tags: str) -> float:
        return instruments[name].values.get(tuple(sorted(tags.items())), 0.0)  # type: ignore[no-any-return]

    assert value("orchestrator_dispatched_attempts", pool="worker") == 4
    assert value("orchestrator_retries") == 1
    assert value("orchestrator_tasks_finished", state="succeeded") == 2
    assert value("orchestrator_tasks_finished", state="failed") == 1
    assert value("orchestrator_dead_letters") == 1
    assert value("orchestrator_workflows_running") == 0
    assert value("orchestrator_agents", pool="worker") == 1
    assert value("orchestrator_attempts_running", pool="worker") == 0


def test_gauges_read_the_queues_per_priority_and_pool_while_work_waits() -> None:
    sim = SimRuntime(duration_s=10.0)
    instruments = _recorders()
    metrics = SupervisorMetrics(MetricsSettings(interval_s=1.0), sim.clock, instruments)
    spec = SpecBuilder()
    tasks = [spec.task(f"h{i}", priority=Priority.HIGH) for i in range(3)]
    tasks += [spec.task(f"b{i}", priority=Priority.BACKGROUND) for i in range(2)]
    sim.submit(spec.workflow(*tasks))  # one replica: one runs, the rest wait
    metrics.flush(sim.scheduler.statistics())
    depth = instruments["orchestrator_queue_depth"].values
    assert depth[(("pool", "worker"), ("priority", "high"))] == 2
    assert depth[(("pool", "worker"), ("priority", "background"))] == 2
    assert instruments["orchestrator_attempts_running"].values[(("pool", "worker"),)] == 1
    assert instruments["orchestrator_agent_utilisation"].values[(("pool", "worker"),)] == 1.0
    assert instruments["orchestrator_workflows_running"].values[()] == 1

    # Once the queue is empty, the priorities that had waiters read 0, not their last value.
    sim.run()
    metrics.flush(sim.scheduler.statistics())
    assert depth[(("pool", "worker"), ("priority", "high"))] == 0
    assert depth[(("pool", "worker"), ("priority", "background"))] == 0


def test_attempt_timings_go_to_the_histograms_by_priority_and_pool() -> None:
    clock = FakeClock(100.0)
    instruments = _recorders()
    metrics = SupervisorMetrics(MetricsSettings(), clock, instruments)
    order = AttemptOrder(1, "wf", "t", 1, None, (), {}, (), Priority.LOW, queued_s=2.5)
    metrics.call_finished((order,), (AttemptOutcome(1, True, 10.0, 10.75),), "Coder#3")
    assert metrics.tick(sim_statistics)
    assert instruments["orchestrator_queue_wait_seconds"].observed == [(2.5, {"priority": "low"})]
    assert instruments["orchestrator_run_time_seconds"].observed == [(0.75, {"pool": "Coder"})]
    # Not again before interval_s has passed; then again.
    assert not metrics.tick(sim_statistics)
    clock.advance(2.0)
    assert metrics.tick(sim_statistics)


def sim_statistics() -> SchedulerStatistics:
    return SimRuntime().scheduler.statistics()


def test_timings_beyond_the_cap_are_sampled_not_all_kept() -> None:
    tally = MetricsTally(max_timings=10)
    for call in range(100):  # 100 calls of 10 attempts, queued 0..999 s
        orders = [
            AttemptOrder(i, "wf", f"t{i}", 1, None, (), {}, (), Priority.LOW, queued_s=float(i))
            for i in range(call * 10, call * 10 + 10)
        ]
        outcomes = [AttemptOutcome(o.attempt_id, True, 0.0, 1.0) for o in orders]
        tally.call_finished(orders, outcomes, "p#1")
    counters, timings = tally.drain()
    waits = [s for name, _, s in timings if name == "orchestrator_queue_wait_seconds"]
    assert len(waits) == 10 and len(timings) == 20
    # A uniform sample of the thousand, not the first ten, each attempt at most once.
    assert max(waits) > 100 and len(set(waits)) == 10
    assert counters == {}
    assert tally.drain() == ({}, [])  # drained: nothing twice


def test_disabled_metrics_record_nothing_and_make_no_instruments() -> None:
    metrics = SupervisorMetrics(MetricsSettings(enabled=False), FakeClock())
    order = AttemptOrder(1, "wf", "t", 1, None, (), {}, (), Priority.LOW)
    metrics.call_finished((order,), (AttemptOutcome(1, True, 1.0, 2.0),), "a#1")
    assert metrics.tally.drain() == ({}, [])
    assert not metrics.tick(sim_statistics)


@pytest.mark.parametrize(
    ("agent_id", "pool"),
    [("Coder#3", "Coder"), ("functions[cpu=1,gpu=0,mem=0]#12", "functions[cpu=1,gpu=0,mem=0]")],
)
def test_an_agents_pool_is_its_id_up_to_the_hash(agent_id: str, pool: str) -> None:
    assert pool_of_agent(agent_id) == pool


def test_a_missed_deadline_is_counted_once() -> None:
    sim = SimRuntime(duration_s=10.0)
    instruments = _recorders()
    metrics = SupervisorMetrics(MetricsSettings(), sim.clock, instruments)
    _run_with_metrics(sim, metrics)
    spec = SpecBuilder()
    soon = datetime.fromtimestamp(START_S + 1.0, UTC)  # passes while it runs
    sim.submit(spec.workflow(spec.task("slow", deadline=soon), spec.task("fine")))
    sim.run()
    metrics.flush(sim.scheduler.statistics())
    assert instruments["orchestrator_deadline_misses"].values == {(): 1.0}
    assert instruments["orchestrator_tasks_finished"].values[(("state", "succeeded"),)] == 2
