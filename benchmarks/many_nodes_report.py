"""The many-nodes benchmark's bounds, tables, targets and notes (`benchmarks.many_nodes`).

``result.data["samples"][nodes][contender][workload]`` holds one dict per repeat with
``wall_s`` and ``tasks``, and for the orchestrator ``supervisor_cpu_s`` and
``heartbeat_cpu_s``; ``result.data["warm_ups"][nodes][contender]`` one dict per session
(the orchestrator's: ``agents`` and ``supervisor_idle_cpu_per_s``), in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from benchmarks.common import BenchmarkResult, Table, TargetCheck, median, ratio

ORCHESTRATOR = "orchestrator"
RAY = "ray"
DISPATCH = "dispatch"
#: The supervisor's CPU per task on the most nodes / on the fewest: our limit for "it does
#: not grow with the cluster" (the issue gives no number).
CPU_GROWTH_LIMIT = 1.25
#: Orchestrator wall / tight bound, as in the workflows benchmark.
BOUND_TOLERANCE = 1.10
#: Task lengths (s) for which the notes say how many CPUs saturate one supervisor.
TASK_LENGTHS_S = (0.01, 0.1, 1.0)

Runs = list[dict[str, float]]
#: samples[nodes][contender][workload] -> one dict per repeat.
Samples = dict[int, dict[str, dict[str, Runs]]]


def instance_bounds(spec: Any, sizes: Sequence[int]) -> dict[int, dict[str, float]]:
    """Return each size's lower bounds and policy simulation for ``spec`` on that many slots."""
    from benchmarks.core_sim import simulate_makespan
    from orchestrator.core.bounds import lower_bound_s

    out = {}
    for slots in sizes:
        bound = lower_bound_s(spec, slots)
        out[slots] = {
            "critical_path_s": bound.critical_path_s,
            "work_bound_s": bound.work_bound_s,
            "bound_s": bound.bound_s,
            "tight_bound_s": bound.tight_bound_s,
            "judged_bound_s": max(bound.bound_s, bound.tight_bound_s),
            "policy_sim_s": simulate_makespan(spec, slots=slots),
        }
    return out


def saturation_rate(cpu_s_per_task: float) -> float:
    """Return the tasks/s at which a process costing ``cpu_s_per_task`` fills one core."""
    if math.isnan(cpu_s_per_task) or cpu_s_per_task <= 0:
        return math.nan
    return 1.0 / cpu_s_per_task


def net_cpu_per_task_s(run: dict[str, float], idle_cpu_per_s: float) -> float:
    """Return a run's supervisor CPU per task less what it spends idling for as long."""
    busy_s = run["supervisor_cpu_s"] - idle_cpu_per_s * run["wall_s"]
    return busy_s / run["tasks"] if run["tasks"] > 0 else math.nan


def _med(runs: Runs, key: str) -> float:
    return median([run[key] for run in runs if key in run])


def _per_task(runs: Runs, key: str) -> float:
    return median([run[key] / run["tasks"] for run in runs if key in run and run["tasks"] > 0])


def _geomean(values: list[float]) -> float:
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    if not finite:
        return math.nan
    return math.exp(sum(math.log(v) for v in finite) / len(finite))


def _nodes(count: int) -> str:
    return f"{count} node" if count == 1 else f"{count} nodes"


def report(result: BenchmarkResult) -> None:
    """Fill ``result``'s tables, targets and notes from ``result.data``."""
    data = result.data
    sizes: list[int] = data["sizes"]
    samples: Samples = data["samples"]
    tput = {
        nodes: {
            name: data["num_tasks"] / _med(samples[nodes][name][DISPATCH], "wall_s")
            for name in (ORCHESTRATOR, RAY)
        }
        for nodes in sizes
    }
    cpu_table, cost = _cpu_table(data)
    bounds_table, last_vs_ray, last_vs_bound = _bounds_table(data)
    spread = Table(
        "Every repeat: dispatch tasks/s",
        ["worker nodes", "contender", *[f"#{i + 1}" for i in range(data["repeats"])]],
    )
    for nodes in sizes:
        for name in (ORCHESTRATOR, RAY):
            runs = samples[nodes][name][DISPATCH]
            spread.add(nodes, name, *[run["tasks"] / run["wall_s"] for run in runs])
    result.tables = [_dispatch_table(data, tput), bounds_table, cpu_table, spread]
    result.targets = _targets(sizes, tput, cost, last_vs_ray, last_vs_bound)
    result.notes = _notes(data, cost, tput)


