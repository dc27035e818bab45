"""`SimChecks`: what `SimRuntime` checks as it goes (a mixin; the runtime sets the fields).

Task events are recorded in the ledger, with the checks they allow (a success that no
attempt produced; results voided and computed again), and the calls in flight on each
agent are held to the policy's bound.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.core import (
    AgentPoolSpec,
    FakeClock,
    Scheduler,
    SchedulerConfig,
    TaskEvent,
    TaskState,
)
from orchestrator.testing.ledger import Ledger
from orchestrator.testing.sim_agents import SimAgent

_ENDED_WITHOUT_SUCCESS = frozenset({TaskState.FAILED, TaskState.SKIPPED, TaskState.CANCELLED})


class SimChecks:
    """The ledger-keeping and invariant checks of `SimRuntime`."""

    config: SchedulerConfig
    clock: FakeClock
    scheduler: Scheduler
    ledger: Ledger
    agents: dict[str, SimAgent]
    inflight: dict[str, set[int]]
    voided: set[tuple[str, str]]
    lost_results: set[tuple[str, str]]
    ended_without_success: set[tuple[str, str]]

    def _record_task_events(self, events: Iterable[TaskEvent]) -> None:
        ledger = self.ledger
        for event in events:
            ledger.task_events.append(event)
            key = (event.workflow_id, event.task_id)
            if event.state in _ENDED_WITHOUT_SUCCESS:
                self.ended_without_success.add(key)
            else:
                self.ended_without_success.discard(key)
            if event.state is TaskState.PENDING and ledger.results[key]:
                self.voided.add(key)  # its result is void: it will be computed again
            if event.state is TaskState.SUCCEEDED:
                self.voided.discard(key)
                self.lost_results.discard(key)
                ledger.results[key] += 1
                ledger.success_s.setdefault(key, self.clock.now_s())
                from_cache = event.message == "from the cache"  # it did not run at all
                if not from_cache and not ledger.effects.get((*key, event.attempt), False):
                    ledger.violations.append(
                        f"{key} succeeded with attempt {event.attempt}, which never succeeded"
                    )

    def call_bound(self, pool: AgentPoolSpec) -> int:
        """Return the most calls the policy allows in flight on one agent of ``pool``."""
        lane = pool.urgent_lane and self.config.urgent_lane
        return pool.max_concurrency + self.config.pipeline_depth + lane

    def _check_call_bound(self) -> None:
        live = self.scheduler.agents()
        for agent_id, calls in self.inflight.items():
            agent = self.agents.get(agent_id)
            if agent is None or agent_id not in live:
                continue
            self.ledger.max_calls_seen = max(self.ledger.max_calls_seen, len(calls))
            if len(calls) > self.call_bound(agent.pool):
                self.ledger.violations.append(
                    f"{agent_id} has {len(calls)} calls in flight "
                    f"(bound {self.call_bound(agent.pool)})"
                )
