"""Urgent lanes and preemption: a CRITICAL task never waits behind lower-priority work.

Each case runs on the simulated runtime (fake clock). "bg" holds BACKGROUND work that
keeps every agent busy; "hot" is a CRITICAL task submitted while it runs.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.core import SchedulerConfig, TaskState, WorkflowState
from orchestrator.core.preemption import PREEMPTED_ERROR
from orchestrator.testing import START_S, Behaviour, Driver, SimRuntime, SpecBuilder

FN = "tests.fake:work"
HOT_AT_S = START_S + 2.5


def _background(spec: SpecBuilder, n: int, *, agent: str | None, **fields: Any) -> Any:
    if agent is None:
        fields["function"] = FN
    tasks = [spec.task(f"b{i}", agent, priority="background", **fields) for i in range(n)]
    if agent is None:
        return spec.workflow(*tasks, workflow_id="bg")
    return spec.workflow(*tasks, agents=[spec.agent(agent, replicas=1)], workflow_id="bg")


def _hot(spec: SpecBuilder, *, agent: str | None) -> Any:
    if agent is None:
        task = spec.task("hot", priority="critical", function=FN)
        return spec.workflow(task, workflow_id="hot")
    task = spec.task("hot", agent, priority="critical")
    return spec.workflow(task, agents=[spec.agent(agent, replicas=1)], workflow_id="hot")


def _started_s(sim: SimRuntime, workflow_id: str, task_id: str) -> list[float]:
    return [start for start, _ in sim.ledger.effect_times[(workflow_id, task_id)]]


def _run(sim: SimRuntime, spec: SpecBuilder, *, agent: str | None, **bg_fields: Any) -> None:
    sim.submit(_background(spec, 5, agent=agent, **bg_fields))
    sim.at(HOT_AT_S, partial(sim.submit, _hot(spec, agent=agent)))
    sim.run()
    for workflow_id in ("bg", "hot"):
        assert sim.scheduler.workflow_status(workflow_id).state is WorkflowState.SUCCEEDED
    assert sim.ledger.violations == []


def test_a_critical_task_starts_at_once_in_the_urgent_lane(spec: SpecBuilder) -> None:
    # Given one function agent busy with 1 s BACKGROUND tasks
    sim = SimRuntime(SchedulerConfig(max_function_replicas=1), duration_s=1.0)
    # When a CRITICAL function task arrives mid-task
    _run(sim, spec, agent=None)
    # Then it starts at once, beside the running one, on the same agent
    assert _started_s(sim, "hot", "hot") == [HOT_AT_S]
    assert len(sim.ledger.agents_started) == 1
    assert sim.ledger.stop_requests == []  # nothing preemptible: nothing asked to stop


def test_without_the_urgent_lane_it_waits_for_the_running_task(spec: SpecBuilder) -> None:
    config = SchedulerConfig(max_function_replicas=1, urgent_lane=False)
    sim = SimRuntime(config, duration_s=1.0)
    _run(sim, spec, agent=None)
    assert _started_s(sim, "hot", "hot") == [START_S + 3.0]


def test_agents_without_a_lane_make_the_critical_task_wait(spec: SpecBuilder) -> None:
    sim = SimRuntime(duration_s=1.0)
    _run(sim, spec, agent="worker")  # not preemptible: never touched
    assert _started_s(sim, "hot", "hot") == [START_S + 3.0]
    assert sim.ledger.stop_requests == []


def test_a_preemptible_task_that_stops_when_asked_gives_way(spec: SpecBuilder) -> None:
    # Given an agent without a lane running 10 s BACKGROUND tasks that stop when asked
    sim = SimRuntime(behaviour=lambda order: Behaviour(10.0, stops_when_asked=True))
    # When a CRITICAL task arrives
    _run(sim, spec, agent="worker", preemptible=True)
    # Then the running attempt is asked to stop, stops 1 ms later, and the CRITICAL
    # task takes its agent
    assert len(sim.ledger.stop_requests) == 1
    assert _started_s(sim, "hot", "hot") == [pytest.approx(HOT_AT_S + 0.001)]
    # And the preempted task ran again later and succeeded, no failure counted
    preempted = sim.scheduler.task_info("bg", "b0")
    assert preempted.state is TaskState.SUCCEEDED
    assert preempted.attempts == 2
    assert sim.ledger.results[("bg", "b0")] == 1
    assert sim.ledger.agents_stopped == []


def test_a_preempted_task_keeps_its_retries(spec: SpecBuilder) -> None:
    # A task with a single attempt allowed is preempted and still succeeds afterwards.
    sim = SimRuntime(behaviour=lambda order: Behaviour(10.0, stops_when_asked=True))
    _run(sim, spec, agent="worker", preemptible=True, retry={"max_attempts": 1})
    assert sim.scheduler.task_info("bg", "b0").state is TaskState.SUCCEEDED


def test_a_task_that_ignores_the_request_loses_its_agent_after_the_grace(
    spec: SpecBuilder,
) -> None:
    # Given preemptible BACKGROUND work that never looks at ctx.should_stop
    config = SchedulerConfig(preemption_grace_s=2.0)
    sim = SimRuntime(config, behaviour=lambda order: Behaviour(10.0))
    # When a CRITICAL task waits for its agent
    _run(sim, spec, agent="worker", preemptible=True)
    # Then the agent is stopped when the grace period ends, the CRITICAL task runs on the
    # replacement, and the stopped task is re-queued free (no failure, no loss)
    assert sim.ledger.agents_stopped == ["worker#1"]
    [hot_start] = _started_s(sim, "hot", "hot")
    assert hot_start == pytest.approx(HOT_AT_S + 2.0)
    assert sim.scheduler.task_info("bg", "b0").attempts == 2
    assert sim.scheduler.task_info("bg", "b0").state is TaskState.SUCCEEDED


def test_queued_attempts_asked_to_stop_never_run(spec: SpecBuilder) -> None:
    # Short pipelined BACKGROUND tasks: the agent holds one running call and one queued.
    sim = SimRuntime(
        SchedulerConfig(max_function_replicas=1),
        behaviour=lambda order: Behaviour(0.02, stops_when_asked=True),
    )
    sim.submit(_background(spec, 400, agent=None, preemptible=True))
    sim.at(START_S + 1.0, partial(sim.submit, _hot(spec, agent=None)))
    sim.run()
    assert sim.scheduler.workflow_status("bg").state is WorkflowState.SUCCEEDED
    assert _started_s(sim, "hot", "hot") == [START_S + 1.0]  # the lane
    # What was sent to the agent was asked to stop; every task still succeeded once
    assert sim.ledger.stop_requests
    assert all(sim.ledger.results[("bg", f"b{i}")] == 1 for i in range(400))
    assert sim.ledger.violations == []


def test_critical_and_non_preemptible_work_is_never_asked_to_stop(spec: SpecBuilder) -> None:
    # Given a CRITICAL preemptible task running on the only agent (no lane)
    sim = SimRuntime(behaviour=lambda order: Behaviour(10.0, stops_when_asked=True))
    first = spec.task("first", priority="critical", preemptible=True)
    sim.submit(spec.workflow(first, agents=[spec.agent(replicas=1)], workflow_id="bg"))
    # When another CRITICAL task arrives
    sim.at(HOT_AT_S, partial(sim.submit, _hot(spec, agent="worker")))
    sim.run()
    # Then nothing was stopped: CRITICAL work is never preempted
    assert sim.ledger.stop_requests == []
    assert _started_s(sim, "hot", "hot") == [START_S + 10.0]


def test_a_stop_error_nobody_asked_for_is_an_ordinary_failure(spec: SpecBuilder) -> None:
    driver = Driver()
    task = spec.task("t", preemptible=True, retry={"max_attempts": 1})
    commands = driver.submit(spec.workflow(task))
    [order] = commands.orders
    driver.finish(order, ok=False, error_type=PREEMPTED_ERROR)
    assert driver.state("t") is TaskState.FAILED


def test_an_urgent_call_is_sent_to_the_lane(spec: SpecBuilder) -> None:
    driver = Driver(SchedulerConfig(max_function_replicas=1))
    first = driver.submit(spec.workflow(spec.task("slow", function=FN), workflow_id="bg"))
    assert [batch.urgent for batch in first.dispatches] == [False]
    hot = driver.submit(_hot(spec, agent=None))
    [batch] = hot.dispatches
    assert batch.urgent
    assert batch.agent_id == first.dispatches[0].agent_id
    # A second CRITICAL task finds the lane taken: it waits
    second = spec.task("hot2", priority="critical", function=FN)
    assert driver.submit(spec.workflow(second, workflow_id="hot2")).dispatches == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    replicas=st.integers(1, 3),
    background=st.lists(
        st.tuples(st.sampled_from([0.01, 0.5, 3.0]), st.booleans(), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    critical_at=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=4),
    grace_s=st.sampled_from([0.2, 1.0]),
    functions=st.booleans(),
)
def test_random_preemptions_keep_every_promise(
    replicas: int,
    background: list[tuple[float, bool, bool]],
    critical_at: list[float],
    grace_s: float,
    functions: bool,
) -> None:
    """Whatever is drawn: every task succeeds exactly once, only preemptible lower-priority
    attempts are ever asked to stop, and a preempted run never counts against retries."""
    spec = SpecBuilder()
    agent = None if functions else "worker"
    extra = {"function": FN} if functions else {}
    tasks = [
        spec.task(
            f"b{i}",
            agent,
            priority="background",
            preemptible=preemptible,
            retry={"max_attempts": 1},
            **extra,
        )
        for i, (_, preemptible, _) in enumerate(background)
    ]
    agents = [] if functions else [spec.agent("worker", replicas=replicas)]
    behaviours = {
        f"b{i}": Behaviour(d, stops_when_asked=c) for i, (d, _, c) in enumerate(background)
    }
    config = SchedulerConfig(max_function_replicas=replicas, preemption_grace_s=grace_s)
    sim = SimRuntime(config, behaviour=lambda order: behaviours.get(order.task_id, Behaviour(0.3)))
    sim.submit(spec.workflow(*tasks, agents=agents, workflow_id="bg"))
    for n, delay_s in enumerate(critical_at):
        hot = spec.task("hot", agent, priority="critical", retry={"max_attempts": 1}, **extra)
        workflow = spec.workflow(hot, agents=agents, workflow_id=f"hot{n}")
        sim.at(START_S + delay_s, partial(sim.submit, workflow))
    sim.run()
    assert sim.ledger.violations == []
    assert all(state.state is WorkflowState.SUCCEEDED for state in _statuses(sim))
    assert all(count == 1 for count in sim.ledger.results.values())
    for workflow_id, task_id, _ in sim.ledger.preempted:
        assert workflow_id == "bg" and background[int(task_id[1:])][1]  # preemptible only
    orders = {order.attempt_id: order for _, _, order in sim.ledger.attempts}
    for attempt_id in sim.ledger.stop_requests:
        order = orders[attempt_id]
        assert order.workflow_id == "bg" and background[int(order.task_id[1:])][1]


def _statuses(sim: SimRuntime) -> list[Any]:
    return [sim.scheduler.workflow_status(wf) for wf in sim.scheduler.workflow_ids()]


def test_two_critical_tasks_do_not_share_an_agent_through_the_lane(spec: SpecBuilder) -> None:
    # The lane jumps ahead of less urgent work only: among CRITICAL tasks, arrival order.
    driver = Driver(SchedulerConfig(max_function_replicas=1))
    first = spec.task("first", priority="critical", function=FN)
    assert len(driver.submit(spec.workflow(first, workflow_id="a")).dispatches) == 1
    second = spec.task("second", priority="critical", function=FN)
    assert driver.submit(spec.workflow(second, workflow_id="b")).dispatches == []


def test_a_critical_task_is_not_queued_behind_a_long_batch_with_a_free_slot(
    spec: SpecBuilder,
) -> None:
    # Given one function agent running long batches of short BACKGROUND tasks of a workflow
    # without dependencies (prefetched, so the agent often holds just its running call)
    sim = SimRuntime(SchedulerConfig(max_function_replicas=1), duration_s=0.002)
    sim.submit(_background(spec, 2000, agent=None))
    # When a CRITICAL task arrives mid-batch
    sim.at(START_S + 1.0005, partial(sim.submit, _hot(spec, agent=None)))
    sim.run()
    # Then it starts at once in the urgent lane, not queued behind the running batch
    assert _started_s(sim, "hot", "hot") == [START_S + 1.0005]
    assert sim.ledger.violations == []


def test_critical_work_alone_is_still_pipelined(spec: SpecBuilder) -> None:
    # Given a DAG of short CRITICAL tasks only (nothing less urgent for a lane to jump)
    tasks = [spec.task(f"c{i}", priority="critical", function=FN) for i in range(400)]
    tasks.append(spec.task("last", priority="critical", function=FN, depends_on=["c0"]))
    sim = SimRuntime(SchedulerConfig(max_function_replicas=1), duration_s=0.001)
    sim.submit(spec.workflow(*tasks, workflow_id="hot"))
    sim.run()
    # Then the agent holds a call more than it runs (pipelined), and no lane was used
    assert sim.scheduler.workflow_status("hot").state is WorkflowState.SUCCEEDED
    assert sim.ledger.max_calls_seen == 2
    assert sim.ledger.violations == []