def _dispatch_table(data: dict[str, Any], tput: dict[int, dict[str, float]]) -> Table:
    sizes: list[int] = data["sizes"]
    first = sizes[0]
    table = Table(
        f"Dispatch: {data['num_tasks']:,} no-op tasks (medians of tasks/s)",
        [
            "worker nodes (1 CPU each)",
            "orchestrator",
            f"orch vs {_nodes(first)}",
            "ray tasks",
            f"ray vs {_nodes(first)}",
            "orch / ray",
            "orchestrator agents",
        ],
    )
    for nodes in sizes:
        table.add(
            nodes,
            tput[nodes][ORCHESTRATOR],
            ratio(tput[nodes][ORCHESTRATOR], tput[first][ORCHESTRATOR]),
            tput[nodes][RAY],
            ratio(tput[nodes][RAY], tput[first][RAY]),
            ratio(tput[nodes][ORCHESTRATOR], tput[nodes][RAY]),
            _med(data["warm_ups"][nodes][ORCHESTRATOR], "agents"),
        )
    return table


def _bounds_table(data: dict[str, Any]) -> tuple[Table, list[float], list[float]]:
    """Return the bound table, and orch / ray and orch / bound of each instance on most nodes."""
    sizes: list[int] = data["sizes"]
    samples: Samples = data["samples"]
    table = Table(
        "WfCommons: wall time / tight lower bound for as many slots as nodes (medians)",
        [
            "instance",
            "worker nodes",
            "tight bound (s)",
            "policy sim / bound",
            "orchestrator",
            "ray",
            "orch / ray (wall)",
            "orch / policy sim",
        ],
    )
    vs_ray: list[float] = []
    vs_bound: list[float] = []
    for label, instance in data["instances"].items():
        for nodes in sizes:
            bound = instance["bounds"][nodes]
            judged, sim = bound["judged_bound_s"], bound["policy_sim_s"]
            orch = _med(samples[nodes][ORCHESTRATOR][label], "wall_s")
            plain = _med(samples[nodes][RAY][label], "wall_s")
            table.add(
                label,
                nodes,
                judged,
                ratio(sim, judged),
                ratio(orch, judged),
                ratio(plain, judged),
                ratio(orch, plain),
                ratio(orch, sim),
            )
            if nodes == sizes[-1]:
                vs_ray.append(ratio(orch, plain))
                vs_bound.append(ratio(orch, judged))
    return table, vs_ray, vs_bound


def _cpu_table(data: dict[str, Any]) -> tuple[Table, dict[str, dict[int, float]]]:
    """Return the supervisor CPU table and the CPU s per task: workload -> nodes -> s."""
    samples: Samples = data["samples"]
    table = Table(
        "The supervisor's CPU time per task (medians; one process every task passes through)",
        [
            "worker nodes",
            "workload",
            "supervisor CPU / task (us)",
            "less idle (us)",
            "of which submit (us)",
            "saturates at (tasks/s)",
            "supervisor busy (CPU s / wall s)",
            "heartbeat CPU / task (us)",
            "idle supervisor (CPU ms / s)",
        ],
    )
    cost: dict[str, dict[int, float]] = {}
    for nodes in data["sizes"]:
        sessions = data["warm_ups"][nodes][ORCHESTRATOR]
        for workload, runs in samples[nodes][ORCHESTRATOR].items():
            per_task_s = _per_task(runs, "supervisor_cpu_s")
            cost.setdefault(workload, {})[nodes] = per_task_s
            idle = [session["supervisor_idle_cpu_per_s"] for session in sessions]
            net = median(
                [net_cpu_per_task_s(run, rate) for run, rate in zip(runs, idle, strict=True)]
            )
            table.add(
                nodes,
                workload,
                per_task_s * 1e6,
                net * 1e6,
                _per_task(runs, "supervisor_submit_cpu_s") * 1e6,
                saturation_rate(per_task_s),
                median([run["supervisor_cpu_s"] / run["wall_s"] for run in runs]),
                _per_task(runs, "heartbeat_cpu_s") * 1e6,
                median(idle) * 1e3,
            )
    return table, cost


