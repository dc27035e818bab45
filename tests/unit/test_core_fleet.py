"""`AgentFleet`: agents start within capacity and max_replicas, and stop when idle or reclaimed."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import (
    Command,
    FakeClock,
    NodeCapacity,
    RetryPolicy,
    StartAgent,
    StopAgent,
    TaskGraph,
)
from orchestrator.core.fleet import AgentFleet
from orchestrator.core.pools import AgentPoolSpec
from orchestrator.core.records import PoolRecord, WorkflowRecord, call_record, task_record
from orchestrator.core.resources import ResourceSpec

IDLE_S = 30.0


def make_fleet(cpus: float | None = None, start_s: float = 100.0) -> tuple[AgentFleet, FakeClock]:
    clock = FakeClock(start_s)
    fleet = AgentFleet(clock, idle_agent_timeout_s=IDLE_S)
    if cpus is not None:
        fleet.observe([NodeCapacity(node_id="n", num_cpus=cpus)])
    return fleet, clock


def pool_spec(key: str = "p", **fields: Any) -> AgentPoolSpec:
    fields.setdefault("max_replicas", 4)
    return AgentPoolSpec(key=key, agent_class="m:C", resources=ResourceSpec(num_cpus=1.0), **fields)


def queue(pool: PoolRecord, *priorities: int) -> None:
    """Put one ready task per priority in ``pool``'s queue."""
    workflow = WorkflowRecord(name="wf", workflow_id="wf", graph=TaskGraph(), submitted_s=0.0)
    for index, priority in enumerate(priorities):
        task = task_record(
            workflow=workflow,
            task_id=f"{pool.spec.key}-{index}",
            function=None,
            args=(),
            kwargs={},
            retry=RetryPolicy(),
            timeout_s=None,
            pool=pool,
            inputs=(),
            priority=priority,
            deadline_s=0.0,
            rank=0.0,
            estimate_s=None,
        )
        pool.ready.push(task, priority)


def started(out: list[Command]) -> list[str]:
    return [c.agent_id for c in out if isinstance(c, StartAgent)]


def stopped(out: list[Command]) -> list[str]:
    return [c.agent_id for c in out if isinstance(c, StopAgent)]


def busy(fleet: AgentFleet, agent_id: str) -> None:
    """Give ``agent_id`` a call in flight."""
    agent = fleet.agents[agent_id]
    agent.calls.add(call_record(call_id=1, agent=agent, attempt_ids=(1,), open_attempts=1))
    agent.idle_since_s = None


# -- defining pools ---------------------------------------------------------------------------


def test_a_new_pool_starts_its_minimum_as_capacity_allows() -> None:
    fleet, _ = make_fleet(cpus=2)
    out: list[Command] = []
    pool = fleet.define(pool_spec(min_replicas=3), out)
    assert started(out) == ["p#1", "p#2"]
    assert fleet.pools == {"p": pool}
    assert set(pool.agents) == set(fleet.agents) == {"p#1", "p#2"}
    assert not fleet.ledger.can_place(pool.shape)


def test_the_same_definition_is_the_same_pool() -> None:
    fleet, _ = make_fleet()
    pool = fleet.define(pool_spec(min_replicas=1), [])
    out: list[Command] = []
    assert fleet.define(pool_spec(min_replicas=1), out) is pool
    assert out == []


def test_a_redefined_pool_replaces_its_agents() -> None:
    fleet, _ = make_fleet(cpus=4)
    old = fleet.define(pool_spec(min_replicas=2), [])
    out: list[Command] = []
    new = fleet.define(pool_spec(min_replicas=1, max_replicas=2), out)
    assert new is not old
    assert stopped(out) == ["p#1", "p#2"]
    assert started(out) == ["p#1"]  # a new pool counts its agents from 1
    assert fleet.busy_specs() == {}  # no open tasks: nothing is pinned


# -- growing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_replicas", "cpus", "wanted", "expected", "starved"),
    [
        (4, 8, 2, 2, False),  # as many as wanted
        (3, 8, 9, 3, False),  # no more than max_replicas
        (4, 2, 3, 2, True),  # no more than capacity: the pool waits for more
        (4, None, 3, 3, False),  # capacity unknown yet: trust the runtime
        (4, 8, 0, 0, False),
    ],
)
def test_grow_is_bounded(
    max_replicas: int, cpus: float | None, wanted: int, expected: int, starved: bool
) -> None:
    fleet, _ = make_fleet(cpus)
    pool = fleet.define(pool_spec(max_replicas=max_replicas), [])
    queue(pool, 2)
    out: list[Command] = []
    assert fleet.grow(pool, wanted, out) is (expected > 0)
    assert len(started(out)) == expected
    # A starved pool gets another look when capacity may have come free.
    fleet.dirty.clear()
    fleet.observe([NodeCapacity(node_id="n", num_cpus=16)])
    assert (pool in fleet.dirty) is starved


