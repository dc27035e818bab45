"""Benchmark: the orchestrator and plain Ray on a simulated cluster of 1, 2 and 4 nodes.

Each cluster is a `ray.cluster_utils.Cluster` on this machine: a head node with no CPU
(the supervisor, its heartbeat actor and the bus ask for 0 CPUs and are pinned to the
head, so they take no worker CPU) and 1, 2 or 4 worker nodes of 1 CPU each. The driver,
this process, is connected to the head. On every cluster size, two contenders, each in a
session of its own that joins the cluster (``ray.init(address=cluster.address)``):

- ``orchestrator``: an `Orchestrator` with ``RaySettings(address=cluster.address)``;
- ``ray``: plain Ray tasks from this driver.

Each session runs, after a warm-up, the dispatch benchmark's workload (N independent
no-op tasks, `benchmarks.dispatch.build_noop_workflow`; plain Ray: ``ray.get`` of N
``noop.remote()``) and WfCommons instances (`benchmarks.workflows` instances; plain Ray:
`benchmarks.baselines.ray_tasks.execute_on_ray`) with as many slots as the cluster has
CPUs, judged against the tight lower bound for that many slots. The same spec (one time
scale) runs on every size, so the work is the same and the bound shrinks with the nodes.

The supervisor's process CPU time (psutil; its process id from Ray's actor table) is read
before and after each orchestrator run: its CPU seconds per task, and from it the rate at
which one supervisor would saturate a core (1 / CPU s per task). The heartbeat actor's CPU
is read the same way. One cluster per size is shared by the sessions (starting one is
slow here); the orchestrator's session is shut down, which stops its agents, and the next
session waits until Ray shows every CPU free. The order of the contenders rotates from
repeat to repeat.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Protocol

from benchmarks.common import (
    BenchmarkResult,
    RunOptions,
    Stopwatch,
    log,
    rotated,
    use_ray_environment,
    wait_until,
)
from benchmarks.workloads import noop

#: Worker nodes of 1 CPU each (default and ``--quick``).
SIZES = (1, 2, 4)
QUICK_SIZES = (1, 2)
#: No-op tasks per dispatch run (default and ``--quick``).
NUM_TASKS = 10_000
QUICK_NUM_TASKS = 2_000
#: Untimed no-op tasks before the timed ones (as in the dispatch benchmark).
WARM_UP_TASKS = 256
#: WfCommons instances (recipe, size) of the default run and of ``--quick``: montage-100,
#: many short tasks, where the per-task round trip shows most (a second instance would
#: take the default run past about 6 minutes here).
INSTANCES = (("montage", 100),)
QUICK_INSTANCES = (("montage", 100),)
#: Instances are scaled so that their lower bound on the workflows benchmark's slots (4)
#: lasts this long; the same spec then runs on every cluster size.
BOUND_S = 1.0
QUICK_BOUND_S = 0.5
#: Object store of each simulated node (Ray's own default for `Cluster.add_node`).
OBJECT_STORE_BYTES = 150 * 1024**2
#: At most this many repeats: each costs 2 x 3 sessions on 2 cores (about 2 minutes), and
#: 2 keep the default run near 5 minutes.
MAX_REPEATS = 2
#: Attempts at starting each node (see `start_node`).
NODE_START_ATTEMPTS = 3
#: Seconds of idling over which the supervisor's background CPU is read.
IDLE_WINDOW_S = 1.0

ORCHESTRATOR = "orchestrator"
RAY = "ray"
CONTENDERS = (ORCHESTRATOR, RAY)


class Contender(Protocol):
    """One contender's session on a cluster: warm up, then timed runs."""

    def warm_up(self) -> dict[str, float]:
        """Start the workers (untimed); return what was observed."""

    def dispatch(self, num_tasks: int) -> dict[str, float]:
        """Run ``num_tasks`` no-op tasks; return ``wall_s`` and any CPU readings."""

    def workflow(self, spec: Any, label: str) -> dict[str, float]:
        """Run one workflow; return ``wall_s`` and any CPU readings."""

    def close(self) -> None:
        """Leave the cluster (and stop what the session started)."""


# -- the cluster -------------------------------------------------------------------------


