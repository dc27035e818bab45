"""`Scheduler` driven through ``handle()``: submission, priorities, dependencies, results."""

from __future__ import annotations

import random
from typing import Any

import pytest

from orchestrator.core import (
    AttemptsFinished,
    DispatchBatch,
    OutputOf,
    Priority,
    PublishTaskEvents,
    PublishWorkflowEvent,
    RetryPolicy,
    SchedulerConfig,
    StartAgent,
    TaskState,
    Tick,
    WorkflowState,
)

S = TaskState


def test_cluster_then_submit_starts_agents_and_dispatches(driver: Any, spec: Any) -> None:
    # Given a cluster of two 4-CPU nodes
    assert driver.send(spec.nodes(4, 4)) == []
    # When a workflow of three independent tasks on a 2-replica agent is submitted
    workflow = spec.workflow(
        spec.task("a"),
        spec.task("b"),
        spec.task("c"),
        agents=[spec.agent("worker", replicas=2)],
    )
    commands = driver.submit(workflow)
    # Then two agents start, each gets one call of one attempt, and the third task waits
    assert commands.started == ["worker#1", "worker#2"]
    start = commands.of(StartAgent)[0]
    assert start.pool.key == "worker"
    assert start.pool.agent_class == "tests.fake:worker"
    assert start.pool.max_replicas == 2
    batches = commands.dispatches
    assert [(b.agent_id, len(b.attempts)) for b in batches] == [("worker#1", 1), ("worker#2", 1)]
    assert len({b.call_id for b in batches}) == 2
    assert commands.dispatched_ids == ["a", "b"]
    # Agents are started before anything is sent to them.
    kinds = [type(c) for c in commands]
    assert kinds.index(StartAgent) < kinds.index(DispatchBatch)
    order = batches[0].attempts[0]
    assert (order.workflow_id, order.attempt, order.inputs) == ("wf", 1, ())
    task = workflow.tasks[0]
    assert (order.function, order.args, order.kwargs) == (task.function, task.args, task.kwargs)
    assert order.priority is task.priority
    assert [driver.state(t) for t in "abc"] == [S.RUNNING, S.RUNNING, S.READY]
    assert driver.scheduler.workflow_ids() == ["wf"]
    assert driver.scheduler.agents() == {"worker#1": "worker", "worker#2": "worker"}


def test_submit_before_any_cluster_observation_still_runs(driver: Any, spec: Any) -> None:
    commands = driver.submit(spec.workflow(spec.task("a")))
    assert commands.started == ["worker#1"]
    assert commands.dispatched_ids == ["a"]


def test_function_tasks_share_a_pool_per_resource_shape(driver: Any, spec: Any) -> None:
    workflow = spec.workflow(
        spec.task("f1", function="pkg.mod:f"),
        spec.task("f2", function="pkg.mod:g"),
        spec.task("odd", function="pkg.mod:h", resources={"num_cpus": 1.5}),
    )
    commands = driver.submit(workflow)
    pools = {c.agent_id: c.pool for c in commands.of(StartAgent)}
    assert set(driver.scheduler.pool_specs()) == {
        "functions[cpu=1,gpu=0,mem=0]",
        "functions[cpu=1.5,gpu=0,mem=0]",
    }
    assert pools["functions[cpu=1.5,gpu=0,mem=0]#1"].resources.num_cpus == 1.5
    assert all(p.agent_class == "agents.function:FunctionAgent" for p in pools.values())


def test_whole_multiples_of_a_function_cpu_are_ganged_on_the_base_pool(
    driver: Any, spec: Any
) -> None:
    workflow = spec.workflow(
        spec.task("f1", function="pkg.mod:f"),
        spec.task("big", function="pkg.mod:h", resources={"num_cpus": 2}),
    )
    commands = driver.submit(workflow)
    specs = driver.scheduler.pool_specs()
    ganged = specs["functions[cpu=2,gpu=0,mem=0]"]
    assert ganged.gang_host == specs["functions[cpu=1,gpu=0,mem=0]"]
    assert ganged.gang_size == 2
    # Only agents of the base pool start: one for f1, two for big (one runs it)
    assert {c.pool.key for c in commands.of(StartAgent)} == {"functions[cpu=1,gpu=0,mem=0]"}
    assert len(commands.started) == 3
    assert sorted(commands.dispatched_ids) == ["big", "f1"]