def test_a_drained_pool_no_longer_waits_for_capacity() -> None:
    fleet, _ = make_fleet(cpus=1)
    pool = fleet.define(pool_spec(), [])
    fleet.grow(pool, 1, [])
    assert fleet.grow(pool, 1, []) is False  # starved
    fleet.drained(pool)
    fleet.dirty.clear()
    fleet.observe([NodeCapacity(node_id="n", num_cpus=16)])
    assert pool not in fleet.dirty


def test_grow_reclaims_idle_agents_of_less_urgent_pools_only() -> None:
    # Given a full cluster: an idle agent of a pool with nothing ready, a busy one, and
    # an idle one of a pool whose ready work is more urgent than the pool that grows
    fleet, _ = make_fleet(cpus=3)
    idle = fleet.define(pool_spec("idle"), [])
    urgent = fleet.define(pool_spec("urgent"), [])
    growing = fleet.define(pool_spec("growing"), [])
    fleet.grow(idle, 2, [])
    fleet.grow(urgent, 1, [])
    busy(fleet, "idle#2")
    queue(urgent, 0)
    queue(growing, 2, 2)
    # When the third pool wants two agents
    out: list[Command] = []
    assert fleet.grow(growing, 2, out) is True
    # Then only the idle agent of the pool with nothing ready gives way
    assert stopped(out) == ["idle#1"]
    assert started(out) == ["growing#1"]
    assert set(fleet.agents) == {"idle#2", "urgent#1", "growing#1"}


def test_min_replicas_are_never_reclaimed() -> None:
    fleet, _ = make_fleet(cpus=1)
    fleet.define(pool_spec("kept", min_replicas=1), [])
    other = fleet.define(pool_spec("other"), [])
    queue(other, 0)
    out: list[Command] = []
    assert fleet.grow(other, 1, out) is False
    assert out == []


# -- calls, losses and idleness ---------------------------------------------------------------


def test_a_call_that_ends_makes_its_agent_idle_and_its_pool_dirty() -> None:
    fleet, clock = make_fleet()
    pool = fleet.define(pool_spec(min_replicas=1), [])
    busy(fleet, "p#1")
    fleet.dirty.clear()
    clock.advance(5.0)
    [call] = fleet.agents["p#1"].calls
    fleet.call_ended(call, clock.now_s())
    assert fleet.agents["p#1"].calls == set()
    assert fleet.agents["p#1"].idle_since_s == 105.0
    assert fleet.dirty == {pool}


def test_remove_releases_capacity_and_top_up_restores_the_minimum() -> None:
    fleet, _ = make_fleet(cpus=1)
    pool = fleet.define(pool_spec(min_replicas=1), [])
    out: list[Command] = []
    fleet.remove(fleet.agents["p#1"], "died", out)
    assert out == [StopAgent(agent_id="p#1", reason="died")]
    assert fleet.ledger.can_place(pool.shape)
    fleet.top_up(pool, out)
    assert started(out) == ["p#2"]


@pytest.mark.parametrize(
    ("min_replicas", "ready", "busy_agent", "expected"),
    [
        (0, False, False, ["p#1", "p#2"]),
        (1, False, False, ["p#1"]),  # down to the minimum, never below
        (0, True, False, []),  # the pool has work waiting: keep its agents
        (0, False, True, ["p#2"]),  # a busy agent is never idle
        (2, False, False, []),
    ],
)
def test_idle_retirement_and_its_wakeup_agree(
    min_replicas: int, ready: bool, busy_agent: bool, expected: list[str]
) -> None:
    # Given two agents idle since t=100
    fleet, _ = make_fleet()
    pool = fleet.define(pool_spec(min_replicas=min_replicas), [])
    fleet.grow(pool, 2 - len(pool.agents), [])
    if ready:
        queue(pool, 2)
    if busy_agent:
        busy(fleet, "p#1")
    # Then a wakeup is asked for exactly when an agent is due to be stopped
    wakeup_s = fleet.next_retire_s()
    assert wakeup_s == (100.0 + IDLE_S if expected else None)
    # And a tick just before stops nothing, a tick then stops the expected agents
    out: list[Command] = []
    fleet.retire_idle(100.0 + IDLE_S - 0.1, out)
    assert out == []
    fleet.retire_idle(100.0 + IDLE_S, out)
    assert stopped(out) == expected
    assert all(isinstance(c, StopAgent) and c.reason == "idle for 30.0s" for c in out)
    assert fleet.next_retire_s() is None