@contextmanager
def simulated_cluster(worker_nodes: int) -> Iterator[Any]:
    """A head node with no CPU and ``worker_nodes`` nodes of 1 CPU, all on this machine."""
    from ray.cluster_utils import Cluster

    use_ray_environment()
    cluster = Cluster()
    try:
        start_node(
            lambda: cluster.add_node(
                num_cpus=0, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES
            ),
            "the head node",
        )
        for index in range(worker_nodes):
            start_node(
                lambda: cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE_BYTES),
                f"worker node {index + 1}",
            )
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


def start_node(add: Callable[[], Any], what: str) -> Any:
    """Return ``add()`` (which starts a Ray node), retried when it misses Ray's deadline.

    Ray gives a new node 30 s to register (fixed in `ray._private.node.Node`); a busy
    machine misses it. The processes the failed attempt started are this process's new
    children: they are killed before the next attempt.
    """
    import psutil  # type: ignore[import-untyped]

    me = psutil.Process()
    for attempt in range(1, NODE_START_ATTEMPTS + 1):
        before = {child.pid for child in me.children(recursive=True)}
        try:
            return add()
        except Exception as exc:  # Ray raises a bare Exception for this
            if "timed out during startup" not in str(exc) or attempt == NODE_START_ATTEMPTS:
                raise
            for child in me.children(recursive=True):
                if child.pid not in before:
                    with suppress(psutil.NoSuchProcess):
                        child.kill()
            log(f"nodes: {what} missed Ray's start-up deadline (attempt {attempt}); again")
    raise AssertionError("unreachable")


def wait_for_free_cpus(cpus: int) -> float:
    """Wait until the connected Ray shows ``cpus`` CPUs free; return the seconds waited."""
    import ray

    def free() -> bool:
        return bool(ray.available_resources().get("CPU", 0.0) >= cpus)

    return wait_until(free, timeout_s=120, poll_s=0.1, what=f"{cpus} CPU(s) free")


# -- process CPU -------------------------------------------------------------------------


def actor_process(handle: Any) -> tuple[Any, str]:
    """Return the `psutil.Process` of the actor ``handle`` (None if unknown) and its node."""
    import psutil
    from ray._private import state

    info = state.actors(actor_id=handle._actor_id.hex())
    if not isinstance(info, dict):
        return None, ""
    pid = info.get("Pid")
    node = str(info.get("Address", {}).get("NodeID", ""))
    return (psutil.Process(int(pid)) if pid else None), node


def head_node_id() -> str:
    """Return the id of the connected cluster's head node ("" if none is alive)."""
    import ray

    from orchestrator.runtime.spawn import HEAD_NODE_RESOURCE

    for node in ray.nodes():
        if node.get("Alive") and HEAD_NODE_RESOURCE in node.get("Resources", {}):
            return str(node["NodeID"])
    return ""


def cpu_s(process: Any) -> float:
    """Return the user + system CPU seconds ``process`` has used (NaN without one)."""
    if process is None:
        return math.nan
    times = process.cpu_times()
    return float(times.user + times.system)


# -- contenders --------------------------------------------------------------------------


def warm_up_workflow(cpus: int) -> Any:
    """Return a workflow that starts one agent per CPU: 2 x ``cpus`` 0.2-s sleeps, no-ops."""
    from orchestrator import Workflow
    from orchestrator.wfformat import SIMULATE_FUNCTION

    workflow = Workflow("warm-up")
    for index in range(2 * cpus):
        workflow.task(
            f"warm-{index}", SIMULATE_FUNCTION, args=(0.2, "sleep"), resources={"num_cpus": 1}
        )
    for index in range(WARM_UP_TASKS):
        workflow.task(f"noop-{index}", noop)
    return workflow.to_spec()