def test_a_task_with_its_own_resources_gets_a_resized_pool(driver: Any, spec: Any) -> None:
    workflow = spec.workflow(
        spec.task("small"),
        spec.task("large", resources={"num_cpus": 3}),
        agents=[spec.agent("worker", min_replicas=1)],
    )
    driver.submit(workflow)
    pools = driver.scheduler.pool_specs()
    assert set(pools) == {"worker", "worker[cpu=3,gpu=0,mem=0]"}
    assert pools["worker[cpu=3,gpu=0,mem=0]"].resources.num_cpus == 3
    assert pools["worker[cpu=3,gpu=0,mem=0]"].min_replicas == 0  # only the declared size
    assert pools["worker"].min_replicas == 1


# -- priorities ---------------------------------------------------------------------------

PRIORITY_ORDER = [
    ("crit", Priority.CRITICAL, None),
    ("high-early", Priority.HIGH, 10),
    ("high-late", Priority.HIGH, 20),
    ("high-none", Priority.HIGH, None),
    ("med-early", Priority.MEDIUM, 5),
    ("med", Priority.MEDIUM, None),
    ("low", Priority.LOW, None),
    ("bg", Priority.BACKGROUND, None),
]


@pytest.mark.parametrize("seed", range(4))
def test_priorities_then_deadlines_with_one_agent(make_sim: Any, spec: Any, seed: int) -> None:
    # Given one agent of capacity 1 and tasks of every priority, submitted in random order
    tasks = [
        spec.task(
            task_id,
            priority=priority,
            deadline=None if minutes is None else spec.deadline(minutes),
        )
        for task_id, priority, minutes in PRIORITY_ORDER
    ]
    random.Random(seed).shuffle(tasks)
    sim = make_sim(duration_s=1.0)
    sim.send(spec.nodes(8))
    # When the workflow runs to the end
    sim.submit(spec.workflow(*tasks, agents=[spec.agent("worker", replicas=1)]))
    sim.run()
    # Then tasks ran by priority, earlier deadline first within a priority
    assert sim.ledger.execution_order() == [task_id for task_id, _, _ in PRIORITY_ORDER]
    assert sim.ledger.violations == []
    # one call running, at most one prefetched behind it just before it ends
    assert sim.ledger.max_calls_seen == 2


def test_priority_beats_submission_order_across_workflows(make_sim: Any, spec: Any) -> None:
    # Given a busy agent and a backlog of BACKGROUND work from a first workflow
    sim = make_sim(duration_s=1.0)
    agent = spec.agent("worker", replicas=1)
    first = [spec.task(f"bg{i}", priority="background") for i in range(3)]
    sim.submit(spec.workflow(*first, agents=[agent], workflow_id="w1"))
    # When a second workflow brings CRITICAL work while bg0 runs
    sim.submit(
        spec.workflow(spec.task("urgent", priority="critical"), agents=[agent], workflow_id="w2")
    )
    sim.run()
    # Then the urgent task runs as soon as the agent is free
    assert sim.ledger.execution_order() == ["bg0", "urgent", "bg1", "bg2"]


@pytest.mark.parametrize(
    ("rank_by_critical_path", "expected_first"),
    [(True, "head"), (False, "loner")],
)
def test_critical_path_rank_breaks_ties(
    make_sim: Any, spec: Any, rank_by_critical_path: bool, expected_first: str
) -> None:
    # Given, at equal priority, a lone task submitted before the head of a long chain
    tasks = [spec.task("loner"), *spec.chain("head", "mid", "tail")]
    sim = make_sim(
        SchedulerConfig(rank_by_critical_path=rank_by_critical_path),
        duration_s=1.0,
    )
    sim.submit(spec.workflow(*tasks, agents=[spec.agent("worker", replicas=1)]))
    sim.run()
    # Then the chain's head goes first only when ranking by critical path
    assert sim.ledger.execution_order()[0] == expected_first


def test_estimated_durations_weigh_the_rank(make_sim: Any, spec: Any) -> None:
    # Two chains of two; the second has a long estimated tail, so its head goes first.
    tasks = [
        *spec.chain("a1", "a2", estimated_duration_s=1.0),
        spec.task("b1", estimated_duration_s=1.0),
        spec.task("b2", depends_on=["b1"], estimated_duration_s=50.0),
    ]
    sim = make_sim(duration_s=1.0)
    sim.submit(spec.workflow(*tasks, agents=[spec.agent("worker", replicas=1)]))
    sim.run()
    assert sim.ledger.execution_order()[0] == "b1"


