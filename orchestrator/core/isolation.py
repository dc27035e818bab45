"""Isolation: a suspect (a task whose batch's agent died) runs alone on an agent.

So that a death while it runs can be charged to it, and only to it (`TaskRecord.suspect`).
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.core.gates import PoolGates
from orchestrator.core.records import AgentRecord, PoolRecord


def isolate(
    pool: PoolRecord,
    budget: int | None,
    gates: PoolGates,
    send: Callable[[AgentRecord], int],
) -> int | None:
    """Send each waiting suspect of ``pool`` alone to an agent that has nothing else.

    ``send`` sends the next suspect of ``pool`` to an agent and returns how many it sent
    (0: held back by a concurrency limit). Agents reserved or held for a gang are skipped.

    When no agent of the pool is free, one is kept free of new calls (draining) until
    its calls end, so a suspect waits at most for the calls already sent.

    Returns:
        What is left of the gates' ``budget``.
    """
    isolated = pool.isolated
    for agent in pool.agents.values():
        if not isolated or budget == 0:
            break
        if not agent.calls and not agent.spoken_for:
            sent = send(agent)
            if not sent:
                continue  # held back by a concurrency limit
            agent.isolating = True
            agent.draining = False
            if budget is not None:
                budget = gates.spend(pool, sent, budget)
    agents = pool.agents.values()
    if not isolated:
        for agent in agents:
            agent.draining = False
        pool.draining = False
        return budget
    if not any(agent.draining for agent in agents):
        candidates = [a for a in agents if not (a.isolating or a.spoken_for)]
        if candidates:
            min(candidates, key=lambda agent: len(agent.calls)).draining = True
    pool.draining = True
    return budget