class OrchestratorContender:
    """An orchestrator joining the cluster; reads its supervisor's and heartbeat's CPU."""

    def __init__(self, address: str, cpus: int) -> None:
        import ray

        from orchestrator import Orchestrator
        from orchestrator.settings import LoggingSettings, RaySettings, Settings

        self._ray = ray
        self.cpus = cpus
        settings = Settings(
            ray=RaySettings(address=address, auth_mode="disabled", log_to_driver=False),
            logging=LoggingSettings(level="WARNING"),
        )
        self.orchestrator = Orchestrator(settings=settings).start()
        wait_for_free_cpus(cpus)
        self._runs = 0
        self._supervisor: Any = None
        self._heartbeat: Any = None

    def _run(self, spec: Any, label: str) -> dict[str, float]:
        """Submit ``spec`` and wait for it; return its wall time and CPU readings."""
        from orchestrator import WorkflowState

        self._runs += 1
        supervisor, heartbeat = cpu_s(self._supervisor), cpu_s(self._heartbeat)
        watch = Stopwatch()
        run = self.orchestrator.submit(spec, workflow_id=f"{label}-{self._runs}")
        submitted = cpu_s(self._supervisor)
        status = run.wait()
        wall_s = watch.elapsed_s()
        if status.state is not WorkflowState.SUCCEEDED:
            raise RuntimeError(f"{label} ended {status.state.value}: {status.counts}")
        sample = {
            "wall_s": wall_s,
            "tasks": float(len(spec.tasks)),
            "supervisor_cpu_s": cpu_s(self._supervisor) - supervisor,
            "supervisor_submit_cpu_s": submitted - supervisor,
            "heartbeat_cpu_s": cpu_s(self._heartbeat) - heartbeat,
        }
        run.release()  # untimed: forget the workflow and its results
        return sample

    def warm_up(self) -> dict[str, float]:
        from orchestrator.runtime.actor_names import heartbeat_actor_name

        self._run(warm_up_workflow(self.cpus), "warm-up")
        settings = self.orchestrator.settings.ray
        self._supervisor, supervisor_node = actor_process(self.orchestrator.supervisor)
        heartbeat = self._ray.get_actor(
            heartbeat_actor_name(settings.supervisor_name), namespace=settings.namespace
        )
        self._heartbeat, heartbeat_node = actor_process(heartbeat)
        on_head = supervisor_node == heartbeat_node == head_node_id() != ""
        agents = len(self._ray.get(self.orchestrator.supervisor.agents.remote()))
        before = cpu_s(self._supervisor)
        watch = Stopwatch()
        time.sleep(IDLE_WINDOW_S)
        idle = (cpu_s(self._supervisor) - before) / watch.elapsed_s()
        return {
            "agents": float(agents),
            "supervisor_idle_cpu_per_s": idle,
            "control_on_head": float(on_head),
        }

    def dispatch(self, num_tasks: int) -> dict[str, float]:
        from benchmarks.dispatch import build_noop_workflow

        spec = build_noop_workflow(num_tasks)  # untimed, as in the dispatch benchmark
        return self._run(spec, "dispatch")

    def workflow(self, spec: Any, label: str) -> dict[str, float]:
        return self._run(spec, label)

    def close(self) -> None:
        self.orchestrator.shutdown()


class RayContender:
    """Plain Ray tasks from this driver, connected to the cluster."""

    def __init__(self, address: str, cpus: int) -> None:
        import ray

        self._ray = ray
        self.cpus = cpus
        ray.init(address=address, log_to_driver=False)
        wait_for_free_cpus(cpus)
        self._remote_noop = ray.remote(noop)

    def warm_up(self) -> dict[str, float]:
        self._ray.get([self._remote_noop.remote() for _ in range(WARM_UP_TASKS)])
        return {}

    def dispatch(self, num_tasks: int) -> dict[str, float]:
        remote = self._remote_noop
        watch = Stopwatch()
        self._ray.get([remote.remote() for _ in range(num_tasks)])
        return {"wall_s": watch.elapsed_s(), "tasks": float(num_tasks)}

    def workflow(self, spec: Any, label: str) -> dict[str, float]:
        from benchmarks.baselines.ray_tasks import execute_on_ray

        # Warms one worker per CPU up (untimed), checks the cluster has exactly that many.
        return {"wall_s": execute_on_ray(spec, self.cpus).wall_s, "tasks": len(spec.tasks)}

    def close(self) -> None:
        self._ray.shutdown()


CONTENDER_CLASSES: dict[str, Callable[[str, int], Contender]] = {
    ORCHESTRATOR: OrchestratorContender,
    RAY: RayContender,
}


# -- the benchmark -----------------------------------------------------------------------


