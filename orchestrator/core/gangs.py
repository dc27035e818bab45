"""Gangs: a plain function needing k CPUs runs on k agents of the 1-CPU function pool.

Function tasks that declare k times the default function resources (CPUs only; see
`pools.gang_size`) wait in a *ganged* pool with no agent of its own. Each one is sent to
one idle agent of its *host* (the default function pool) while k-1 other idle agents of
the host on the same node are reserved for it: they take no other work (no call, no
prefetch, no urgent lane, no suspect) until its call ends. So k of Ray's CPUs are held for
a task using k cores, and a mix of 1- and k-core tasks never stops agents to start others
of another size: an agent start costs 0.4-1.1 s here, where Ray's own workers serve any
shape.

When no node has k idle host agents, the host grows (as capacity and its
``max_replicas`` allow). When it cannot, the gang *holds* k host agents on one node, idle
or busy, so that they take no new work and free up for it: 1-core tasks grabbing agents as
they free cannot starve it. A gang holds only while its task is at least as urgent as the
host's most urgent ready task, so less urgent gangs never idle agents that more urgent
1-core work could use. Holds are taken again at each dispatch of the family (host and its
ganged pools), in priority order (`widen`).

The reservation ends with the gang's call (`AgentFleet.end_gang`): when its outcome
arrives, or when the agent running it is lost or stopped (timeout, cancel, preemption).
A reserved partner that is lost keeps its capacity held in the ledger until then, so no
new agent is started on a CPU the gang's task still uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from orchestrator.core.commands import Command
from orchestrator.core.fleet import AgentFleet
from orchestrator.core.gates import PoolGates
from orchestrator.core.placement import ResourceLedger
from orchestrator.core.queue import PriorityTaskQueue
from orchestrator.core.records import AgentRecord, PoolRecord, TaskRecord


def widen(dirty: set[PoolRecord]) -> None:
    """Add the whole family of each dirty pool to ``dirty``, and drop its gangs' holds.

    A host's agents freeing may let a gang form; a gang waiting may hold a host's agents:
    the family is dispatched together, most urgent pool first, so holds follow priority.
    """
    for pool in list(dirty):
        host = pool.host if pool.host is not None else pool
        if not host.gangs:
            continue
        dirty.add(host)
        for gang_pool in host.gangs:
            dirty.add(gang_pool)
            release_holds(gang_pool)


def release_holds(pool: PoolRecord) -> None:
    """Let the host agents held for ganged ``pool`` take other work again."""
    for agent in pool.held:
        agent.held_for = None
    pool.held.clear()


def assign(
    pool: PoolRecord,
    fleet: AgentFleet,
    gates: PoolGates,
    send: Callable[[PriorityTaskQueue[TaskRecord], AgentRecord], int],
    out: list[Command],
) -> None:
    """Form gangs for ganged ``pool``'s ready tasks, most urgent first.

    Suspects (`TaskRecord.suspect`) are served from the same gangs: a gang's call carries
    one attempt and its agents take nothing else, so a suspect runs alone anyway.

    Args:
        pool: A ganged pool with ready tasks.
        fleet: Its host is grown when no node has enough idle agents.
        gates: Its breaker and rate limit.
        send: Sends the next task of a queue to an agent; returns how many it sent (0:
            none was left that may start).
        out: Where the commands go.
    """
    host = pool.host
    assert host is not None, "only a ganged pool forms gangs"
    size = pool.gang_size
    budget = gates.budget(pool)
    while pool.has_ready() and budget != 0:
        free = _by_node(filter(_free, host.agents.values()), fleet.ledger).values()
        gang = _smallest_gang(free, size)
        if gang is None:
            # Start what the node with the most free agents lacks for a gang.
            missing = size - max((len(group) for group in free), default=0)
            if pool in gates.gated or not fleet.grow(host, missing, out, urgency=pool.head_key()):
                break
            continue
        runner = gang[0]
        if not send(_next_queue(pool), runner):
            continue  # that queue's tasks all wait for a limit or a lock: try the other
        (call,) = runner.calls
        call.gang = gang
        for agent in gang:
            agent.reserved_by = call
            agent.idle_since_s = None
        if budget is not None:
            budget = gates.spend(pool, 1, budget)
    if pool.has_ready() and _outranks_host(pool, host):
        _hold(pool, host, fleet.ledger)


def _next_queue(pool: PoolRecord) -> PriorityTaskQueue[TaskRecord]:
    """Return the queue of ``pool``'s most urgent waiting task (ready or suspect)."""
    if not pool.isolated:
        return pool.ready
    if not pool.ready or pool.isolated.peek_key() <= pool.ready.peek_key():
        return pool.isolated
    return pool.ready


def _free(agent: AgentRecord) -> bool:
    return not agent.calls and not agent.spoken_for and not (agent.isolating or agent.draining)


def _by_node(
    agents: Iterable[AgentRecord], ledger: ResourceLedger
) -> dict[str | None, list[AgentRecord]]:
    """Group ``agents`` by node (unplaced ones together: before nodes are known)."""
    nodes: dict[str | None, list[AgentRecord]] = {}
    for agent in agents:
        nodes.setdefault(ledger.node_of(agent.agent_id), []).append(agent)
    return nodes


def _smallest_gang(
    free_by_node: Iterable[list[AgentRecord]], size: int
) -> list[AgentRecord] | None:
    """Return ``size`` free agents on one node (the node with the fewest that suffice)."""
    fitting = [group for group in free_by_node if len(group) >= size]
    if not fitting:
        return None
    return min(fitting, key=len)[:size]


def _outranks_host(pool: PoolRecord, host: PoolRecord) -> bool:
    """Return whether ganged ``pool``'s head is at least as urgent as its host's."""
    return not host.has_ready() or pool.head_key() <= host.head_key()


def _hold(pool: PoolRecord, host: PoolRecord, ledger: ResourceLedger) -> None:
    """Keep ``pool.gang_size`` host agents on one node free of new work for its next gang.

    The node is the one with the most idle candidates (then the fewest calls in flight);
    there, idle agents first, then the least loaded. No node with enough host agents: no
    hold (the host grows when capacity comes free).
    """
    size = pool.gang_size
    candidates = (
        agent
        for agent in host.agents.values()
        if not agent.spoken_for and not (agent.isolating or agent.draining)
    )
    best: tuple[int, int] | None = None
    chosen: list[AgentRecord] = []
    for group in _by_node(candidates, ledger).values():
        if len(group) < size:
            continue
        group.sort(key=lambda agent: len(agent.calls))
        picked = group[:size]
        score = (sum(1 for agent in picked if not agent.calls), -sum(len(a.calls) for a in picked))
        if best is None or score > best:
            best, chosen = score, picked
    for agent in chosen:
        agent.held_for = pool
    pool.held.extend(chosen)
