"""Baseline: a workflow on Dask distributed, dependencies passed as futures.

A `LocalCluster` with one worker of ``slots`` threads and the worker resource
``{"slots": slots}``; each task asks for ``{"slots": cores}``, so at most ``slots`` CPUs
are busy at once and a multi-core task waits for enough free slots, as on Ray. Upstream
futures are arguments of `Client.submit`, so Dask holds a task back until they are done.
When the spec carries ``estimated_duration_s``, each task gets ``priority=`` its upward
rank (`dask_priorities`: higher runs first among ready tasks), the knowledge the
orchestrator ranks with, and the tasks are submitted in `rank_order` too (one `submit` at
a time: the first roots to arrive would otherwise start before higher-ranked ones arrive).
Without estimates, every task has Dask's default priority, in the spec's order.

One worker process (``processes=True``, the default here) mirrors Ray, whose tasks also
run outside the driver. ``processes=False`` puts the worker's threads in this process;
see ``benchmarks/baselines/README.md`` for the measured difference.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distributed import Client, LocalCluster

from benchmarks.baselines.common import (
    BaselineRun,
    call_task,
    dask_priorities,
    estimated_ranks_s,
    finish,
    function_paths,
    import_functions,
    plan,
    rank_order,
)
from orchestrator.core.specs import WorkflowSpec

#: Name of the worker resource that stands for CPU slots.
SLOT_RESOURCE = "slots"


@contextmanager
def local_dask(slots: int, *, processes: bool = True) -> Iterator[Client]:
    """Start a one-worker Dask cluster with ``slots`` threads and ``slots`` slot resources.

    Yields:
        A client connected to it; cluster and client are closed on exit.
    """
    cluster = LocalCluster(
        n_workers=1,
        threads_per_worker=slots,
        processes=processes,
        resources={SLOT_RESOURCE: slots},
        dashboard_address=None,
        # No dashboard; its HTTP server on any free port rather than 8787, so that two
        # clusters (or another Dask user) do not collide.
        scheduler_kwargs={"dashboard_address": ":0"},
    )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def execute_on_dask(
    spec: WorkflowSpec,
    slots: int,
    *,
    client: Client | None = None,
    processes: bool = True,
    ranked: bool = True,
) -> BaselineRun:
    """Run ``spec`` on Dask with at most ``slots`` CPUs busy at once.

    Args:
        spec: A workflow of function tasks.
        slots: CPUs to cap the run at.
        client: A client whose workers declare the ``slots`` resource (see `local_dask`);
            by default a cluster is started for this run and closed after it.
        processes: For the cluster started here: worker in its own process or not.
        ranked: Give each task ``priority=`` its rank when the spec has estimates.

    Returns:
        The wall time (cluster start excluded) and each task's span and result.

    Raises:
        ValueError: `plan` refuses the workflow.
    """
    tasks = plan(spec, slots)
    if client is None:
        with local_dask(slots, processes=processes) as own_client:
            return execute_on_dask(spec, slots, client=own_client, ranked=ranked)
    ranks = estimated_ranks_s(spec) if ranked else None
    priorities = dask_priorities(ranks) if ranks is not None else {}
    if ranks is not None:
        tasks = rank_order(tasks, ranks)
    # Import the task functions on the worker before timing, as the Ray baseline does.
    client.submit(import_functions, function_paths(tasks), pure=False).result()
    # Keys must be unique on the scheduler: a run token keeps repeated runs apart.
    run = uuid.uuid4().hex[:8]
    futures: dict[str, Any] = {}
    start = time.perf_counter()
    for task in tasks:
        resources = {SLOT_RESOURCE: task.cores} if task.cores > 0 else None
        futures[task.id] = client.submit(
            call_task,
            task.function,
            task.args,
            dict(task.kwargs),
            task.depends_on,
            *(futures[dep] for dep in task.depends_on),
            key=f"{task.id}-{run}",
            resources=resources,
            priority=priorities.get(task.id, 0),
            pure=False,
            retries=0,
        )
    outcomes = client.gather(list(futures.values()))
    wall_s = time.perf_counter() - start
    return finish("dask", slots, wall_s, list(futures), outcomes)


def run_on_dask(spec: WorkflowSpec, slots: int, *, processes: bool = True) -> float:
    """Run ``spec`` on a fresh local Dask cluster capped at ``slots``; return wall seconds."""
    return execute_on_dask(spec, slots, processes=processes).wall_s
