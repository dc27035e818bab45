"""Test support for the pure scheduler, in the spirit of ``trio.testing``.

Nothing here imports Ray or pytest: users test their own workflows against the real
`Scheduler` on a fake clock, as the project's own tests and benchmarks do::

    from orchestrator.testing import SimRuntime, SpecBuilder

    spec = SpecBuilder()
    sim = SimRuntime()
    sim.submit(spec.workflow(*spec.chain("fetch", "parse", "store")))
    sim.run()
    assert sim.ledger.violations == []

- `SpecBuilder`: deterministic tasks, agents, workflows and clusters.
- `Driver` and `Commands`: a scheduler driven by hand, one event at a time.
- `SimRuntime`, `Behaviour` and `Ledger`: a simulated runtime with faults, and its oracle.
- `run_rounds` and `run_events`: lean runners for benchmarks (`orchestrator.testing.rounds`).
"""

from orchestrator.core.clock import FakeClock
from orchestrator.testing.driving import Commands, Driver, outcome
from orchestrator.testing.ledger import Ledger
from orchestrator.testing.sim import SimRuntime
from orchestrator.testing.sim_agents import Behaviour, BehaviourFn, SimAgent, SimCall
from orchestrator.testing.specs import EPOCH, START_S, SpecBuilder

__all__ = [
    "EPOCH",
    "START_S",
    "Behaviour",
    "BehaviourFn",
    "Commands",
    "Driver",
    "FakeClock",
    "Ledger",
    "SimAgent",
    "SimCall",
    "SimRuntime",
    "SpecBuilder",
    "outcome",
]
