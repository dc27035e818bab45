"""Benchmark: the critical-path rule on and off, on real workflow structures (WfCommons).

The same WfCommons instances as ``benchmarks.workflows`` (sized about 100 tasks, scaled
so that each lower bound lasts ``BOUND_S``) run on the orchestrator twice per repeat: with
the scheduler's default ``rank_by_critical_path = true`` (within a priority and deadline,
tasks with the longest chain of work after them first) and with it off (submission order).
Each mode runs in an orchestrator session of its own; the order of the modes alternates
across repeats. Beside the real runs, the pure scheduler on a fake clock gives the same
two numbers without any runtime overhead (``policy sim`` and ``FIFO sim``).
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager

from benchmarks.common import (
    BenchmarkResult,
    RunOptions,
    Table,
    TargetCheck,
    log,
    median,
    ratio,
    rotated,
    use_ray_environment,
)
from benchmarks.workflows import (
    SEED,
    SLOTS,
    Instance,
    RunFn,
    ensure_instance,
    load_instance,
    orchestrator_engine,
    warm_up_spec,
)

#: Recipes of the default run and of ``--quick`` (about 100 tasks each: the run stays short).
RECIPES = ("montage", "epigenomics", "cycles", "genome")
QUICK_RECIPES = ("epigenomics", "cycles")
SIZE = 100
#: Each instance is scaled so that its lower bound lasts this long (default, quick).
BOUND_S = 2.0
QUICK_BOUND_S = 1.0

ON = "critical path on"
OFF = "critical path off"
MODES = (ON, OFF)


def orchestrator_session(rank_by_critical_path: bool) -> AbstractContextManager[RunFn]:
    """An orchestrator on an embedded Ray of ``SLOTS`` CPUs, the rule on or off."""
    from orchestrator.core.config import SchedulerConfig

    return orchestrator_engine(SchedulerConfig(rank_by_critical_path=rank_by_critical_path))


def run(options: RunOptions) -> BenchmarkResult:
    """Run every instance with the rule on and off, ``options.repeats`` times."""
    recipes = QUICK_RECIPES if options.quick else RECIPES
    bound_s = QUICK_BOUND_S if options.quick else BOUND_S
    use_ray_environment()
    instances = [
        load_instance(
            ensure_instance(recipe, SIZE),
            f"{recipe}-{SIZE}",
            bound_s=bound_s,
            time_scale=options.time_scale,
        )
        for recipe in recipes
    ]
    walls: dict[str, dict[str, list[float]]] = {
        inst.label: {mode: [] for mode in MODES} for inst in instances
    }
    warm = warm_up_spec()
    for repeat in range(options.repeats):
        for mode in rotated(MODES, repeat):
            log(f"critical_path: repeat {repeat + 1}, {mode}")
            with orchestrator_session(mode == ON) as run_spec:
                run_spec(warm, "warm-up")
                for inst in instances:
                    wall_s = run_spec(inst.spec, inst.label)
                    walls[inst.label][mode].append(wall_s)
                    log(f"critical_path: {mode} {inst.label}: {wall_s:.2f}s")
    result = BenchmarkResult(
        name="critical_path",
        title=f"The critical-path rule on and off (WfCommons, {SLOTS} slots)",
    )
    result.data = {
        "slots": SLOTS,
        "seed": SEED,
        "instances": {
            inst.label: {
                "bound_s": inst.bound_s,
                "policy_sim_s": inst.policy_s,
                "fifo_policy_sim_s": inst.fifo_policy_s,
                "wall_s": walls[inst.label],
            }
            for inst in instances
        },
    }
    _report(result, instances, walls, bound_s)
    return result


def _report(
    result: BenchmarkResult,
    instances: list[Instance],
    walls: dict[str, dict[str, list[float]]],
    bound_s: float,
) -> None:
    table = Table(
        "Wall time / lower bound (medians; 1.00 = the bound)",
        [
            "instance",
            "tasks",
            "bound (s)",
            "on",
            "off",
            "off / on",
            "policy sim (on)",
            "FIFO sim (off)",
        ],
    )
    gains: list[float] = []
    for inst in instances:
        on, off = (median(walls[inst.label][mode]) for mode in MODES)
        gains.append(ratio(off, on))
        table.add(
            inst.label,
            len(inst.spec.tasks),
            inst.bound_s,
            ratio(on, inst.bound_s),
            ratio(off, inst.bound_s),
            ratio(off, on),
            ratio(inst.policy_s, inst.bound_s),
            ratio(inst.fifo_policy_s, inst.bound_s),
        )
    geomean = _geomean(gains)
    table.add("geometric mean", None, None, None, None, geomean, None, None)
    result.tables = [table]
    finite = [gain for gain in gains if math.isfinite(gain)]
    result.targets = [
        TargetCheck(
            "wall time with the rule off / on (geomean over instances)",
            ">= 1.00",
            f"{geomean:.3f}; worst instance {min(finite, default=math.nan):.3f}",
            None if not finite else geomean >= 1.0,
        )
    ]
    result.notes = [
        f"Instances as in `workflows` (wfcommons, seed {SEED}, about {SIZE} tasks each), "
        f"scaled so that each lower bound is {bound_s:g} s; {SLOTS} slots.",
        "on: default settings (`scheduler.rank_by_critical_path = true`); off: the same "
        "with it false, so that tasks of one priority and deadline run in submission order. "
        "A fresh orchestrator per mode and repeat, warmed up first; the order of the modes "
        "alternates across repeats.",
        "`off / on` above 1.00: the rule shortens the run. The sims are the pure scheduler "
        "on a fake clock (`benchmarks.core_sim.simulate_makespan`): what each policy reaches "
        "with no runtime overhead.",
    ]


def _geomean(values: list[float]) -> float:
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    if not finite:
        return math.nan
    return math.exp(sum(math.log(v) for v in finite) / len(finite))
