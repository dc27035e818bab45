"""`BatchPolicy` and `Dispatcher`: what goes to which agent, in what batches, and back."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import (
    AttemptOutcome,
    Command,
    DispatchBatch,
    FakeClock,
    IllegalTransitionError,
    NodeCapacity,
    RetryPolicy,
    SchedulerConfig,
    StartAgent,
    TaskGraph,
    TaskState,
)
from orchestrator.core.batching import BatchPolicy
from orchestrator.core.dispatch import Dispatcher
from orchestrator.core.fleet import AgentFleet
from orchestrator.core.pools import AgentPoolSpec
from orchestrator.core.records import (
    InFlight,
    PoolRecord,
    TaskRecord,
    WorkflowRecord,
    is_independent,
    task_record,
)
from orchestrator.core.resources import ResourceSpec
from orchestrator.core.states import NEXT_TASK_STATES
from orchestrator.core.timers import Timers

S = TaskState
START_S = 100.0


def pool_record(max_concurrency: int = 1, ewma_task_s: float | None = None) -> PoolRecord:
    spec = AgentPoolSpec(
        key="p",
        agent_class="m:C",
        resources=ResourceSpec(num_cpus=1.0),
        max_replicas=4,
        max_concurrency=max_concurrency,
    )
    return PoolRecord(spec=spec, shape=spec.resources.as_vector(), ewma_task_s=ewma_task_s)


class Bench:
    """A dispatcher wired as the scheduler wires it, on a fake clock, and its tasks."""

    def __init__(self, cpus: float = 2.0, **config: Any) -> None:
        self.clock = FakeClock(START_S)
        self.config = SchedulerConfig(**config)
        self.fleet = AgentFleet(self.clock, self.config.idle_agent_timeout_s)
        self.fleet.observe([NodeCapacity(node_id="n", num_cpus=cpus)])
        self.in_flight = InFlight()
        self.timers = Timers(self.in_flight)
        self.policy = BatchPolicy(self.config)
        self.dispatcher = Dispatcher(
            self.clock, self.policy, self.fleet, self.timers, self.in_flight
        )
        self.workflow = WorkflowRecord(
            name="wf", workflow_id="wf", graph=TaskGraph(), submitted_s=START_S
        )

    def pool(self, key: str, max_replicas: int = 4) -> PoolRecord:
        spec = AgentPoolSpec(
            key=key, agent_class="m:C", resources=ResourceSpec(num_cpus=1.0), max_replicas=4
        )
        return self.fleet.define(spec.model_copy(update={"max_replicas": max_replicas}), [])

    def ready(self, pool: PoolRecord, task_id: str, priority: int = 2, **fields: Any) -> TaskRecord:
        """Queue a READY task in ``pool``, as the scheduler does."""
        task = task_record(
            workflow=self.workflow,
            task_id=task_id,
            function="m:f",
            args=(),
            kwargs={},
            retry=RetryPolicy(),
            timeout_s=fields.get("timeout_s"),
            pool=pool,
            inputs=(),
            priority=priority,
            deadline_s=0.0,
            rank=0.0,
            estimate_s=fields.get("estimate_s"),
        )
        task.state = S.READY
        self.workflow.tasks[task_id] = task
        counts = self.workflow.counts
        counts[S.READY] = counts.get(S.READY, 0) + 1
        pool.ready.push(task, priority)
        self.fleet.dirty.add(pool)
        return task

    def dispatch(self) -> list[Command]:
        out: list[Command] = []
        while self.fleet.dirty:
            self.dispatcher.dispatch(out)
        return out


def batches(out: list[Command]) -> list[tuple[str, list[str]]]:
    return [
        (c.agent_id, [order.task_id for order in c.attempts])
        for c in out
        if isinstance(c, DispatchBatch)
    ]


# -- batch policy -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ewma_task_s", "head_estimate_s", "expected"),
    [
        (None, None, (1, 2)),  # nothing known: one per call, no pipelining
        (0.1, None, (1, 2)),  # long tasks: the same
        (0.001, None, (5, 3)),  # short: about target_batch_s per call, one call more
        (1e-6, None, (64, 3)),  # very short: no more than max_batch_size
        (0.001, 1.0, (1, 2)),  # the head's own estimate wins over the pool's average
        (None, 0.0001, (50, 3)),
    ],
)
def test_batch_limits_follow_the_expected_duration(
    ewma_task_s: float | None, head_estimate_s: float | None, expected: tuple[int, int]
) -> None:
    bench = Bench()
    bench.workflow.independent = False  # a workflow with dependencies: target_batch_s
    pool = pool_record(max_concurrency=2, ewma_task_s=ewma_task_s)
    if head_estimate_s is not None:
        bench.ready(pool, "head", estimate_s=head_estimate_s)
    assert bench.policy.limits(pool) == expected
    assert bench.policy.most_calls(pool) == 3


def test_an_independent_workflow_alone_in_its_pool_gets_longer_batches() -> None:
    # Given short tasks (1 ms) of a workflow without dependencies, alone in their pool
    bench = Bench(target_batch_s=0.005, independent_batch_s=0.02)
    pool = pool_record(max_concurrency=1)
    for index in range(100):
        bench.ready(pool, f"t{index}", estimate_s=0.001)
    # Then a call runs about independent_batch_s: 20 tasks, not 5, and is prefetched
    # rather than pipelined (as many calls as slots: `Prefetch` sends the next one)
    assert bench.policy.limits(pool) == (20, 1)
    # When a task of another workflow, with dependencies, waits in the same pool
    other = WorkflowRecord(name="dag", workflow_id="dag", graph=TaskGraph(), submitted_s=START_S)
    bench.workflow = other
    bench.ready(pool, "d1", estimate_s=0.001).inputs = ("d0",)
    # Then the batches are short again, so the other's tasks do not wait behind them
    assert bench.policy.limits(pool) == (5, 2)


def test_a_workflow_is_independent_when_no_task_has_an_input() -> None:
    bench = Bench()
    pool = pool_record()
    bench.ready(pool, "a")
    assert is_independent(bench.workflow)
    fresh = Bench()
    fresh.ready(pool, "b").inputs = ("a",)
    assert not is_independent(fresh.workflow)


@pytest.mark.parametrize(
    ("samples", "expected_s"),
    [([2.0], 2.0), ([2.0, 1.0], 1.8), ([1.0, 1.0, 1.0], 1.0)],
)
def test_the_policy_learns_a_moving_average(samples: list[float], expected_s: float) -> None:
    policy = BatchPolicy(SchedulerConfig(duration_smoothing=0.2))
    pool = pool_record()
    for duration_s in samples:
        policy.learn(pool, duration_s)
    assert pool.ewma_task_s == pytest.approx(expected_s)


def test_agents_wanted_covers_the_backlog_in_one_round() -> None:
    bench = Bench()
    bench.workflow.independent = False  # batches of target_batch_s
    pool = pool_record(ewma_task_s=0.001)  # batches of 5, 2 calls per agent
    for index in range(21):
        bench.ready(pool, f"t{index}")
    assert bench.policy.agents_wanted(pool) == 3


# -- dispatch ---------------------------------------------------------------------------------


def test_dispatch_grows_the_pool_and_sends_the_most_urgent_first() -> None:
    # Given one pool, room for two agents, and three tasks of mixed priorities
    bench = Bench(cpus=2)
    pool = bench.pool("p")
    low, high, mid = (
        bench.ready(pool, name, prio) for name, prio in [("l", 4), ("h", 0), ("m", 2)]
    )
    # When the dispatcher runs
    out = bench.dispatch()
    # Then two agents start and get the two most urgent tasks; the third waits
    assert [c.agent_id for c in out if isinstance(c, StartAgent)] == ["p#1", "p#2"]
    assert batches(out) == [("p#1", ["h"]), ("p#2", ["m"])]
    assert (high.state, mid.state, low.state) == (S.RUNNING, S.RUNNING, S.READY)
    assert bench.workflow.counts == {S.READY: 1, S.RUNNING: 2}
    # And each attempt is in flight, under its own id, on its agent
    assert high.attempts == 1 and high.agent_id == "p#1" and high.started_s == START_S
    assert bench.in_flight.tasks == {high.attempt_id: high, mid.attempt_id: mid}
    assert bench.dispatcher.attempts_running() == 2
    assert bench.dispatcher.agent_of(mid.attempt_id).agent_id == "p#2"


def test_pools_are_served_most_urgent_head_first() -> None:
    bench = Bench(cpus=2)
    slow, fast = bench.pool("slow", max_replicas=1), bench.pool("fast", max_replicas=1)
    bench.ready(slow, "s", 3)
    bench.ready(fast, "f", 1)
    assert batches(bench.dispatch()) == [("fast#1", ["f"]), ("slow#1", ["s"])]


def test_dispatch_arms_the_timeout_of_each_attempt() -> None:
    bench = Bench()
    pool = bench.pool("p", max_replicas=1)
    task = bench.ready(pool, "t", timeout_s=7.0)
    bench.dispatch()
    assert bench.timers.next_due_s() == START_S + 7.0
    assert list(bench.timers.due_timeouts(START_S + 7.0)) == [(task.attempt_id, task)]


def test_the_hot_path_asks_the_transition_table(monkeypatch: pytest.MonkeyPatch) -> None:
    # READY -> RUNNING used to be taken without asking the table: with that pair taken
    # out of the table, dispatching must refuse.
    bench = Bench()
    pool = bench.pool("p", max_replicas=1)
    bench.ready(pool, "t")
    table = dict(NEXT_TASK_STATES)
    table[S.READY] = table[S.READY] - {S.RUNNING}
    monkeypatch.setattr("orchestrator.core.records.NEXT_TASK_STATES", table)
    with pytest.raises(IllegalTransitionError, match="ready -> running"):
        bench.dispatch()


def test_short_tasks_are_batched_and_pipelined() -> None:
    bench = Bench(cpus=1)
    bench.workflow.independent = False  # batches of target_batch_s
    pool = bench.pool("p", max_replicas=1)
    pool.ewma_task_s = 0.001  # batches of 5, two calls per agent
    for index in range(12):
        bench.ready(pool, f"t{index:02}")
    out = bench.dispatch()
    assert [len(tasks) for _, tasks in batches(out)] == [5, 5]
    assert len(pool.ready) == 2


def long_independent_batch(bench: Bench) -> PoolRecord:
    """Queue 100 tasks of 1 ms of a workflow without dependencies; dispatch the first call."""
    pool = bench.pool("p", max_replicas=1)
    for index in range(100):
        bench.ready(pool, f"t{index:02}", estimate_s=0.001)
    out = bench.dispatch()
    # One batch of about independent_batch_s (20 ms), and no call queued behind it
    assert [len(tasks) for _, tasks in batches(out)] == [20]
    return pool


def test_long_independent_batches_are_prefetched_not_pipelined() -> None:
    # Given a workflow without dependencies alone in a pool of one agent, running a batch
    # of 20 ms (independent_batch_s) since START_S
    bench = Bench(cpus=1, independent_batch_s=0.02, prefetch_window_s=0.02)
    long_independent_batch(bench)
    # Then its next batch is due when a quarter of the running one is left, not earlier
    assert bench.dispatcher.next_prefetch_s() == pytest.approx(START_S + 0.015)
    bench.clock.advance(0.01)
    bench.dispatcher.reopen_gates(bench.clock.now_s())
    assert batches(bench.dispatch()) == []
    # When that time comes
    bench.clock.advance(0.005)
    bench.dispatcher.reopen_gates(bench.clock.now_s())
    # Then the agent gets its next batch, to start the moment the running one ends
    assert [(agent, len(tasks)) for agent, tasks in batches(bench.dispatch())] == [("p#1", 20)]


def test_a_newcomer_waits_for_what_is_left_of_a_long_batch_not_for_another() -> None:
    # Given a long batch of a workflow without dependencies running on the only agent
    bench = Bench(cpus=1, independent_batch_s=0.02, prefetch_window_s=0.02)
    pool = long_independent_batch(bench)
    bench.clock.advance(0.005)
    # When a task of another workflow comes (before the long batch's successor was sent)
    bench.workflow = WorkflowRecord(
        name="small", workflow_id="small", graph=TaskGraph(), submitted_s=bench.clock.now_s()
    )
    bench.ready(pool, "n0", estimate_s=0.001)
    # Then it is sent at once, in a short call queued behind the running batch: with two
    # workflows waiting, batches are short (target_batch_s) and pipelined again
    [(agent, tasks)] = batches(bench.dispatch())
    assert agent == "p#1" and "n0" in tasks and len(tasks) == 5


# -- the way back -----------------------------------------------------------------------------


def sent(bench: Bench, *task_ids: str, timeout_s: float | None = None) -> list[TaskRecord]:
    pool = bench.pool("p", max_replicas=1)
    tasks = [bench.ready(pool, task_id, timeout_s=timeout_s) for task_id in task_ids]
    bench.dispatch()
    return tasks


def test_close_returns_the_task_frees_the_call_and_learns() -> None:
    bench = Bench()
    [task] = sent(bench, "t")
    bench.clock.advance(2.0)
    outcome = AttemptOutcome(task.attempt_id, True, START_S + 0.5, START_S + 1.5)
    assert bench.dispatcher.close(outcome, bench.clock.now_s()) is task
    assert (task.started_s, task.finished_s, task.run_time_s) == (START_S + 0.5, START_S + 1.5, 1.0)
    assert task.pool.ewma_task_s == 1.0
    agent = bench.fleet.agents["p#1"]
    assert agent.calls == set() and agent.idle_since_s == START_S + 2.0
    assert bench.dispatcher.attempts_running() == 0
    assert bench.dispatcher.close(outcome, bench.clock.now_s()) is None  # a repeat


def test_a_forgotten_attempt_holds_its_agent_until_its_outcome() -> None:
    bench = Bench()
    [task] = sent(bench, "t")
    bench.dispatcher.forget(task.attempt_id)
    assert bench.dispatcher.attempts_running() == 0
    assert bench.fleet.agents["p#1"].calls  # still busy
    outcome = AttemptOutcome(task.attempt_id, True, START_S, START_S + 1.0)
    assert bench.dispatcher.close(outcome, START_S + 1.0) is None
    assert bench.fleet.agents["p#1"].calls == set()
    assert task.run_time_s == 0.0  # its time does not count


def test_time_out_gives_up_on_the_attempt_and_counts_its_time() -> None:
    bench = Bench()
    [task] = sent(bench, "t", timeout_s=7.0)
    outcome = bench.dispatcher.time_out(task, task.attempt_id, START_S + 7.0)
    assert (outcome.attempt_id, outcome.ok, outcome.error_type) == (
        task.attempt_id,
        False,
        "TimeoutError",
    )
    assert outcome.error_message == "attempt 1 ran longer than timeout_s=7"
    assert (task.finished_s, task.run_time_s) == (START_S + 7.0, 7.0)
    assert bench.dispatcher.attempts_running() == 0
    assert bench.dispatcher.agent_of(task.attempt_id).agent_id == "p#1"  # still held


def test_abandon_returns_every_task_waiting_on_the_agent() -> None:
    bench = Bench(cpus=1)
    pool = bench.pool("p", max_replicas=1)
    pool.ewma_task_s = 0.001
    tasks = [bench.ready(pool, f"t{index}") for index in range(3)]
    bench.dispatch()
    bench.dispatcher.forget(tasks[0].attempt_id)  # cancelled: not waiting any more
    agent = bench.fleet.agents["p#1"]
    waiting, occupying = bench.dispatcher.abandon(agent)
    assert sorted(t.task_id for _, t in waiting) == ["t1", "t2"]
    assert sorted(attempt_id for attempt_id, _ in waiting) == [
        tasks[1].attempt_id,
        tasks[2].attempt_id,
    ]
    assert occupying == 3  # the cancelled attempt still occupied the agent
    assert agent.calls == set()
    assert bench.in_flight.tasks == {} and bench.in_flight.calls == {}


def test_a_batch_of_tiny_tasks_gets_its_successor_at_once() -> None:
    # Given a workflow without dependencies of 50-us tasks: a batch of 400 (20 ms) is
    # longer than max_batch_size allows, so a call of 64 runs about 3.2 ms
    bench = Bench(cpus=1, independent_batch_s=0.02, prefetch_window_s=0.02)
    pool = bench.pool("p", max_replicas=1)
    for index in range(300):
        bench.ready(pool, f"t{index:03}", estimate_s=0.00005)
    out = bench.dispatch()
    # Then the next call goes with it: its lead (5 ms at least, a round trip) reaches
    # back to now
    assert [len(tasks) for _, tasks in batches(out)] == [64, 64]
