"""`SupervisorMetrics`: the orchestrator's metrics on Ray's Prometheus endpoint.

Fed from what the supervisor already does, and cheap on its hot paths: the commands it
executes and the attempts its dispatcher collects are only *counted* into plain dicts
(`MetricsTally`); every ``metrics.interval_s`` the loop samples the scheduler's statistics
for the gauges and hands the counts and timings to ``ray.util.metrics`` in one go. Ray
exports them on each node's metrics port (about 10 s later) as ``ray_orchestrator_*``,
which the Ray dashboard's Metrics view and Prometheus read.

Pools are named by their key (``WordCounter``, ``functions[cpu=1,gpu=0,mem=0]``); an
agent's pool is its id up to the ``#`` (ids are ``<pool key>#<n>``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.clock import Clock
from orchestrator.core.commands import (
    AttemptOrder,
    Command,
    DispatchBatch,
    PublishTaskEvents,
    StopAgent,
)
from orchestrator.core.deadlines import MISS_MESSAGE_PREFIXES
from orchestrator.core.events import AttemptOutcome
from orchestrator.core.states import TaskState
from orchestrator.core.status import SchedulerStatistics
from orchestrator.settings import MetricsSettings

#: Every metric this module defines: name -> (kind, tag keys, description).
METRICS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "orchestrator_queue_depth": ("gauge", ("pool", "priority"), "Ready tasks waiting"),
    "orchestrator_attempts_running": ("gauge", ("pool",), "Attempts running on agents"),
    "orchestrator_agents": ("gauge", ("pool",), "Live agent replicas"),
    "orchestrator_agent_utilisation": (
        "gauge",
        ("pool",),
        "Fraction of a pool's replicas with a call in flight",
    ),
    "orchestrator_breaker_state": (
        "gauge",
        ("pool",),
        "Circuit breaker: 0 closed, 1 half-open, 2 open",
    ),
    "orchestrator_workflows_running": ("gauge", (), "Workflows not finished"),
    "orchestrator_dispatched_attempts": ("counter", ("pool",), "Attempts handed to agents"),
    "orchestrator_tasks_finished": (
        "counter",
        ("state",),
        "Tasks that ended: succeeded, failed, skipped, cancelled",
    ),
    "orchestrator_retries": ("counter", (), "Attempts that failed and will be retried"),
    "orchestrator_agent_losses": ("counter", ("pool",), "Agents lost (died, hung, node gone)"),
    "orchestrator_deadline_misses": ("counter", (), "Tasks whose deadline passed before end"),
    "orchestrator_dead_letters": ("counter", (), "Tasks failed for good (dead letters)"),
    "orchestrator_queue_wait_seconds": (
        "histogram",
        ("priority",),
        "Time a task waited in its pool's ready queue",
    ),
    "orchestrator_run_time_seconds": ("histogram", ("pool",), "Attempt run time on its agent"),
}

#: Histogram bucket bounds (seconds): from a millisecond to an hour.
TIME_BOUNDARIES_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)

_BREAKER_LEVELS = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
_FINISHED = {
    TaskState.SUCCEEDED: "succeeded",
    TaskState.FAILED: "failed",
    TaskState.SKIPPED: "skipped",
    TaskState.CANCELLED: "cancelled",
}


def pool_of_agent(agent_id: str) -> str:
    """Return the pool key of agent ``agent_id`` (``<pool key>#<n>``)."""
    pool, sep, _ = agent_id.rpartition("#")
    return pool if sep else agent_id


@dataclass
class MetricsTally:
    """What happened since the last flush, counted in plain dicts (no Ray).

    Attributes:
        counters: (metric name, tag values) -> amount.
        timings: (metric name, tag values, seconds) kept for the histograms.
        timings_seen: Timings offered since the last flush (``timings`` keeps a sample).
        max_timings: Most timings kept (reservoir sampling beyond).
    """

    max_timings: int = 5000
    counters: dict[tuple[str, tuple[str, ...]], float] = field(default_factory=dict)
    timings: list[tuple[str, tuple[str, ...], float]] = field(default_factory=list)
    timings_seen: int = 0
    _random: random.Random = field(default_factory=lambda: random.Random(0))

    def count(self, name: str, tags: tuple[str, ...] = (), amount: float = 1.0) -> None:
        """Add ``amount`` to counter ``name`` with ``tags``."""
        key = (name, tags)
        self.counters[key] = self.counters.get(key, 0.0) + amount

    def time(self, name: str, tags: tuple[str, ...], seconds: float) -> None:
        """Keep a timing for histogram ``name`` (a uniform sample past ``max_timings``)."""
        self.timings_seen += 1
        if len(self.timings) < self.max_timings:
            self.timings.append((name, tags, seconds))
            return
        slot = self._random.randrange(self.timings_seen)
        if slot < self.max_timings:
            self.timings[slot] = (name, tags, seconds)

    def commands(self, commands: Sequence[Command]) -> None:
        """Count dispatches, task ends, retries, misses, dead letters and agent losses."""
        for command in commands:
            if isinstance(command, DispatchBatch):
                self.count(
                    "orchestrator_dispatched_attempts",
                    (pool_of_agent(command.agent_id),),
                    len(command.attempts),
                )
            elif isinstance(command, PublishTaskEvents):
                self._task_events(command)
            elif isinstance(command, StopAgent) and command.lost:
                self.count("orchestrator_agent_losses", (pool_of_agent(command.agent_id),))

    def _task_events(self, command: PublishTaskEvents) -> None:
        for event in command.events:
            state = event.state
            if event.message.startswith(MISS_MESSAGE_PREFIXES):
                self.count("orchestrator_deadline_misses")
            if state is TaskState.RETRY_WAIT:
                self.count("orchestrator_retries")
                continue
            finished = _FINISHED.get(state)
            if finished is None:
                continue
            self.count("orchestrator_tasks_finished", (finished,))
            if state is TaskState.FAILED:
                self.count("orchestrator_dead_letters")

    def attempt_finished(self, order: AttemptOrder, outcome: AttemptOutcome, agent_id: str) -> None:
        """Keep an attempt's queue wait and run time."""
        self.time("orchestrator_queue_wait_seconds", (order.priority.name.lower(),), order.queued_s)
        run_time_s = max(outcome.finished_s - outcome.started_s, 0.0)
        self.time("orchestrator_run_time_seconds", (pool_of_agent(agent_id),), run_time_s)

    def drain(
        self,
    ) -> tuple[dict[tuple[str, tuple[str, ...]], float], list[tuple[str, tuple[str, ...], float]]]:
        """Return the counters and timings gathered, and start counting afresh."""
        counters, timings = self.counters, self.timings
        self.counters, self.timings, self.timings_seen = {}, [], 0
        return counters, timings


def gauge_values(statistics: SchedulerStatistics) -> dict[tuple[str, tuple[str, ...]], float]:
    """Return every gauge's value, by (metric name, tag values), from ``statistics``."""
    values: dict[tuple[str, tuple[str, ...]], float] = {
        ("orchestrator_workflows_running", ()): float(statistics.workflows_running)
    }
    for pool, stats in statistics.pools.items():
        for priority, depth in stats.ready_by_priority.items():
            values["orchestrator_queue_depth", (pool, priority)] = float(depth)
        values["orchestrator_attempts_running", (pool,)] = float(stats.attempts_running)
        values["orchestrator_agents", (pool,)] = float(stats.agents)
        utilisation = stats.busy_agents / stats.agents if stats.agents else 0.0
        values["orchestrator_agent_utilisation", (pool,)] = utilisation
        if stats.breaker is not None:
            values["orchestrator_breaker_state", (pool,)] = _BREAKER_LEVELS.get(stats.breaker, 0.0)
    return values


def _ray_instruments() -> dict[str, Any]:
    from ray.util import metrics

    instruments: dict[str, Any] = {}
    for name, (kind, tag_keys, description) in METRICS.items():
        if kind == "gauge":
            instruments[name] = metrics.Gauge(name, description, tag_keys=tag_keys)
        elif kind == "counter":
            instruments[name] = metrics.Counter(name, description, tag_keys=tag_keys)
        else:
            instruments[name] = metrics.Histogram(
                name, description, boundaries=list(TIME_BOUNDARIES_S), tag_keys=tag_keys
            )
    return instruments


class SupervisorMetrics:
    """The supervisor's metrics: counted as things happen, handed to Ray every interval.

    Args:
        settings: Whether, and how often.
        clock: The supervisor's clock (when the next flush is due).
        instruments: Metric name -> an object with ``set``/``inc``/``observe`` as
            ``ray.util.metrics`` has (by default Ray's, made here; tests pass their own).
    """

    def __init__(
        self,
        settings: MetricsSettings,
        clock: Clock,
        instruments: dict[str, Any] | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self.tally = MetricsTally(max_timings=settings.max_timings_per_interval)
        self._instruments = (
            instruments
            if instruments is not None
            else (_ray_instruments() if settings.enabled else {})
        )
        self._next_flush_s = 0.0
        self._gauges_set: set[tuple[str, tuple[str, ...]]] = set()

    def commands(self, commands: Sequence[Command]) -> None:
        """Count what ``commands`` say happened (the supervisor calls it as it executes)."""
        if self._settings.enabled:
            self.tally.commands(commands)

    def attempt_finished(self, order: AttemptOrder, outcome: AttemptOutcome, agent_id: str) -> None:
        """Keep an attempt's timings (the dispatcher calls it per collected attempt)."""
        if self._settings.enabled:
            self.tally.attempt_finished(order, outcome, agent_id)

    def tick(self, statistics: Callable[[], SchedulerStatistics]) -> bool:
        """Flush when ``interval_s`` has passed since the last flush; return whether it did."""
        if not self._settings.enabled or self._clock.now_s() < self._next_flush_s:
            return False
        self.flush(statistics())
        return True

    def flush(self, statistics: SchedulerStatistics) -> None:
        """Set the gauges from ``statistics``; hand over the counts and timings gathered."""
        self._next_flush_s = self._clock.now_s() + self._settings.interval_s
        gauges = gauge_values(statistics)
        # A pool or priority that went away reads 0, not its last value, forever.
        for key in self._gauges_set - gauges.keys():
            gauges[key] = 0.0
        self._gauges_set = {key for key, value in gauges.items() if value}
        instruments = self._instruments
        for (name, tags), value in gauges.items():
            instruments[name].set(value, tags=_tags(name, tags))
        counters, timings = self.tally.drain()
        for (name, tags), amount in counters.items():
            if amount > 0:
                instruments[name].inc(amount, tags=_tags(name, tags))
        for name, tags, seconds in timings:
            instruments[name].observe(seconds, tags=_tags(name, tags))


def _tags(name: str, values: tuple[str, ...]) -> dict[str, str]:
    return dict(zip(METRICS[name][1], values, strict=True))