# -- dependencies and results ------------------------------------------------------------


def test_dependencies_gate_dispatch_and_inputs_name_upstream_tasks(driver: Any, spec: Any) -> None:
    # Given a diamond whose joins use placeholders:  a -> b, a -> c, (b, c) -> d
    workflow = spec.workflow(
        spec.task("a"),
        spec.task("b", args=(OutputOf(output_of="a"),)),
        spec.task("c", kwargs={"x": {"output_of": "a"}}),
        spec.task("d", args=([OutputOf(output_of="b"), OutputOf(output_of="c")],)),
        agents=[spec.agent("worker", replicas=4)],
    )
    commands = driver.submit(workflow)
    # Then only the root runs at first
    assert commands.dispatched_ids == ["a"]
    assert [driver.state(t) for t in "bcd"] == [S.PENDING] * 3
    # When a succeeds, b and c run with a's result
    commands = driver.finish(*commands.orders)
    assert sorted(commands.dispatched_ids) == ["b", "c"]
    assert {o.task_id: o.inputs for o in commands.orders} == {"b": ("a",), "c": ("a",)}
    assert commands.states("a") == [S.SUCCEEDED]
    # When only b succeeds, d still waits for c
    b_order, c_order = sorted(commands.orders, key=lambda o: o.task_id)
    assert driver.finish(b_order).dispatched_ids == []
    assert driver.state("d") is S.PENDING
    # When c succeeds too, d runs with both results
    commands = driver.finish(c_order)
    assert [(o.task_id, o.inputs) for o in commands.orders] == [("d", ("b", "c"))]
    commands = driver.finish(*commands.orders)
    assert commands.workflow_events[0].state is WorkflowState.SUCCEEDED
    assert driver.scheduler.workflow_status("wf").count(S.SUCCEEDED) == 4


def test_task_events_come_before_the_workflow_event(driver: Any, spec: Any) -> None:
    commands = driver.submit(spec.workflow(spec.task("only")))
    commands = driver.finish(*commands.orders)
    kinds = [type(c) for c in commands]
    assert kinds.index(PublishTaskEvents) < kinds.index(PublishWorkflowEvent)
    event = commands.workflow_events[0]
    assert (event.workflow_id, event.state) == ("wf", WorkflowState.SUCCEEDED)
    assert "succeeded=1" in event.message
    assert commands.task_events[0].attempt == 1


def test_status_and_task_info_follow_the_run(driver: Any, spec: Any) -> None:
    start_s = driver.clock.now_s()
    commands = driver.submit(spec.workflow(*spec.chain("a", "b")))
    status = driver.scheduler.workflow_status("wf")
    assert (status.state, status.total, status.done, status.progress) == (
        WorkflowState.RUNNING,
        2,
        0,
        0.0,
    )
    assert status.counts == {S.RUNNING: 1, S.PENDING: 1}
    assert status.submitted_s == start_s
    commands = driver.finish(*commands.orders, duration_s=2.0)
    info = driver.scheduler.task_info("wf", "a")
    assert (info.state, info.attempts, info.agent_id) == (S.SUCCEEDED, 1, "worker#1")
    assert (info.started_s, info.finished_s, info.duration_s) == (start_s, start_s + 2, 2.0)
    assert driver.scheduler.workflow_status("wf").progress == 0.5
    driver.finish(*commands.orders, duration_s=1.0)
    status = driver.scheduler.workflow_status("wf")
    assert (status.state, status.finished_s, status.progress) == (
        WorkflowState.SUCCEEDED,
        start_s + 3,
        1.0,
    )
    assert [i.task_id for i in driver.scheduler.task_infos("wf")] == ["a", "b"]
    with pytest.raises(KeyError):
        driver.scheduler.workflow_status("nope")
    with pytest.raises(KeyError):
        driver.scheduler.task_info("wf", "nope")


