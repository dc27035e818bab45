"""`SimChecks`: what `SimRuntime` checks as it goes (a mixin; the runtime sets the fields).

Task events are recorded in the ledger, with the checks they allow (a success that no
attempt produced; results voided and computed again), and the calls in flight on each
agent are held to the policy's bound, and the CPUs the attempts running on each node use
to the node's (`_check_cores`).
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.core import (
    AgentPoolSpec,
    AttemptOrder,
    FakeClock,
    NodeCapacity,
    Scheduler,
    SchedulerConfig,
    TaskEvent,
    TaskState,
    WorkflowSpec,
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
    specs: dict[str, WorkflowSpec]
    nodes: tuple[NodeCapacity, ...]
    # The CPUs each plain function task declares (None: an agent's task), found when needed.
    function_cores: dict[tuple[str, str], float | None]

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

    def _cores(self, agent: SimAgent, order: AttemptOrder) -> float:
        """Return the CPUs ``order`` uses while it runs on ``agent``.

        A plain function uses what its task declares (a ganged one more than its agent
        reserves); an agent's task, its share of the agent's CPUs.
        """
        key = (order.workflow_id, order.task_id)
        if key not in self.function_cores:
            spec = self.specs.get(order.workflow_id)
            default = self.config.default_function_resources
            for task in () if spec is None else spec.tasks:
                if task.agent is None:
                    declared = (task.resources or default).num_cpus
                    self.function_cores[(order.workflow_id, task.id)] = declared
            self.function_cores.setdefault(key, None)
        cores = self.function_cores[key]
        if cores is not None:
            return cores
        return agent.pool.resources.num_cpus / agent.pool.max_concurrency

    def _check_cores(self) -> None:
        """No node runs attempts needing more CPUs than it has (urgent lanes aside)."""
        if not self.nodes:
            return
        used: dict[str | None, float] = {}
        for agent in self.agents.values():
            for call in agent.running.values():
                if call.urgent or not call.orders:
                    continue
                cores = self._cores(agent, call.orders[0])
                used[agent.node_id] = used.get(agent.node_id, 0.0) + cores
        for node in self.nodes:
            if used.get(node.node_id, 0.0) > node.num_cpus + 1e-9:
                self.ledger.violations.append(
                    f"node {node.node_id} runs attempts needing {used[node.node_id]:g} CPUs "
                    f"(it has {node.num_cpus:g}) at {self.clock.now_s()}"
                )
