"""Handing back: long calls give back their unstarted attempts when another workflow waits.

On the simulated runtime (fake clock, one function agent of one slot): a workflow without
dependencies of 2-ms tasks, alone, gets calls of about ``independent_batch_s`` (20 ms),
the next one prefetched behind the running one.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from orchestrator.core import AttemptOutcome, SchedulerConfig
from orchestrator.core.preemption import PREEMPTED_ERROR
from orchestrator.core.specs import WorkflowSpec
from orchestrator.testing.sim_agents import SimCall, hand_back_unstarted
from tests.unit.test_core_ledger import (
    AGENTS_OF_TWO,
    POOLS,
    assert_ledger,
    independent_workflow,
    run_kinds_to_the_end,
)

TASK_S = 0.002


def _workflow(spec: Any, workflow_id: str, tasks: int) -> WorkflowSpec:
    built: WorkflowSpec = spec.workflow(
        *(spec.task(f"t{index}") for index in range(tasks)), workflow_id=workflow_id
    )
    return built


def _newcomer_wait_s(make_sim: Any, spec: Any, config: SchedulerConfig) -> tuple[Any, float]:
    """Run a 2-s workflow, submit a 10-task one 1 s in; return the sim and the newcomer's wall.

    Both run to the end.
    """
    sim = make_sim(config, duration_s=TASK_S)
    start_s = sim.clock.now_s()
    sim.submit(_workflow(spec, "big", 1_000))
    sim.at(start_s + 1.0, lambda: sim.submit(_workflow(spec, "small", 10)))
    sim.run()
    done = [t for (w, _), t in sim.ledger.success_s.items() if w == "small"]
    assert len(done) == 10
    return sim, max(done) - (start_s + 1.0)


def test_a_newcomer_waits_for_one_running_task_not_for_long_calls(spec: Any, make_sim: Any) -> None:
    # Given a workflow of 2-ms tasks in 20-ms calls, one prefetched behind the other
    sim, wall_s = _newcomer_wait_s(make_sim, spec, SchedulerConfig())
    # When a 10-task workflow comes, the running call hands back what it has not started
    # and the prefetched one all of it: the newcomer's 20 ms of work start after the
    # running task (2 ms) and a round trip of the simulation (none)
    assert wall_s == pytest.approx(10 * TASK_S + TASK_S, abs=1e-6)
    assert sim.ledger.hand_back_requests
    # The big workflow's handed-back attempts came back unstarted and ran again later
    handed = {(w, t) for w, t, _ in sim.ledger.unstarted}
    assert handed and all(w == "big" for w, _ in handed)
    assert all(sim.ledger.results[key] == 1 for key in handed)
    # Without handing back it waits for what is left of the running call and the next one
    _, without_s = _newcomer_wait_s(make_sim, spec, SchedulerConfig(hand_back_batches=False))
    assert without_s >= wall_s + 0.015


def test_handed_back_attempts_are_requeued_without_a_failure(spec: Any, make_sim: Any) -> None:
    sim, _ = _newcomer_wait_s(make_sim, spec, SchedulerConfig())
    handed = {task_id for w, task_id, _ in sim.ledger.unstarted if w == "big"}
    infos = {info.task_id: info for info in sim.scheduler.task_infos("big")}
    for task_id in handed:
        info = infos[task_id]
        assert info.state.value == "succeeded"
        assert info.attempts >= 2  # its attempt number went up, as a preempted one's
        assert info.error_type is None
    # Subscribers read why each went back to the queue
    requeued = {
        event.task_id
        for event in sim.ledger.task_events
        if event.workflow_id == "big" and "handed back unstarted" in (event.message or "")
    }
    assert requeued == handed
    # Nothing was asked to stop as preemption does (running attempts went on)
    assert sim.ledger.stop_requests == []
    assert sim.ledger.preempted == []


def test_a_pool_that_stays_contested_is_asked_once(spec: Any, make_sim: Any) -> None:
    # Given two big workflows sharing the agent from the start: their calls are short
    sim = make_sim(SchedulerConfig(), duration_s=TASK_S)
    sim.submit(_workflow(spec, "a", 500))
    sim.submit(_workflow(spec, "b", 500))
    sim.run(until_s=sim.clock.now_s() + 1.0)
    # Then no call of theirs was long enough to hand back, and none bounced
    assert sim.ledger.hand_back_requests == []
    assert sim.ledger.unstarted == []
    assert max(sim.ledger.batch_sizes) <= 2  # 5-ms calls (`target_batch_s`)


def test_a_third_workflow_on_a_contested_pool_asks_nothing(spec: Any, make_sim: Any) -> None:
    sim = make_sim(SchedulerConfig(), duration_s=TASK_S)
    start_s = sim.clock.now_s()
    sim.submit(_workflow(spec, "big", 3_000))
    sim.at(start_s + 1.0, lambda: sim.submit(_workflow(spec, "b", 400)))
    sim.run(until_s=start_s + 1.1)
    # The second workflow's arrival asked the big one's long calls, and only those
    asked = set(sim.ledger.hand_back_requests)
    assert asked
    asked_of = {
        order.workflow_id for _, _, order in sim.ledger.attempts if order.attempt_id in asked
    }
    assert asked_of == {"big"}
    # A third arrives while both still wait: their calls are short, nothing is asked
    sim.submit(_workflow(spec, "c", 10))
    sim.run(until_s=start_s + 1.2)
    assert set(sim.ledger.hand_back_requests) == asked
    assert sim.ledger.results[("c", "t9")] == 1


def test_a_less_urgent_newcomer_takes_nothing_back(spec: Any, make_sim: Any) -> None:
    # Given HIGH work in long calls, when a BACKGROUND workflow starts waiting beside it
    sim = make_sim(SchedulerConfig(), duration_s=TASK_S)
    start_s = sim.clock.now_s()
    high = spec.workflow(
        *(spec.task(f"t{index}", priority="high") for index in range(1_000)),
        workflow_id="high",
    )
    sim.submit(high)
    background = spec.workflow(
        *(spec.task(f"b{index}", priority="background") for index in range(10)),
        workflow_id="background",
    )
    sim.at(start_s + 1.0, lambda: sim.submit(background))
    sim.run()
    # Then the HIGH work keeps its calls: the newcomer would wait for it anyway
    assert sim.ledger.hand_back_requests == []
    assert sim.ledger.unstarted == []
    high_done = max(t for (w, _), t in sim.ledger.success_s.items() if w == "high")
    ends = [t for (w, _), t in sim.ledger.success_s.items() if w == "background"]
    assert len(ends) == 10 and min(ends) >= high_done


def test_durations_are_not_learned_from_attempts_that_did_not_run(spec: Any, make_sim: Any) -> None:
    sim, _ = _newcomer_wait_s(make_sim, spec, SchedulerConfig())
    assert sim.ledger.unstarted
    (mean_s,) = [p.mean_task_s for p in sim.scheduler.statistics().pools.values()]
    # Handed-back attempts took 0 s: learned, they would drag the moving average down
    assert mean_s == pytest.approx(TASK_S)


def _order(attempt_id: int) -> Any:
    from orchestrator.core.commands import AttemptOrder
    from orchestrator.core.specs import Priority

    return AttemptOrder(attempt_id, "w", f"t{attempt_id}", 1, None, (), {}, (), Priority.MEDIUM)


def _call(starts: list[float], length_s: float = 1.0) -> SimCall:
    orders = tuple(_order(index + 1) for index in range(len(starts)))
    outcomes = tuple(
        AttemptOutcome(order.attempt_id, True, start, start + length_s)
        for order, start in zip(orders, starts, strict=True)
    )
    return SimCall(1, "a", orders, 0.0, outcomes)


def test_a_running_call_hands_back_only_its_unstarted_asked_attempts() -> None:
    call = _call([0.0, 1.0, 2.0, 3.0])
    # At 1.5 the second attempt runs; the third and fourth are asked, the fourth is not
    end_s = hand_back_unstarted(call, {2, 3}, now_s=1.5)
    assert end_s == 3.0  # the running one ends at 2.0, the fourth runs 2.0-3.0
    done = {o.attempt_id: o for o in call.outcomes}
    assert done[2].ok and done[2].finished_s == 2.0  # running: untouched
    assert not done[3].ok and done[3].error_type == PREEMPTED_ERROR
    assert done[3].started_s == done[3].finished_s == 2.0
    assert done[4].ok and (done[4].started_s, done[4].finished_s) == (2.0, 3.0)
    assert call.never_started == {3}
    assert call.version == 1


def test_a_call_with_nothing_left_to_start_is_untouched() -> None:
    call = _call([0.0, 1.0])
    assert hand_back_unstarted(call, {1, 2}, now_s=1.5) is None
    assert call.version == 0 and call.never_started == frozenset()
    hung = _call([0.0, 1.0])
    hung.outcomes = hung.outcomes[:1]  # a hang cut its outcomes short: it never ends
    assert hand_back_unstarted(hung, {2}, now_s=0.5) is None


@pytest.mark.parametrize("seed", [21, 22])
def test_ledger_with_hand_backs_and_agent_deaths(
    spec: Any, make_sim: Any, make_behaviour: Any, seed: int
) -> None:
    # Given a workflow without dependencies in long prefetched batches, agents dying
    # during calls, and other workflows arriving now and then (each arrival hands back)
    rng = random.Random(seed)
    workflow = independent_workflow(rng, spec, f"h{seed}", 1500)
    agents = [spec.agent(name, replicas=2) for name in AGENTS_OF_TWO]
    sim = make_sim(rng=rng, death_rate=0.02)
    newcomers = []
    for arrival in range(6):
        small = spec.workflow(
            *(spec.task(f"t{index}", agent=rng.choice(POOLS[:2])) for index in range(6)),
            agents=agents,
            workflow_id=f"n{seed}-{arrival}",
        )
        newcomers.append(small)
        sim.at(sim.clock.now_s() + 0.2 * (arrival + 1), lambda small=small: sim.submit(small))
    # When it runs to the end, no attempt was handed out twice and none was lost
    ledger = run_kinds_to_the_end(sim, spec, workflow, make_behaviour, (0.001, 0.004, 0.008))
    assert_ledger(sim, newcomers)
    # And hand-backs really happened: asked, and attempts came back unstarted
    assert ledger.hand_back_requests
    assert any(w == workflow.id for w, _, _ in ledger.unstarted)
    assert len(ledger.agents_killed) >= 2