def _targets(
    sizes: list[int],
    tput: dict[int, dict[str, float]],
    cost: dict[str, dict[int, float]],
    vs_ray: list[float],
    vs_bound: list[float],
) -> list[TargetCheck]:
    first, last = sizes[0], sizes[-1]
    scaled = first != last  # the two growth checks need two sizes
    fewest, most = _nodes(first), _nodes(last)
    on_last = ratio(tput[last][ORCHESTRATOR], tput[last][RAY])
    growth = ratio(tput[last][ORCHESTRATOR], tput[first][ORCHESTRATOR])
    ray_growth = ratio(tput[last][RAY], tput[first][RAY])
    dispatch_cost = cost[DISPATCH]
    cpu_growth = ratio(dispatch_cost[last], dispatch_cost[first])
    worst_ray = max(vs_ray, default=math.nan)
    worst_bound = max(vs_bound, default=math.nan)

    def check(name: str, target: str, value: float, met: bool, text: str) -> TargetCheck:
        return TargetCheck(f"nodes: {name}", target, text, None if math.isnan(value) else met)

    return [
        check(
            f"orchestrator / plain Ray tasks/s, no-ops on {most}",
            ">= 1.0",
            on_last,
            on_last >= 1.0,
            f"{on_last:.2f} ({tput[last][ORCHESTRATOR]:,.0f} vs {tput[last][RAY]:,.0f} tasks/s)",
        ),
        check(
            f"orchestrator no-op tasks/s, {most} / {fewest}",
            ">= 1.0 (no loss from spreading over nodes)",
            growth if scaled else math.nan,
            growth >= 1.0,
            f"{growth:.2f} (plain Ray: {ray_growth:.2f})",
        ),
        check(
            f"orchestrator / plain Ray wall time, WfCommons on {most}",
            "<= 1.00 every instance",
            worst_ray,
            worst_ray <= 1.0,
            f"worst {worst_ray:.2f}; geomean {_geomean(vs_ray):.2f}",
        ),
        check(
            f"orchestrator wall / tight bound, WfCommons on {most}",
            f"<= {BOUND_TOLERANCE:.2f} every instance",
            worst_bound,
            worst_bound <= BOUND_TOLERANCE,
            f"worst {worst_bound:.2f}; geomean {_geomean(vs_bound):.2f}",
        ),
        check(
            f"supervisor CPU per no-op task, {most} / {fewest}",
            f"<= {CPU_GROWTH_LIMIT:.2f} (ours: the single point's cost does not grow)",
            cpu_growth if scaled else math.nan,
            cpu_growth <= CPU_GROWTH_LIMIT,
            f"{cpu_growth:.2f} ({dispatch_cost[first] * 1e6:.0f} -> "
            f"{dispatch_cost[last] * 1e6:.0f} us/task)",
        ),
    ]


def _shard_sentence(what: str, cost_s: float) -> str:
    rate = saturation_rate(cost_s)
    if math.isnan(rate):
        return f"{what}: not measured."
    cpus = ", ".join(
        f"{length * rate:,.0f} CPUs of {length:g}-s tasks" for length in TASK_LENGTHS_S
    )
    return (
        f"{what}: {cost_s * 1e6:,.0f} us of supervisor CPU per task, so one supervisor "
        f"saturates at about {rate:,.0f} tasks/s, i.e. {cpus}"
    )


