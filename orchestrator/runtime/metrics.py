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

import bisect
import itertools
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from orchestrator.core.clock import Clock
from orchestrator.core.commands import (
    AttemptOrder,
    Command,
    DispatchBatch,
    PublishTaskEvents,
    StopAgent,
    TaskEvent,
)
from orchestrator.core.deadlines import MISS_MESSAGE_PREFIXES
from orchestrator.core.events import AttemptOutcome
from orchestrator.core.specs import Priority
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


_PRIORITY_TAGS = {priority: (priority.name.lower(),) for priority in Priority}
_STATE = itemgetter(2)  # TaskEvent.state
_MESSAGE = itemgetter(4)  # TaskEvent.message


def pool_of_agent(agent_id: str) -> str:
    """Return the pool key of agent ``agent_id`` (``<pool key>#<n>``)."""
    pool, sep, _ = agent_id.rpartition("#")
    return pool if sep else agent_id


@dataclass
class MetricsTally:
    """What happened since the last flush, kept as it came (no Ray, next to no work).

    The hot paths only append: a command list's task events (one tuple per command) and a
    finished call's orders and outcomes (one tuple per call). `drain` turns them into
    counter amounts and histogram timings once per interval: states are counted with
    `collections.Counter` over the events, and at most ``max_timings`` attempts (a uniform
    sample of those finished) give timings.

    Attributes:
        counters: (metric name, tag values) -> amount, for what is counted as it comes.
        max_timings: Most attempts whose timings are handed over per drain.
    """

    max_timings: int = 1000
    counters: dict[tuple[str, tuple[str, ...]], float] = field(default_factory=dict)
    _events: list[tuple[TaskEvent, ...]] = field(default_factory=list)
    _calls: list[tuple[Sequence[AttemptOrder], Sequence[AttemptOutcome], str]] = field(
        default_factory=list
    )
    _random: random.Random = field(default_factory=lambda: random.Random(0))

    def count(self, name: str, tags: tuple[str, ...] = (), amount: float = 1.0) -> None:
        """Add ``amount`` to counter ``name`` with ``tags``."""
        key = (name, tags)
        self.counters[key] = self.counters.get(key, 0.0) + amount

    def commands(self, commands: Sequence[Command]) -> None:
        """Keep what ``commands`` say happened: dispatches, task events, agent losses."""
        for command in commands:
            if isinstance(command, PublishTaskEvents):
                self._events.append(command.events)
            elif isinstance(command, DispatchBatch):
                self.count(
                    "orchestrator_dispatched_attempts",
                    (pool_of_agent(command.agent_id),),
                    len(command.attempts),
                )
            elif isinstance(command, StopAgent) and command.lost:
                self.count("orchestrator_agent_losses", (pool_of_agent(command.agent_id),))

    def call_finished(
        self,
        orders: Sequence[AttemptOrder],
        outcomes: Sequence[AttemptOutcome],
        agent_id: str,
    ) -> None:
        """Keep a finished call's attempts (their queue waits and run times, at drain)."""
        self._calls.append((orders, outcomes, agent_id))

    def drain(
        self,
    ) -> tuple[dict[tuple[str, tuple[str, ...]], float], list[tuple[str, tuple[str, ...], float]]]:
        """Return the counter amounts and timings gathered, and start afresh."""
        counters = self.counters
        events, calls = self._events, self._calls
        self.counters, self._events, self._calls = {}, [], []
        states: Counter[TaskState] = Counter()
        misses = 0
        for batch in events:
            states.update(map(_STATE, batch))
            for message in filter(None, map(_MESSAGE, batch)):  # successes have none
                misses += message.startswith(MISS_MESSAGE_PREFIXES)
        amounts: dict[tuple[str, tuple[str, ...]], int] = {
            ("orchestrator_retries", ()): states[TaskState.RETRY_WAIT],
            ("orchestrator_dead_letters", ()): states[TaskState.FAILED],
            ("orchestrator_deadline_misses", ()): misses,
        }
        for state, label in _FINISHED.items():
            amounts["orchestrator_tasks_finished", (label,)] = states[state]
        for key, amount in amounts.items():
            if amount:
                counters[key] = counters.get(key, 0.0) + amount
        return counters, self._timings(calls)

    def _timings(
        self, calls: list[tuple[Sequence[AttemptOrder], Sequence[AttemptOutcome], str]]
    ) -> list[tuple[str, tuple[str, ...], float]]:
        sizes = list(itertools.accumulate(len(orders) for orders, _, _ in calls))
        total = sizes[-1] if sizes else 0
        picked = (
            range(total)
            if total <= self.max_timings
            else sorted(self._random.sample(range(total), self.max_timings))
        )
        timings: list[tuple[str, tuple[str, ...], float]] = []
        pools: dict[str, tuple[str]] = {}
        for index in picked:
            call = bisect.bisect_right(sizes, index)
            orders, outcomes, agent_id = calls[call]
            offset = index - (sizes[call - 1] if call else 0)
            order, outcome = orders[offset], outcomes[offset]
            priority = _PRIORITY_TAGS[order.priority]
            timings.append(("orchestrator_queue_wait_seconds", priority, order.queued_s))
            run_time_s = max(outcome.finished_s - outcome.started_s, 0.0)
            pool = pools.get(agent_id)
            if pool is None:
                pool = pools[agent_id] = (pool_of_agent(agent_id),)
            timings.append(("orchestrator_run_time_seconds", pool, run_time_s))
        return timings


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

    def call_finished(
        self,
        orders: Sequence[AttemptOrder],
        outcomes: Sequence[AttemptOutcome],
        agent_id: str,
    ) -> None:
        """Keep a finished call's attempts (the dispatcher calls it once per call)."""
        if self._settings.enabled:
            self.tally.call_finished(orders, outcomes, agent_id)

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
