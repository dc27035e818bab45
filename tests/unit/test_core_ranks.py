"""Critical-path ranks are normalised per workflow, so they compare across workflows."""

from __future__ import annotations

from typing import Any


def test_a_big_workflow_does_not_jump_ahead_for_its_long_chain(spec: Any, make_sim: Any) -> None:
    # Given one agent busy, then a small workflow, then one with a chain of 50 tasks,
    # all of the same priority and without deadlines
    sim = make_sim(duration_s=1.0)
    sim.submit(spec.workflow(spec.task("busy"), workflow_id="first"))
    sim.submit(spec.workflow(spec.task("lone"), workflow_id="small"))
    sim.submit(spec.workflow(*spec.chain(*[f"c{i}" for i in range(50)]), workflow_id="big"))
    sim.run(until_s=sim.clock.now_s() + 2.5)
    # Then the small one goes first: both heads rank 1.0 in their own workflow (raw
    # lengths, 1 against 50, would put the big one first), and submission order decides
    order = [o.workflow_id for _, _, o in sim.ledger.attempts]
    assert order[:3] == ["first", "small", "big"]


def test_within_a_workflow_the_longer_chain_still_goes_first(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=1.0)
    workflow = spec.workflow(
        spec.task("busy"), spec.task("short"), *spec.chain("long0", "long1", "long2")
    )
    sim.submit(workflow)
    sim.run()
    order = [o.task_id for _, _, o in sim.ledger.attempts]
    assert order[:2] == ["long0", "long1"]  # the chain's head, then its next, first
