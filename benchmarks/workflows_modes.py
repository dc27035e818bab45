"""What the engines know about task durations: exact, no or noisy estimates.

Every instance runs three ways, built from one import (the exact spec) by copying its
task specs:

- ``exact``: ``estimated_duration_s`` is each task's true (scaled) runtime, as imported;
- ``none``: no task has an estimate; the orchestrator can only learn durations while the
  workflow runs, and the baselines get no ranks (plain Ray: the spec's order; Dask: no
  priorities);
- ``noisy``: each estimate is the true runtime times a log-normal error
  (``exp(N(0, sigma))``, sigma 0.5: half the estimates are off by more than x/1.4), drawn
  from a generator seeded per instance, so every engine and repeat sees the same errors.

What a task really takes does not change with the mode: the task still sleeps (or works)
its true runtime, which `true_durations_s` reads from the exact spec. `simulate_policy_s`
runs the scheduler's policy on a fake clock with the mode's estimates and the true
durations: the makespan the orchestrator's policy reaches with that knowledge and no
runtime overhead.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from orchestrator.core import (
    ClusterObserved,
    FakeClock,
    NodeCapacity,
    Scheduler,
    SchedulerConfig,
    WorkflowSpec,
    WorkflowSubmitted,
)
from orchestrator.testing.rounds import run_events

EXACT = "exact"
NONE = "none"
NOISY = "noisy"
MODES = (EXACT, NONE, NOISY)
#: Standard deviation of the log of the noisy estimates' error factor.
NOISE_SIGMA = 0.5


def without_estimates(spec: WorkflowSpec) -> WorkflowSpec:
    """Return ``spec`` with no ``estimated_duration_s`` on any task."""
    tasks = tuple(task.model_copy(update={"estimated_duration_s": None}) for task in spec.tasks)
    return spec.model_copy(update={"tasks": tasks})


def noisy_estimates(spec: WorkflowSpec, *, sigma: float, seed: str | int) -> WorkflowSpec:
    """Return ``spec`` with each estimate times ``exp(N(0, sigma))``.

    The factors are drawn in task order from ``random.Random(seed)``: the same spec and
    seed give the same estimates in every process. A task without an estimate keeps none.

    Raises:
        ValueError: ``sigma`` is negative.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    rng = random.Random(seed)
    tasks = []
    for task in spec.tasks:
        factor = rng.lognormvariate(0.0, sigma)  # drawn for every task: stable positions
        estimate = task.estimated_duration_s
        if estimate is None:
            tasks.append(task)
        else:
            tasks.append(task.model_copy(update={"estimated_duration_s": estimate * factor}))
    return spec.model_copy(update={"tasks": tuple(tasks)})


def mode_spec(spec: WorkflowSpec, mode: str, *, seed: str | int) -> WorkflowSpec:
    """Return the spec an engine gets in ``mode``, from the exact ``spec``.

    Args:
        spec: The instance as imported, exact estimates.
        mode: One of `MODES`.
        seed: Seeds the noisy mode's errors (one seed per instance).

    Raises:
        ValueError: ``mode`` is not one of `MODES`.
    """
    if mode == EXACT:
        return spec
    if mode == NONE:
        return without_estimates(spec)
    if mode == NOISY:
        return noisy_estimates(spec, sigma=NOISE_SIGMA, seed=seed)
    raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")


def true_durations_s(spec: WorkflowSpec) -> dict[str, float]:
    """Return each task's true duration: the exact spec's estimates (missing: 0 s)."""
    return {task.id: task.estimated_duration_s or 0.0 for task in spec.tasks}


def simulate_policy_s(
    spec: WorkflowSpec,
    durations_s: Mapping[str, float],
    *,
    slots: int,
    config: SchedulerConfig | None = None,
) -> float:
    """Return the makespan of ``spec`` on the pure scheduler, tasks taking ``durations_s``.

    As `benchmarks.core_sim.simulate_makespan`, except that what the scheduler knows (the
    spec's estimates, or none) and what the tasks take are given apart.

    Raises:
        RuntimeError: the scheduler stopped dispatching before the workflow ended.
    """
    clock = FakeClock(0.0)
    scheduler = Scheduler(clock, config)
    scheduler.handle(
        ClusterObserved(nodes=(NodeCapacity(node_id="sim-node", num_cpus=float(slots)),))
    )
    first = scheduler.handle(WorkflowSubmitted(workflow=spec.with_id("policy-sim")))
    return run_events(scheduler, clock, first, durations_s)
