"""One driver process of the many-workflows benchmark (``benchmarks.many_workflows``).

Started by the benchmark as ``python -m benchmarks.many_workflows_driver ARGS``; it joins
the shared Ray cluster (and, for the orchestrator, the one supervisor found by name),
warms up with one workflow, prints ``ready``, waits for ``go`` on stdin, then submits its
workflows all at once (the orchestrator's with ``Orchestrator.submit_many``: every
submission sent before any answer is awaited) and waits for every one of them. It
prints one JSON line:

- ``go_s``: when it read ``go`` (wall clock);
- ``submits_s``: when each workflow's submission began (wall clock);
- ``submitted_s``: when the last submission returned;
- ``done_s``: when it had seen every workflow end (the run's end, for throughput);
- ``ends_s``: when each workflow's join task ended, as the task itself reported it
  (fetched after ``done_s``, outside the timing).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from benchmarks.common import orchestrator_settings
from benchmarks.many_workflows import MIDDLE_TASKS, dag_join, dag_step


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the driver's command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.many_workflows_driver")
    parser.add_argument("--contender", choices=("orchestrator", "ray"), required=True)
    parser.add_argument("--address", required=True, help="GCS address of the shared cluster")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--supervisor-name", default="supervisor")
    parser.add_argument("--driver", type=int, required=True, help="this driver's index")
    parser.add_argument("--workflows", type=int, required=True)
    parser.add_argument("--hold-s", type=float, default=0.0)
    parser.add_argument("--tag", default="run", help="makes workflow ids unique per run")
    return parser.parse_args(argv)


def _wait_for_go() -> float:
    print("ready", flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise SystemExit(f"driver: expected 'go', got {line!r}")
    return time.time()


def build_workflow(name: str, hold_s: float) -> Any:
    """Return the benchmark's workflow: one root, `MIDDLE_TASKS` in parallel, one join."""
    from orchestrator import Workflow

    workflow = Workflow(name)
    root = workflow.task("root", dag_step, args=(hold_s,))
    middles = [
        workflow.task(f"m{index}", dag_step, args=(hold_s,), depends_on=[root])
        for index in range(MIDDLE_TASKS)
    ]
    workflow.task("join", dag_join, args=(hold_s,), depends_on=middles)
    return workflow


def run_orchestrator(args: argparse.Namespace) -> dict[str, Any]:
    """Join the supervisor, submit every workflow at once, wait for them all."""
    from orchestrator import Orchestrator, WorkflowState

    settings = orchestrator_settings(
        log_level="ERROR",
        ray={
            "address": args.address,
            "namespace": args.namespace,
            "supervisor_name": args.supervisor_name,
        },
    )
    with Orchestrator(args.address, settings=settings, join_only=True) as orch:
        warm = orch.run(build_workflow("warm-up", args.hold_s), timeout_s=300)
        if warm.status().state is not WorkflowState.SUCCEEDED:
            raise RuntimeError("driver: the warm-up workflow did not succeed")
        warm.release()
        go_s = _wait_for_go()
        submits_s, specs = [], []
        for index in range(args.workflows):
            submits_s.append(time.time())
            workflow = build_workflow(f"wf-{args.driver}-{index}", args.hold_s)
            specs.append(workflow.to_spec().with_id(f"{args.tag}-d{args.driver}-w{index}"))
        # Every submission sent before any answer is awaited, as Ray's `.remote()` calls.
        runs = orch.submit_many(specs)
        submitted_s = time.time()
        states = [run.wait(timeout_s=600).state for run in runs]
        done_s = time.time()
        failed = [str(state) for state in states if state is not WorkflowState.SUCCEEDED]
        if failed:
            raise RuntimeError(f"driver: {len(failed)} workflow(s) did not succeed: {failed[:3]}")
        ends_s = [float(run.result("join")) for run in runs]
        for run in runs:
            run.release()
    return {
        "go_s": go_s,
        "submits_s": submits_s,
        "submitted_s": submitted_s,
        "done_s": done_s,
        "ends_s": ends_s,
    }


def run_ray(args: argparse.Namespace) -> dict[str, Any]:
    """Submit every workflow as a DAG of Ray tasks at once; wait for them all."""
    import ray

    ray.init(address=args.address, namespace=args.namespace, log_to_driver=False)
    try:
        step: Any = ray.remote(num_cpus=1)(dag_step)
        join: Any = ray.remote(num_cpus=1)(dag_join)

        def submit_one() -> Any:
            root = step.remote(args.hold_s)
            middles = [step.remote(args.hold_s, root) for _ in range(MIDDLE_TASKS)]
            return join.remote(args.hold_s, *middles)

        ray.get(submit_one(), timeout=300)  # warm-up: workers, the functions exported
        go_s = _wait_for_go()
        submits_s, joins = [], []
        for _ in range(args.workflows):
            submits_s.append(time.time())
            joins.append(submit_one())
        submitted_s = time.time()
        ready, _ = ray.wait(joins, num_returns=len(joins), timeout=600, fetch_local=False)
        done_s = time.time()
        if len(ready) != len(joins):
            raise RuntimeError(f"driver: {len(joins) - len(ready)} workflow(s) unfinished")
        ends_s = [float(end) for end in ray.get(joins, timeout=60)]
    finally:
        ray.shutdown()
    return {
        "go_s": go_s,
        "submits_s": submits_s,
        "submitted_s": submitted_s,
        "done_s": done_s,
        "ends_s": ends_s,
    }


def main(argv: list[str] | None = None) -> int:
    """Run one driver; print its timings as one JSON line."""
    args = parse_args(argv)
    timings = run_orchestrator(args) if args.contender == "orchestrator" else run_ray(args)
    print(json.dumps(timings), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
