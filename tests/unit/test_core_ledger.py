"""Jepsen-style ledger: thousands of tasks, random faults, and a ledger as the oracle.

A seeded RNG draws a random DAG and injects failures (retryable or not), agent deaths
(some of whose results still arrive late), hung attempts that only a timeout ends, and a
cancelled workflow. The simulated runtime records every attempt, effect and result; the
assertions are the guarantees: nothing lost, no result recorded twice, no task started
before its dependencies succeeded, re-executions within the stated bound.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from orchestrator.core import (
    Priority,
    RetryPolicy,
    SchedulerConfig,
    TaskState,
    WorkflowCancelRequested,
    WorkflowSpec,
    WorkflowState,
)

S = TaskState
RETRY = RetryPolicy(max_attempts=3, initial_backoff_s=0.05, max_backoff_s=0.2, max_agent_losses=2)
POOLS = ("cpu", "io", None)  # None: a plain function task


def random_workflow(
    rng: random.Random, spec: Any, workflow_id: str, size: int, *, multi_core: bool = False
) -> WorkflowSpec:
    """Return a random DAG: each task depends on up to 3 of the 40 tasks before it.

    Dependencies stay within blocks of 100 tasks, so that one failure skips part of the
    graph, not all that follows it. With ``multi_core``, plain function tasks need 1, 2 or
    3 CPUs (the larger ones run ganged on 1-CPU agents).
    """
    tasks = []
    for index in range(size):
        window = range(max(index - index % 100, index - 40), index)
        deps = [f"t{j}" for j in rng.sample(window, min(len(window), rng.choice([0, 1, 1, 2, 3])))]
        pool = rng.choice(POOLS)
        fields: dict[str, Any] = {
            "depends_on": deps,
            "priority": rng.choice(list(Priority)),
            "retry": RETRY,
        }
        if rng.random() < 0.3:
            fields["deadline"] = spec.deadline(rng.randrange(100))
        if rng.random() < 0.2:
            fields["timeout_s"] = 1.0
        if pool is None:
            fields["function"] = "pkg.mod:work"
            if multi_core:
                fields["resources"] = {"num_cpus": rng.choice([1, 1, 2, 3])}
        tasks.append(spec.task(f"t{index}", agent=pool, **fields))
    agents = [
        spec.agent("cpu", replicas=6),
        spec.agent("io", replicas=3, max_concurrency=4, resources={"num_cpus": 0.5}),
    ]
    workflow: WorkflowSpec = spec.workflow(*tasks, agents=agents, workflow_id=workflow_id)
    return workflow


def fault_injector(rng: random.Random, behaviour: Any, workflows: list[WorkflowSpec]) -> Any:
    """Return the fault injector: mostly 1 ms successes, some slow, failing or hanging."""
    timeouts = {
        (workflow.id, task.id): task.timeout_s for workflow in workflows for task in workflow.tasks
    }
    quick_ok = behaviour(0.001)
    slow_ok = behaviour(0.2)

    def run(order: Any) -> Any:
        roll = rng.random()
        if roll < 0.08:
            return behaviour(0.002, ok=False)
        if roll < 0.09:
            return behaviour(0.001, ok=False, retryable=False)
        if roll < 0.10 and timeouts[(order.workflow_id, order.task_id)] is not None:
            return behaviour(hang=True)
        if roll < 0.15:
            return slow_ok
        return quick_ok

    return run


def assert_ledger(sim: Any, workflows: list[WorkflowSpec]) -> Counter[TaskState]:
    """Check every guarantee against the ledger; return the final states' counts."""
    scheduler, ledger = sim.scheduler, sim.ledger
    assert ledger.violations == []
    # Every tick consumed what it was asked for (no wakeup had to be sent twice)
    assert ledger.wasted_ticks == 0
    finals: Counter[TaskState] = Counter()
    attempts = Counter((o.workflow_id, o.task_id) for _, _, o in ledger.attempts)
    unstarted = Counter((workflow_id, task_id) for workflow_id, task_id, _ in ledger.unstarted)
    terminal_events = Counter(
        (e.workflow_id, e.task_id) for e in ledger.task_events if e.state.is_terminal
    )
    bound = RETRY.max_attempts + RETRY.max_agent_losses
    for workflow in workflows:
        wid = workflow.id
        assert wid is not None
        infos = {info.task_id: info for info in scheduler.task_infos(wid)}
        states = {task_id: info.state for task_id, info in infos.items()}
        finals.update(states.values())
        # Nothing lost: every task ended, and said so exactly once
        assert all(state.is_terminal for state in states.values())
        assert all(terminal_events[(wid, t)] == 1 for t in states)
        for task in workflow.tasks:
            key = (wid, task.id)
            state = states[task.id]
            # No result recorded twice, and a result only for a succeeded task
            assert ledger.results[key] == (1 if state is S.SUCCEEDED else 0), key
            # Re-executions within max_attempts + max_agent_losses (handed back unstarted,
            # an attempt never ran: not a failure, not an execution)
            assert attempts[key] - unstarted[key] <= bound, (key, attempts[key])
            assert infos[task.id].attempts == attempts[key]
            deps = task.dependencies()
            # (That no attempt was handed out before its dependencies succeeded is checked
            # at every dispatch by the simulated runtime: see `ledger.violations`.)
            if state is S.SUCCEEDED:
                assert all(states[d] is S.SUCCEEDED for d in deps)
                # ...and on the agents' own clocks, no effect of it began before they ended
                first_start_s = min(start for start, _ in ledger.effect_times[key])
                assert all(ledger.success_s[(wid, d)] <= first_start_s for d in deps), key
            if state is S.SKIPPED:
                assert attempts[key] == 0
                assert any(states[d] is not S.SUCCEEDED for d in deps)
        # Counts, status and the workflow event agree with the tasks
        status = scheduler.workflow_status(wid)
        assert status.counts == dict(Counter(states.values()))
        workflow_events = [e for e in ledger.workflow_events if e.workflow_id == wid]
        assert [e.state for e in workflow_events] == [status.state]
    return finals