def load_instances(quick: bool, time_scale: float | None) -> list[Any]:
    """Return the WfCommons instances, scaled once for every cluster size.

    Raises:
        ValueError: a task needs more than one CPU (no node here has more).
    """
    from benchmarks.workflows import ensure_instance, load_instance

    bound_s = QUICK_BOUND_S if quick else BOUND_S
    instances = []
    for recipe, size in QUICK_INSTANCES if quick else INSTANCES:
        label = f"{recipe}-{size}"
        inst = load_instance(
            ensure_instance(recipe, size), label, bound_s=bound_s, time_scale=time_scale
        )
        wide = [t.id for t in inst.spec.tasks if t.resources.num_cpus > 1]
        if wide:
            raise ValueError(f"{label}: {len(wide)} task(s) need more than 1 CPU, e.g. {wide[0]}")
        instances.append(inst)
    return instances


def run(options: RunOptions) -> BenchmarkResult:
    """Run the many-nodes benchmark; return its result."""
    from benchmarks import workflows
    from benchmarks.many_nodes_report import instance_bounds, report

    sizes = QUICK_SIZES if options.quick else SIZES
    repeats = min(options.repeats, MAX_REPEATS)
    num_tasks = QUICK_NUM_TASKS if options.quick else NUM_TASKS
    instances = load_instances(options.quick, options.time_scale)
    bounds = {inst.label: instance_bounds(inst.spec, sizes) for inst in instances}
    # samples[nodes][contender][workload] -> one dict per repeat
    samples: dict[int, dict[str, dict[str, list[dict[str, float]]]]] = {}
    warm_ups: dict[int, dict[str, list[dict[str, float]]]] = {}
    order: dict[int, list[list[str]]] = {}
    for nodes in sizes:
        log(f"nodes: starting a cluster of {nodes} worker node(s)")
        samples[nodes] = {
            name: {"dispatch": [], **{inst.label: [] for inst in instances}} for name in CONTENDERS
        }
        warm_ups[nodes] = {name: [] for name in CONTENDERS}
        order[nodes] = []
        watch = Stopwatch()
        with simulated_cluster(nodes) as cluster:
            log(f"nodes: cluster of {nodes} worker node(s) up in {watch.elapsed_s():.1f}s")
            for repeat in range(repeats):
                names = rotated(CONTENDERS, repeat)
                order[nodes].append(names)
                for name in names:
                    watch = Stopwatch()
                    session = CONTENDER_CLASSES[name](cluster.address, nodes)
                    try:
                        warm_up = session.warm_up()
                        warm_up["session_start_s"] = watch.elapsed_s()
                        warm_ups[nodes][name].append(warm_up)
                        sample = session.dispatch(num_tasks)
                        samples[nodes][name]["dispatch"].append(sample)
                        log(
                            f"nodes: {nodes} node(s), repeat {repeat + 1}, {name}: "
                            f"{num_tasks / sample['wall_s']:,.0f} tasks/s (session up and "
                            f"warm in {warm_up['session_start_s']:.1f}s)"
                        )
                        for inst in instances:
                            wf = session.workflow(inst.spec, inst.label)
                            samples[nodes][name][inst.label].append(wf)
                            bound = bounds[inst.label][nodes]["judged_bound_s"]
                            log(
                                f"nodes: {nodes} node(s), {name} {inst.label}: "
                                f"{wf['wall_s']:.2f}s (bound {bound:.2f}s)"
                            )
                    finally:
                        session.close()
    result = BenchmarkResult(
        name="nodes",
        title=f"Many nodes: dispatch and WfCommons on simulated clusters of {sizes} nodes",
    )
    result.data = {
        "sizes": list(sizes),
        "num_tasks": num_tasks,
        "repeats": repeats,
        "bound_s": QUICK_BOUND_S if options.quick else BOUND_S,
        "scale_slots": workflows.SLOTS,
        "warm_up_tasks": WARM_UP_TASKS,
        "instances": {
            inst.label: {
                "tasks": len(inst.spec.tasks),
                "time_scale": inst.time_scale,
                "bounds": bounds[inst.label],
            }
            for inst in instances
        },
        "samples": samples,
        "warm_ups": warm_ups,
        "order": order,
    }
    result.repeats = repeats
    report(result)
    return result