def test_summary_matches_the_fake_clock(driver: Any, spec: Any, make_outcome: Any) -> None:
    # Given a -> b (2 s then 3 s) beside c (1 s), on two replicas
    workflow = spec.workflow(
        *spec.chain("a", "b"), spec.task("c"), agents=[spec.agent("worker", replicas=2)]
    )
    start_s = driver.clock.now_s()
    commands = driver.submit(workflow)
    orders = {o.task_id: o for o in commands.orders}
    assert set(orders) == {"a", "c"}
    # When c ends after 1 s, a after 2 s, and b runs 3 s after that
    driver.finish(orders["c"], duration_s=1.0)
    driver.clock.set(start_s + 2.0)
    done_a = make_outcome(orders["a"], started_s=start_s, finished_s=start_s + 2.0)
    commands = driver.send(AttemptsFinished(outcomes=(done_a,)))
    commands = driver.finish(*commands.orders, duration_s=3.0)
    # Then the summary adds up on the fake clock
    summary = driver.scheduler.summary("wf")
    assert summary.state is WorkflowState.SUCCEEDED
    assert (summary.total, summary.succeeded, summary.failed, summary.skipped) == (3, 3, 0, 0)
    assert summary.wall_s == pytest.approx(5.0)
    assert summary.task_time_sum_s == pytest.approx(6.0)
    assert summary.critical_path == ("a", "b")
    assert summary.critical_path_s == pytest.approx(5.0)
    assert summary.speedup == pytest.approx(6.0 / 5.0)


def test_summary_of_a_running_workflow_uses_the_clock(driver: Any, spec: Any) -> None:
    driver.submit(spec.workflow(spec.task("a")))
    driver.clock.advance(7.5)
    summary = driver.scheduler.summary("wf")
    assert summary.state is WorkflowState.RUNNING
    assert summary.wall_s == pytest.approx(7.5)
    assert summary.task_time_sum_s == 0.0
    assert summary.speedup == 0.0


def test_handle_refuses_what_is_not_an_event(driver: Any) -> None:
    with pytest.raises(TypeError, match="not a scheduler event"):
        driver.send("tick")
    assert driver.send(Tick()) == []
    assert driver.send(AttemptsFinished(outcomes=())) == []


def test_priority_holds_across_pools_that_share_the_cluster(make_sim: Any, spec: Any) -> None:
    # Was a bug: priority inversion between pools. With the only CPU held by pool "bulk" and a
    # backlog of BACKGROUND tasks there, a CRITICAL task of pool "fast" waits until the
    # whole backlog is done: each time a bulk call ends, `_close_attempt` marks only "bulk"
    # dirty and its agent is handed the next BACKGROUND task at once, while
    # `_reclaim_idle` never takes agents from a pool that still has ready tasks. Fix: let
    # `_reclaim_idle(pool)` also stop idle agents of pools whose head key
    # (`ready.peek_key()`) is worse than `pool`'s, and when an agent becomes idle, run
    # `_dispatch` over every pool with ready tasks in key order (not only the agent's own
    # pool), so that the freed capacity goes to the most urgent pool first.
    #
    # Given a 1-CPU cluster busy with ten 1 s BACKGROUND tasks of pool "bulk"
    sim = make_sim(duration_s=1.0)
    sim.send(spec.nodes(1))
    backlog = [spec.task(f"bg{i}", agent="bulk", priority="background") for i in range(10)]
    sim.submit(spec.workflow(*backlog, workflow_id="w1"))
    # When a CRITICAL task arrives for another pool
    sim.submit(
        spec.workflow(spec.task("urgent", agent="fast", priority="critical"), workflow_id="w2")
    )
    sim.run()
    # Then it runs as soon as the background task in progress ends
    order = sim.ledger.execution_order()
    assert order.index("urgent") <= 1, order


def test_summary_counts_the_time_of_timed_out_attempts(driver: Any, spec: Any) -> None:
    # A timed-out attempt's 2 s count in the summary like any other attempt's time.
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.0)
    driver.submit(spec.workflow(spec.task("t", timeout_s=2.0, retry=retry)))
    started_s = driver.clock.now_s()
    # The first attempt times out after 2 s; with no backoff the retry is due in the same tick.
    commands = driver.tick(started_s + 2.0)
    info = driver.scheduler.task_info("wf", "t")
    assert info.state is S.RUNNING and info.attempts == 2
    assert info.error_type == "TimeoutError"
    driver.finish(*commands.orders, duration_s=1.0)  # the second attempt succeeds in 1 s
    summary = driver.scheduler.summary("wf")
    assert summary.state is WorkflowState.SUCCEEDED
    assert summary.task_time_sum_s == pytest.approx(3.0)