def test_ledger_under_random_faults(spec: Any, make_sim: Any, make_behaviour: Any) -> None:
    # Given a 5,000-task random DAG and a 500-task side workflow that gets cancelled
    rng = random.Random(20240611)
    big = random_workflow(rng, spec, "big", 5000)
    side = random_workflow(rng, spec, "side", 500)
    sim = make_sim(
        SchedulerConfig(idle_agent_timeout_s=0.5),
        behaviour=fault_injector(rng, make_behaviour, [big, side]),
        rng=rng,
        death_rate=0.01,
        stale_rate=0.5,
    )
    sim.send(spec.nodes(4, 4))
    sim.submit(big)
    sim.submit(side)
    sim.at(sim.clock.now_s() + 0.5, lambda: sim.send(WorkflowCancelRequested(workflow_id="side")))
    # When everything runs to the end
    sim.run()
    # Then every guarantee holds
    finals = assert_ledger(sim, [big, side])
    assert sim.scheduler.workflow_status("side").state is WorkflowState.CANCELLED
    assert sim.scheduler.workflow_status("big").state is WorkflowState.FAILED
    # And the faults really happened (the test is not vacuous)
    events = Counter(e.state for e in sim.ledger.task_events)
    messages = [e.message for e in sim.ledger.task_events]
    assert len(sim.ledger.agents_killed) >= 5
    assert sim.ledger.stale_deliveries >= 5  # late results of dead agents, all ignored
    assert sum("TimeoutError" in m for m in messages) >= 3
    assert sum("re-queued" in m for m in messages) >= 5
    assert events[S.RETRY_WAIT] >= 100
    assert finals[S.SUCCEEDED] > 4000
    assert finals[S.FAILED] >= 1
    assert finals[S.SKIPPED] >= 1
    assert finals[S.CANCELLED] >= 1
    assert max(sim.ledger.batch_sizes) > 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ledger_small_runs_with_many_deaths(
    spec: Any, make_sim: Any, make_behaviour: Any, seed: int
) -> None:
    # A harsher, smaller variant: one agent death every ~10 calls.
    rng = random.Random(seed)
    workflow = random_workflow(rng, spec, f"w{seed}", 400)
    sim = make_sim(
        behaviour=fault_injector(rng, make_behaviour, [workflow]),
        rng=rng,
        death_rate=0.1,
        stale_rate=0.5,
    )
    sim.send(spec.nodes(4))
    sim.submit(workflow)
    sim.run()
    finals = assert_ledger(sim, [workflow])
    assert sum(finals.values()) == 400
    # Once idle agents are retired, none is left behind: each was stopped or died
    sim.drain()
    assert sim.scheduler.agents() == {}
    ledger = sim.ledger
    assert len(set(ledger.agents_started)) == len(ledger.agents_started)
    assert set(ledger.agents_started) == set(ledger.agents_stopped) | set(ledger.agents_killed)
    assert len(sim.ledger.agents_killed) >= 10
    # Every death took at least one running attempt with it, which went back to READY or,
    # past max_agent_losses, failed for good
    lost_events = [
        e for e in sim.ledger.task_events if "re-queued" in e.message or "AgentLost" in e.message
    ]
    assert len(lost_events) >= len(sim.ledger.agents_killed)


