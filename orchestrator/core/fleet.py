"""`AgentFleet`: the agent pools, their agents, and the cluster capacity they reserve.

The fleet decides when agents start and stop: up to each pool's ``min_replicas`` at once
and after a loss (`top_up`), more for a backlog as capacity allows (`grow`, taking idle
agents of less urgent pools when the cluster is full), and fewer once idle (`retire_idle`).
It knows nothing of tasks beyond each pool's ready queue; what to send to which agent is
the dispatcher's business.

Ganged pools (`core.gangs`) have no agent of their own: they borrow their host pool's, k
at a time, so growing one grows its host, and an agent reserved or held for a gang is
neither retired nor reclaimed while so.

It also keeps the set of pools to look at in the next dispatch (``dirty``): those with new
ready tasks, new or freed agents, or a chance at capacity that just came free.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from orchestrator.core.breaker import CircuitBreaker
from orchestrator.core.clock import Clock
from orchestrator.core.commands import Command, StartAgent, StopAgent
from orchestrator.core.config import SchedulerConfig
from orchestrator.core.errors import Problem
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.placement import ResourceLedger
from orchestrator.core.pools import AgentPoolSpec
from orchestrator.core.rate_limit import TokenBucket
from orchestrator.core.records import AgentRecord, CallRecord, PoolRecord
from orchestrator.core.resources import NodeCapacity
from orchestrator.core.validation import Placement, WorkflowFit, WorkflowStructure, check_fit


class AgentFleet:
    """Every agent pool and agent, and the ledger of the capacity they hold.

    Attributes:
        pools: Every pool by key.
        agents: Every live agent by id.
        ledger: The cluster's capacity and what the agents reserve of it.
        dirty: Pools to look at in the next dispatch.
    """

    def __init__(self, clock: Clock, idle_agent_timeout_s: float) -> None:
        """Start with no pool, no agent and no known capacity.

        Args:
            clock: The scheduler's clock (when agents start and become idle).
            idle_agent_timeout_s: Agents idle this long are stopped, down to
                ``min_replicas``, while their pool has nothing ready.
        """
        self._clock = clock
        self._idle_agent_timeout_s = idle_agent_timeout_s
        self.pools: dict[str, PoolRecord] = {}
        self.agents: dict[str, AgentRecord] = {}
        self.ledger = ResourceLedger()
        self.dirty: set[PoolRecord] = set()
        # Pools with ready tasks that could not start an agent for lack of capacity: they
        # are looked at again whenever capacity may have come free.
        self._starved: set[PoolRecord] = set()
        #: Whether any pool is ganged (the dispatcher then widens its dirty pools).
        self.ganged = False

    def observe(self, nodes: Iterable[NodeCapacity]) -> list[PoolRecord]:
        """Take the cluster's nodes as they are now; starved pools get another look.

        Returns:
            The pools that no node can hold any more (a node was lost): their ready tasks
            can never run. Each has the reason in ``infeasible``; a pool becomes feasible
            again when a node that can hold it appears.
        """
        self.ledger.observe(nodes)
        return self._check_feasible()

    def node_lost(self, agent: AgentRecord) -> list[PoolRecord]:
        """Forget the node ``agent`` ran on (lost with it) before replacing anything.

        Returns:
            The pools no node can hold any more, as `observe`.
        """
        node_id = self.ledger.node_of(agent.agent_id)
        if node_id is None:
            return []
        self.ledger.drop_node(node_id)
        return self._check_feasible()

    def _check_feasible(self) -> list[PoolRecord]:
        self.dirty.update(self._starved)
        newly = []
        for pool in self.pools.values():
            reason = self.ledger.infeasible(pool.shape)
            if reason is not None and pool.infeasible is None:
                newly.append(pool)
            pool.infeasible = reason
        return newly

    def busy_specs(self) -> dict[str, AgentPoolSpec]:
        """Return the specs of pools with unfinished tasks: they may not be redefined."""
        return {key: pool.spec for key, pool in self.pools.items() if pool.open_tasks}

    def check_fit(
        self,
        spec: PackedWorkflow,
        structure: WorkflowStructure,
        config: SchedulerConfig,
        known_workflow_ids: Collection[str],
        placement: Placement | None = None,
    ) -> tuple[WorkflowFit, list[Problem]]:
        """Check ``spec``'s pools against the running ones and the nodes (`check_fit`)."""
        return check_fit(
            spec,
            structure,
            known_workflow_ids=known_workflow_ids,
            known_pools=self.busy_specs(),
            nodes=self.ledger.nodes,
            default_function_resources=config.default_function_resources,
            max_function_replicas=config.max_function_replicas,
            default_breaker=config.default_breaker,
            gang_functions=config.gang_functions,
            placement=placement,
        )

    def define(self, spec: AgentPoolSpec, out: list[Command]) -> PoolRecord:
        """Return the pool of ``spec``: the known one, or a new one with its minimum started.

        A pool known under the same key with another definition (validation lets only an
        idle one through) loses its agents and is replaced.
        """
        known = self.pools.get(spec.key)
        if known is not None and known.spec == spec:
            return known
        if known is not None:
            for agent in list(known.agents.values()):
                self.remove(agent, "its agent class was redefined", out)
        pool = PoolRecord(spec=spec, shape=spec.resources.as_vector())
        if spec.gang_host is not None:
            host = self.define(spec.gang_host, out)
            pool.host = host
            pool.gang_size = spec.gang_size
            if known is not None and known in host.gangs:
                host.gangs.remove(known)
            host.gangs.append(pool)
            self.ganged = True
        if spec.breaker is not None:
            pool.breaker = CircuitBreaker(spec.breaker)
        if spec.rate_limit is not None:
            pool.bucket = TokenBucket(spec.rate_limit, self._clock.now_s())
        self.pools[spec.key] = pool
        self.top_up(pool, out)
        return pool

    def top_up(self, pool: PoolRecord, out: list[Command]) -> None:
        """Start agents until ``pool`` has its ``min_replicas``, as capacity allows."""
        while len(pool.agents) < pool.spec.min_replicas and self.ledger.can_place(pool.shape):
            self._start(pool, out)

    def grow(
        self,
        pool: PoolRecord,
        wanted: int,
        out: list[Command],
        *,
        urgency: tuple[int, float, float] | None = None,
    ) -> bool:
        """Start up to ``wanted`` agents for ``pool``'s backlog; return whether any started.

        Bounded by ``max_replicas`` and by capacity; when the cluster is full, idle agents
        of less urgent pools are stopped to make room. A pool that still wants agents is
        starved: it gets another look whenever capacity may have come free.
        ``urgency``: the key of the work the agents are for (default: ``pool``'s and its
        ganged pools' most urgent ready task), which decides what may be reclaimed.
        """
        room = pool.spec.max_replicas - len(pool.agents)
        if room <= 0:
            return False
        started = False
        for _ in range(min(room, wanted)):
            if not self.ledger.can_place(pool.shape) and not self._reclaim_idle(pool, out, urgency):
                self._starved.add(pool)
                return started
            self._start(pool, out)
            started = True
        self._starved.discard(pool)
        return started

    def drained(self, pool: PoolRecord) -> None:
        """Note that ``pool`` has nothing ready: it no longer waits for capacity.

        A host pool whose ganged pools still wait keeps waiting for them.
        """
        if not any(gang.has_ready() for gang in pool.gangs):
            self._starved.discard(pool)

    def remove(
        self, agent: AgentRecord, reason: str, out: list[Command], *, lost: bool = False
    ) -> None:
        """Stop ``agent`` and release its capacity (its calls are the caller's business).

        A gang it belonged to ends with it if it ran the gang's task; if it was a partner,
        its capacity stays held until the gang's task ends, so no new agent takes it.
        """
        del self.agents[agent.agent_id]
        del agent.pool.agents[agent.agent_id]
        gang_call = agent.reserved_by
        if gang_call is not None:
            if gang_call.agent is agent:
                self.end_gang(gang_call, self._clock.now_s())
            else:
                self._keep_partner_share(gang_call, agent)
        if agent.held_for is not None:
            agent.held_for.held.remove(agent)
            agent.held_for = None
        self.ledger.release(agent.agent_id)
        out.append(StopAgent(agent_id=agent.agent_id, reason=reason, lost=lost))
        # Its pool may need a replacement, and freed capacity may let a waiting pool grow.
        self.dirty.add(agent.pool)
        self.dirty.update(self._starved)

    def call_ended(self, call: CallRecord, now_s: float) -> None:
        """Note that every attempt of ``call`` ended: its agent may take more, or be idle."""
        agent = call.agent
        agent.calls.discard(call)
        self.dirty.add(agent.pool)
        if call.gang is not None:
            self.end_gang(call, now_s)
        if not agent.calls:
            agent.idle_since_s = now_s
            agent.isolating = False
            # An idle agent may be reclaimed by a pool waiting with more urgent work.
            self.dirty.update(self._starved)

    def end_gang(self, call: CallRecord, now_s: float) -> None:
        """Free the agents a gang's ``call`` reserved, and what lost partners held."""
        gang = call.gang or []
        for agent in gang:
            if agent.reserved_by is call:
                agent.reserved_by = None
                if not agent.calls:
                    agent.idle_since_s = now_s
        for key in call.lost_partner_holds or ():
            self.ledger.release(key)
        call.gang = call.lost_partner_holds = None
        self.dirty.add(call.agent.pool)
        self.dirty.update(self._starved)

    def _keep_partner_share(self, call: CallRecord, partner: AgentRecord) -> None:
        """Hold lost ``partner``'s capacity for ``call``'s gang until the gang ends."""
        if call.gang is not None and partner in call.gang:
            call.gang.remove(partner)
        partner.reserved_by = None
        key = f"{partner.agent_id}/gang-share"
        self.ledger.hold_on(key, partner.pool.shape, self.ledger.node_of(partner.agent_id))
        if call.lost_partner_holds is None:
            call.lost_partner_holds = []
        call.lost_partner_holds.append(key)

    def retire_idle(self, now_s: float, out: list[Command]) -> None:
        """Stop the agents idle for ``idle_agent_timeout_s`` by ``now_s``."""
        for pool in self.pools.values():
            for agent, idle_since_s in self._retirable(pool):
                if len(pool.agents) <= pool.spec.min_replicas:
                    break
                if now_s >= idle_since_s + self._idle_agent_timeout_s:
                    self.remove(agent, f"idle for {now_s - idle_since_s:.1f}s", out)

    def next_retire_s(self) -> float | None:
        """Return when an idle agent is next due to be stopped, or None."""
        idle_since = [
            since_s for pool in self.pools.values() for _, since_s in self._retirable(pool)
        ]
        return min(idle_since) + self._idle_agent_timeout_s if idle_since else None

    def _retirable(self, pool: PoolRecord) -> list[tuple[AgentRecord, float]]:
        """Return ``pool``'s agents that idleness may stop, each with when it became idle.

        The one place for the conditions: the pool (and its ganged pools) has nothing
        ready and more agents than its minimum, and the agent has no call and is not
        reserved or held for a gang.
        """
        if pool.family_head_key() is not None or len(pool.agents) <= pool.spec.min_replicas:
            return []
        return [
            (agent, agent.idle_since_s)
            for agent in pool.agents.values()
            if not agent.calls and agent.idle_since_s is not None and not agent.spoken_for
        ]

    def _start(self, pool: PoolRecord, out: list[Command]) -> None:
        pool.started_total += 1
        agent_id = f"{pool.spec.key}#{pool.started_total}"
        now_s = self._clock.now_s()
        agent = AgentRecord(agent_id=agent_id, pool=pool, started_s=now_s, idle_since_s=now_s)
        pool.agents[agent_id] = agent
        self.agents[agent_id] = agent
        node_id = self.ledger.place(agent_id, pool.shape)
        out.append(StartAgent(agent_id=agent_id, pool=pool.spec, node_id=node_id))

    def _reclaim_idle(
        self,
        pool: PoolRecord,
        out: list[Command],
        urgency_key: tuple[int, float, float] | None = None,
    ) -> bool:
        """Stop idle agents of other pools until ``pool``'s shape fits; return whether it does.

        Only pools with nothing ready (their ganged pools included), or whose most urgent
        ready task is less urgent than ``pool``'s (or ``urgency_key``), give up agents:
        the more urgent work wins the capacity. Agents reserved or held for a gang stay.
        """
        head = urgency_key if urgency_key is not None else pool.family_head_key()
        urgency = head[0] if head is not None else None
        for other in self.pools.values():
            if other is pool or not other.agents:
                continue
            other_head = other.family_head_key()
            if other_head is not None and (urgency is None or other_head[0] <= urgency):
                continue
            for agent in list(other.agents.values()):
                if self.ledger.can_place(pool.shape):
                    return True
                if len(other.agents) <= other.spec.min_replicas:
                    break
                if not agent.calls and not agent.spoken_for:
                    self.remove(agent, f"reclaimed for pool {pool.spec.key!r}", out)
        return self.ledger.can_place(pool.shape)
