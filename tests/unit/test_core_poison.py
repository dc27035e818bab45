"""A poison task never takes its neighbours down: deaths are charged only to the culprit.

When an agent dies (its process ends on its own) while it holds several attempts, nobody
can tell which one killed it: all are re-queued free of charge as suspects, and each
suspect then runs alone, so that the next death is attributed. A death while one attempt
runs alone is charged to that attempt as a failure (``AgentDied``). Infrastructure losses
(node lost, killed from outside) count against ``max_agent_losses``; stops the scheduler
makes itself (another task's timeout) cost nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from orchestrator.core import AgentLost, RetryPolicy, StopAgent, TaskState, WorkflowState

S = TaskState
SHORT = {"estimated_duration_s": 0.001}  # short tasks: batched five to a call


def died(agent_id: str, reason: str = "simulated crash") -> AgentLost:
    return AgentLost(agent_id=agent_id, cause="died", reason=reason)


def test_death_of_a_batch_requeues_every_attempt_free_as_suspects(driver: Any, spec: Any) -> None:
    # Given three short tasks batched in one call to the only agent
    workflow = spec.workflow(
        *(spec.task(name, **SHORT) for name in "abc"),
        agents=[spec.agent("worker", replicas=1)],
    )
    commands = driver.submit(workflow)
    assert [len(batch.attempts) for batch in commands.dispatches] == [3]
    # When the agent dies (nobody knows which of the three killed it)
    commands = driver.send(died("worker#1"))
    # Then all three are re-queued free, and a replacement runs one of them alone
    assert sorted(e.task_id for e in commands.task_events if e.state is S.READY) == list("abc")
    assert all("re-queued free" in e.message for e in commands.task_events)
    assert commands.started == ["worker#2"]
    assert [len(batch.attempts) for batch in commands.dispatches] == [1]
    # And the others wait until that call ends, then go alone too, one by one
    seen = []
    for _ in range(3):
        [order] = commands.orders
        seen.append(order.task_id)
        commands = driver.finish(order)
    assert sorted(seen) == list("abc")
    assert commands.workflow_events[0].state is WorkflowState.SUCCEEDED
    for name in "abc":
        info = driver.scheduler.task_info("wf", name)
        assert (info.state, info.attempts, info.error_type) == (S.SUCCEEDED, 2, None)


def test_death_while_running_alone_is_charged_to_that_task(driver: Any, spec: Any) -> None:
    # Given a task allowed two attempts, running alone on its agent
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.0)
    commands = driver.submit(spec.workflow(spec.task("poison", retry=retry)))
    ray_message = "The actor died unexpectedly before finishing this task.\n" + "x" * 1000
    # When its agent dies, twice
    commands = driver.send(died("worker#1", ray_message))
    assert commands.states("poison") == [S.RETRY_WAIT]
    commands = driver.tick()
    [batch] = commands.dispatches
    commands = driver.send(died(batch.agent_id, ray_message))
    # Then it fails after exactly its allowed attempts, saying its process died
    assert commands.states("poison") == [S.FAILED]
    info = driver.scheduler.task_info("wf", "poison")
    assert (info.attempts, info.error_type) == (2, "AgentDied")
    assert "died while running this task alone" in (info.error_message or "")
    # The task's message is short; Ray's long message is in the agent's stop reason, once
    assert len(info.error_message or "") < 300
    assert all(len(e.message) < 300 for e in commands.task_events)
    [stop] = commands.of(StopAgent)
    assert "x" * 1000 in stop.reason


def test_infrastructure_loss_counts_against_max_agent_losses(driver: Any, spec: Any) -> None:
    retry = RetryPolicy(max_attempts=1, max_agent_losses=1)
    driver.submit(spec.workflow(spec.task("t", retry=retry)))
    commands = driver.send(AgentLost(agent_id="worker#1", cause="node_lost", reason="gone"))
    assert commands.states("t") == [S.READY]
    assert "worker#1 lost its node" in commands.task_events[0].message
    [again] = commands.dispatches
    commands = driver.send(AgentLost(agent_id=again.agent_id, cause="killed", reason="ray.kill"))
    info = driver.scheduler.task_info("wf", "t")
    assert (info.state, info.error_type) == (S.FAILED, "AgentLost")


def test_a_stop_for_another_tasks_timeout_costs_its_neighbour_nothing(
    driver: Any, spec: Any
) -> None:
    # Given an agent running two tasks at once; `slow` has a 5 s timeout, and `bystander`
    # tolerates no agent loss at all
    workflow = spec.workflow(
        spec.task("slow", timeout_s=5.0),
        spec.task("bystander", retry=RetryPolicy(max_agent_losses=0)),
        agents=[spec.agent("worker", replicas=1, max_concurrency=2)],
    )
    commands = driver.submit(workflow)
    assert sorted(commands.dispatched_ids) == ["bystander", "slow"]
    # When `slow` times out, its agent is stopped
    commands = driver.tick(driver.clock.now_s() + 5.0)
    # Then `slow` pays, and `bystander` is re-queued and runs again
    assert commands.states("slow") == [S.FAILED]
    assert commands.states("bystander") == [S.READY]
    requeued = next(e for e in commands.task_events if e.task_id == "bystander")
    assert "was stopped" in requeued.message
    assert commands.dispatched_ids == ["bystander"]
    commands = driver.finish(*commands.orders)
    assert driver.state("bystander") is S.SUCCEEDED


def test_a_suspect_waits_for_an_agent_kept_free_for_it(driver: Any, spec: Any) -> None:
    # Given one agent with a pipelined call in flight and a suspect waiting
    workflow = spec.workflow(
        *(spec.task(name, **SHORT) for name in ("a", "b")),
        agents=[spec.agent("worker", replicas=1)],
    )
    commands = driver.submit(workflow)
    commands = driver.send(died("worker#1"))  # a and b become suspects
    [alone] = commands.orders
    # When `alone` finishes, the other suspect gets the agent to itself
    commands = driver.finish(alone)
    [other] = commands.orders
    assert {alone.task_id, other.task_id} == {"a", "b"}
    assert [len(batch.attempts) for batch in commands.dispatches] == [1]


def test_poison_task_in_a_batch_does_not_take_its_neighbours_down(
    spec: Any, make_sim: Any, make_behaviour: Any
) -> None:
    # Given the workflow of issue 6: a crasher (os._exit) allowed two attempts, batched
    # with ordinary short tasks: one returns a big result, one raises ValueError every
    # time (two attempts allowed), one is flaky (fails once), three are plain; and a task
    # that depends on the crasher
    flaky_runs: Counter[str] = Counter()

    def behaviour(order: Any) -> Any:
        if order.task_id == "crasher":
            return make_behaviour(crash=True)
        if order.task_id == "value_error":
            return make_behaviour(0.001, ok=False)
        if order.task_id == "flaky":
            flaky_runs[order.task_id] += 1
            return make_behaviour(0.001, ok=flaky_runs[order.task_id] > 1)
        return make_behaviour(0.001)

    twice = RetryPolicy(max_attempts=2, initial_backoff_s=0.01)
    tasks = [
        spec.task("crasher", retry=twice, **SHORT),
        spec.task("big_result", **SHORT),
        spec.task("value_error", retry=twice, **SHORT),
        spec.task("flaky", retry=twice, **SHORT),
        *(spec.task(f"plain{i}", **SHORT) for i in range(3)),
        spec.task("after_crasher", depends_on=["crasher"], **SHORT),
    ]
    sim = make_sim(behaviour=behaviour)
    sim.submit(spec.workflow(*tasks, agents=[spec.agent("worker", replicas=2)]))
    # When it runs to the end
    sim.run()
    # Then every task ends as if the crasher were not there
    assert sim.ledger.violations == []
    infos = {info.task_id: info for info in sim.scheduler.task_infos("wf")}
    for name in ("big_result", "flaky", "plain0", "plain1", "plain2"):
        assert infos[name].state is S.SUCCEEDED, infos[name]
        assert sim.ledger.results[("wf", name)] == 1
    assert (infos["value_error"].state, infos["value_error"].error_type) == (
        S.FAILED,
        "RuntimeError",  # the simulated runtime's stand-in for the task's own exception
    )
    assert infos["after_crasher"].state is S.SKIPPED
    # And the crasher alone paid: it failed after exactly its two charged attempts,
    # each run alone, plus the one free run in the batch it first took down
    crasher = infos["crasher"]
    assert (crasher.state, crasher.error_type) == (S.FAILED, "AgentDied")
    crashes = [c for c in sim.ledger.crashes if c[1] == "crasher"]
    assert len(crashes) == crasher.attempts == 3
    assert max(sim.ledger.batch_sizes) > 1  # the tasks really were batched
    # No neighbour was charged for the crasher's deaths
    for name, info in infos.items():
        if name != "crasher":
            assert info.error_type not in ("AgentDied", "AgentLost"), (name, info)
    assert len(sim.ledger.agents_killed) == 3