def test_max_agent_losses_bound_is_reached_but_not_passed(spec: Any, make_sim: Any) -> None:
    # Every agent dies during every call: each task is lost max_agent_losses + 1 times and
    # then fails, never running more often than the bound.
    retry = RetryPolicy(max_attempts=2, max_agent_losses=2)
    tasks = [spec.task(f"t{i}", retry=retry) for i in range(20)]
    sim = make_sim(death_rate=1.0, death_cause="killed")
    sim.submit(spec.workflow(*tasks, agents=[spec.agent("worker", replicas=2)]))
    sim.run()
    for index in range(20):
        info = sim.scheduler.task_info("wf", f"t{index}")
        assert info.state is S.FAILED
        assert info.error_type == "AgentLost"
        assert info.attempts == retry.max_agent_losses + 1
    assert sim.ledger.violations == []


def run_kinds_to_the_end(
    sim: Any,
    spec: Any,
    workflow: WorkflowSpec,
    make_behaviour: Any,
    durations_s: tuple[float, float, float],
) -> Any:
    """Run ``workflow`` to the end on 4 CPUs; check the guarantees; return the ledger.

    Task ``tN`` is of kind ``N % 3``, its duration from ``durations_s``; half the dead
    agents' outcomes arrive late anyway. Checked: every guarantee (`assert_ledger`),
    every task ended, no attempt id used twice.
    """
    kinds = [make_behaviour(duration_s) for duration_s in durations_s]
    sim.behaviour = lambda order: kinds[int(order.task_id[1:]) % 3]
    sim.stale_rate = 0.5
    sim.send(spec.nodes(4))
    sim.submit(workflow)
    sim.run()
    finals = assert_ledger(sim, [workflow])
    assert sum(finals.values()) == len(workflow.tasks)
    ledger = sim.ledger
    assert len({o.attempt_id for _, _, o in ledger.attempts}) == len(ledger.attempts)
    return ledger


@pytest.mark.parametrize("seed", [4, 5])
def test_ledger_with_prefetched_long_tasks_and_agent_deaths(
    spec: Any, make_sim: Any, make_behaviour: Any, seed: int
) -> None:
    # Given long tasks (above the pipelining threshold) of known kinds, so that agents get
    # their next task prefetched before their running one ends (a wide window, so that
    # deaths often find a prefetched call waiting), and frequent deaths
    rng = random.Random(seed)
    workflow = random_workflow(rng, spec, f"p{seed}", 300)
    sim = make_sim(SchedulerConfig(prefetch_window_s=0.25), rng=rng, death_rate=0.05)
    # When it runs to the end, no attempt was handed out twice and none was lost
    ledger = run_kinds_to_the_end(sim, spec, workflow, make_behaviour, (0.1, 0.3, 1.0))
    # And prefetching really happened (one call more than the io agents' 4 slots), and
    # deaths really took prefetched attempts with them
    assert ledger.max_calls_seen == 5
    assert set(ledger.batch_sizes) == {1}
    assert ledger.queued_on_death >= 1
    assert len(ledger.agents_killed) >= 5


