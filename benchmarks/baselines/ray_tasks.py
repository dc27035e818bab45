"""Baseline: a workflow as plain Ray tasks, dependencies passed as ObjectRefs.

Each task is one ``@ray.remote`` call with ``num_cpus`` = its cores; its upstream tasks'
ObjectRefs are its arguments, so Ray itself holds it back until they are done. The cap of
``slots`` concurrent CPUs is Ray's own CPU accounting: start Ray with ``num_cpus=slots``
(`local_ray` does) — `execute_on_ray` checks that the cluster has exactly that many.
Ray tasks have no priority field: among tasks ready at once, Ray starts them in
submission order. So when the spec carries ``estimated_duration_s``, the tasks are
submitted in `rank_order` (a topological order taking the ready task of highest upward
rank first, the knowledge the orchestrator ranks with); without estimates, in the
spec's own (topological) order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray

from benchmarks.baselines.common import (
    BaselineRun,
    call_task,
    estimated_ranks_s,
    finish,
    function_paths,
    import_functions,
    plan,
    rank_order,
)
from orchestrator.core.specs import WorkflowSpec

_remote_call_task = ray.remote(max_retries=0)(call_task)


@ray.remote(num_cpus=1, max_retries=0)
def _warm_up(paths: tuple[str, ...], hold_s: float) -> int:
    # Holding the CPU a moment makes Ray start one worker per slot instead of reusing one.
    time.sleep(hold_s)
    return import_functions(paths)


@contextmanager
def local_ray(slots: int) -> Iterator[None]:
    """Start a private local Ray with ``slots`` CPUs for the duration of the block.

    Usage statistics are off and there is no dashboard; Ray is shut down on exit.

    Raises:
        RuntimeError: Ray is already initialised in this process (it is not ours to stop).
    """
    if ray.is_initialized():
        raise RuntimeError("Ray is already initialised; run the baseline on it instead")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(address="local", num_cpus=slots, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def execute_on_ray(
    spec: WorkflowSpec, slots: int, *, warm_up: bool = True, ranked: bool = True
) -> BaselineRun:
    """Run ``spec`` as plain Ray tasks on the Ray this process is connected to.

    Args:
        spec: A workflow of function tasks (e.g. from `orchestrator.wfformat.load_wfformat`).
        slots: CPUs of the Ray cluster, which caps the CPUs busy at once.
        warm_up: First start one worker per slot and import the task functions there,
            outside the timed part (Dask's workers are likewise started before timing).
        ranked: Submit in `rank_order` when the spec has estimates (False: spec order).

    Returns:
        The wall time and each task's span and result.

    Raises:
        RuntimeError: Ray is not initialised.
        ValueError: the cluster does not have exactly ``slots`` CPUs, or `plan` refuses
            the workflow.
    """
    if not ray.is_initialized():
        raise RuntimeError("start Ray first, e.g. `with local_ray(slots): ...`")
    cpus = ray.cluster_resources().get("CPU", 0.0)
    if cpus != slots:
        raise ValueError(f"the Ray cluster has {cpus:g} CPUs, not {slots}: the cap would not hold")
    tasks = plan(spec, slots)
    ranks = estimated_ranks_s(spec) if ranked else None
    if ranks is not None:
        tasks = rank_order(tasks, ranks)
    if warm_up:
        ray.get([_warm_up.remote(function_paths(tasks), 0.2) for _ in range(slots)])
    refs: dict[str, Any] = {}
    start = time.perf_counter()
    for task in tasks:
        refs[task.id] = _remote_call_task.options(num_cpus=task.cores, name=task.id).remote(
            task.function,
            task.args,
            dict(task.kwargs),
            task.depends_on,
            *(refs[dep] for dep in task.depends_on),
        )
    outcomes = ray.get(list(refs.values()))
    wall_s = time.perf_counter() - start
    return finish("ray", slots, wall_s, list(refs), outcomes)


def run_on_ray(spec: WorkflowSpec, slots: int) -> float:
    """Run ``spec`` as plain Ray tasks and return the wall time in seconds.

    Ray must already run with ``num_cpus=slots`` in this process (see `local_ray`).
    """
    return execute_on_ray(spec, slots).wall_s