def _notes(
    data: dict[str, Any],
    cost: dict[str, dict[int, float]],
    tput: dict[int, dict[str, float]],
) -> list[str]:
    last = data["sizes"][-1]
    busy = ratio(tput[last][ORCHESTRATOR], saturation_rate(cost[DISPATCH][last]))
    one_by_one = median([cost[label][last] for label in data["instances"]])
    sessions = [s for nodes in data["sizes"] for s in data["warm_ups"][nodes][ORCHESTRATOR]]
    on_head = all(session.get("control_on_head") == 1.0 for session in sessions)
    return [
        "Each cluster is a `ray.cluster_utils.Cluster` on this machine: a head node with "
        "`num_cpus=0` (no dashboard) and 1, 2 or 4 worker nodes with `num_cpus=1`, "
        "150 MiB of object store each; this process is the driver, connected to the head. "
        "The supervisor, its heartbeat actor and the bus ask for 0 CPUs and are pinned to "
        "the head (`supervisor_on_head`; Ray's actor table showed both on the head in "
        f"every session: {'yes' if on_head else 'NO'}), so every worker CPU is a slot for "
        "agents or Ray tasks. All nodes share this machine's cores (2 here): adding nodes "
        "adds slots and processes, not cores, so no-op throughput can only grow with nodes "
        "through concurrency; the WfCommons tasks sleep, so their slots are real.",
        "One cluster per size serves every session. A session joins it "
        "(orchestrator: `RaySettings(address=cluster.address)`; plain Ray: "
        "`ray.init(address=cluster.address)`), waits until Ray shows every CPU free, warms "
        "up, runs the dispatch workload then the instances, and leaves (the orchestrator's "
        "shutdown stops its agents, which hold their CPUs while idle). The order of the two "
        "contenders rotates from repeat to repeat (`data.order`).",
        f"Dispatch: the dispatch benchmark's workload, {data['num_tasks']:,} independent "
        "no-op tasks of 1 CPU (`benchmarks.workloads.noop`). Orchestrator: one workflow, "
        "`submit` + `wait` until it succeeded, its agents already up (a warm-up workflow "
        f"of 2 x nodes 0.2-s sleeps and {data['warm_up_tasks']} no-ops first, which starts "
        "one agent per CPU: column `orchestrator agents`). Plain Ray: "
        f"`ray.get([noop.remote() ...])` after {data['warm_up_tasks']} untimed calls. The "
        "orchestrator's wall ends when the workflow succeeded, without fetching results; "
        "plain Ray's `ray.get` fetches them (tiny None values), as in the dispatch benchmark.",
        "WfCommons: instances of the workflows benchmark (`benchmarks/instances/`, exact "
        f"estimates), scaled once so that their lower bound on {data['scale_slots']} slots "
        f"is {data['bound_s']:g} s, and that same spec run on every size (the same work; "
        "the bound grows as slots shrink). Every task needs 1 CPU. Plain Ray: "
        "`benchmarks.baselines.ray_tasks.execute_on_ray` (dependencies as ObjectRefs, one "
        "worker per CPU warmed up untimed). The tight bound for n slots is "
        "`orchestrator.core.bounds.lower_bound_s(spec, n)` (the larger of max(critical "
        "path, work / n) and the staged bound); policy sim: the pure scheduler on a fake "
        "clock with n slots (`core_sim.simulate_makespan`).",
        "Supervisor CPU: user + system CPU seconds of the supervisor's process (psutil; "
        "the pid from Ray's actor table) read just before `submit` and just after `wait` "
        "returned, divided by the workflow's tasks: every thread of that process (Ray's "
        "RPC threads included), the workflow's submission (validation, ranking) and its "
        "background work during the run. `less idle` subtracts the CPU it spends per "
        "second while nothing runs (read for 1 s after the warm-up) times the wall time; "
        "`of which submit`: the part spent before `submit` returned (validation, ranking). "
        "`saturates at` = 1 / (CPU s per task): the tasks/s at which the supervisor needs "
        "a whole core; `busy` = its CPU s / wall s during the run. Linux counts CPU time "
        "in 10 ms ticks, so short readings (the heartbeat's) are coarse. The heartbeat "
        "actor pings agents on a timer: its CPU grows with agents and time, not tasks.",
        "When to shard the supervisor (from the runs on "
        f"{_nodes(last)}). "
        + _shard_sentence("No-ops, sent 64 to a call", cost[DISPATCH][last])
        + f"; the no-op run used {busy:.0%} of that rate. "
        + _shard_sentence(
            "WfCommons tasks (tens of ms each, so batched little or not at all; submission "
            "included)",
            one_by_one,
        )
        + ". A cluster whose CPUs together finish tasks faster than that needs more than "
        "one supervisor (or cheaper per-task handling); below it, the single supervisor "
        "is not the limit.",
        f"Each cell is the median of {data['repeats']} repeat(s) (at most 2: each repeat "
        "starts 2 sessions per size, about 2 minutes here). The machine is shared "
        "and small: the nodes, the supervisor, raylets and agents contend for its cores, "
        "so read ratios, not absolute rates.",
    ]