#: The two agent pools of `independent_workflow` (function tasks use the default pool).
AGENTS_OF_TWO = ("cpu", "io")


def independent_workflow(rng: random.Random, spec: Any, workflow_id: str, size: int) -> Any:
    """Return a workflow without dependencies of ``size`` tasks spread over `POOLS`."""
    tasks = []
    for index in range(size):
        pool = rng.choice(POOLS)
        fields: dict[str, Any] = {"retry": RETRY}
        if pool is None:
            fields["function"] = "pkg.mod:work"
        tasks.append(spec.task(f"t{index}", agent=pool, **fields))
    agents = [spec.agent(name, replicas=2) for name in AGENTS_OF_TWO]
    return spec.workflow(*tasks, agents=agents, workflow_id=workflow_id)


@pytest.mark.parametrize("seed", [9, 10])
def test_ledger_with_prefetched_batches_and_agent_deaths(
    spec: Any, make_sim: Any, make_behaviour: Any, seed: int
) -> None:
    # Given a workflow without dependencies of short tasks of a few kinds (1-8 ms): alone
    # in its pools, its calls are long batches sent to each agent a quarter before its
    # running batch ends (prefetched, not pipelined); and agents that die during calls
    rng = random.Random(seed)
    workflow = independent_workflow(rng, spec, f"b{seed}", 1500)
    sim = make_sim(rng=rng, death_rate=0.04)
    # When it runs to the end, no attempt was handed out twice and none was lost
    ledger = run_kinds_to_the_end(sim, spec, workflow, make_behaviour, (0.001, 0.004, 0.008))
    # And calls were long batches, at most one more per agent than its slot (the
    # prefetched one), and deaths took batches waiting on their agents with them
    assert max(ledger.batch_sizes) > 4
    assert ledger.max_calls_seen == 2
    assert ledger.queued_on_death >= 1
    assert len(ledger.agents_killed) >= 3


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_ledger_with_multi_core_functions_and_agent_deaths(
    spec: Any, make_sim: Any, make_behaviour: Any, seed: int
) -> None:
    # Given plain functions of 1, 2 and 3 CPUs on two 4-CPU nodes, agents that die during
    # calls, and any live agent (a gang's reserved partner included) killed every 50 ms
    rng = random.Random(seed)
    workflow = random_workflow(rng, spec, f"m{seed}", 400, multi_core=True)
    sim = make_sim(
        SchedulerConfig(urgent_lane=False, idle_agent_timeout_s=0.5),
        behaviour=fault_injector(rng, make_behaviour, [workflow]),
        rng=rng,
        death_rate=0.03,
        stale_rate=0.5,
    )
    sim.send(spec.nodes(4, 4))
    sim.submit(workflow)
    idle_kills: list[str] = []

    def kill_any() -> None:
        if sim.all_workflows_ended():
            return
        if sim.agents:
            victim = rng.choice(sorted(sim.agents))
            if not sim.agents[victim].running:
                idle_kills.append(victim)  # an idle agent, or a gang's partner
            sim.kill(victim, stale=True)
        sim.at(sim.clock.now_s() + 0.05, kill_any)

    sim.at(sim.clock.now_s() + 0.05, kill_any)
    # When it runs to the end
    sim.run()
    # Then every guarantee holds: nothing lost, no result twice, no attempt handed out
    # twice, and no node ever ran attempts needing more CPUs than it has
    finals = assert_ledger(sim, [workflow])
    assert sum(finals.values()) == 400
    ledger = sim.ledger
    assert len({o.attempt_id for _, _, o in ledger.attempts}) == len(ledger.attempts)
    # And only 1-CPU function agents ever started: the 2- and 3-core tasks were ganged
    started = set(ledger.agents_started)
    assert not any(a.startswith(("functions[cpu=2", "functions[cpu=3")) for a in started)
    multi = {t.id for t in workflow.tasks if t.resources is not None and t.resources.num_cpus > 1}
    assert sum(1 for _, _, o in ledger.attempts if o.task_id in multi) >= 50
    # And the faults really happened, idle agents and partners included
    assert len(ledger.agents_killed) >= 15
    assert len(idle_kills) >= 3
