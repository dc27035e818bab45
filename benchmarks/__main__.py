"""``python -m benchmarks [dispatch] [core] [workflows] [memory] ... [--quick] [--repeats N]``.

Runs the named benchmarks (all by default), writes
``benchmarks/results/<name>.json`` and ``<name>.md`` for each, rebuilds
``benchmarks/results/README.md`` from every result there, and prints the tables.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from benchmarks.common import (
    RESULTS_DIR,
    RunOptions,
    Stopwatch,
    environment,
    log,
    use_ray_environment,
)
from benchmarks.results_files import render, targets_table, write_result, write_summary

#: Benchmark name -> module with ``run(options) -> BenchmarkResult``, in running order.
BENCHMARKS = {
    "dispatch": "benchmarks.dispatch",
    "core": "benchmarks.core_sim",
    "workflows": "benchmarks.workflows",
    "memory": "benchmarks.memory",
    "faults": "benchmarks.faults",
    "checkpoints": "benchmarks.checkpoints",
    "priority": "benchmarks.priority",
    "fetch": "benchmarks.results_fetch",
    "stall": "benchmarks.submit_stall",
    "startup": "benchmarks.startup",
    "critical_path": "benchmarks.critical_path",
    "fairness": "benchmarks.fairness",
    "bus": "benchmarks.bus",
    "many_workflows": "benchmarks.many_workflows",
    "realwork": "benchmarks.real_work",
    "nodes": "benchmarks.many_nodes",
    "floor": "benchmarks.call_floor",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Orchestrator benchmarks side by side with plain Ray and Dask.",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run, among {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke test of a couple of minutes"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed repeats per measurement (default 3)"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        metavar="S",
        help="workflows: scale every recorded task runtime by S (default: per instance, so "
        "that its lower bound lasts a few seconds)",
    )
    parser.add_argument(
        "--instances",
        default="",
        metavar="LABELS",
        help="workflows: run only these instances, comma-separated labels such as "
        "genome-100-2core,montage-100 (default: all)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="where to write the results (default benchmarks/results, or "
        "benchmarks/results/quick with --quick, so a smoke test never overwrites them)",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(unknown)}; choose among {', '.join(BENCHMARKS)}"
        )
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.time_scale is not None and not args.time_scale >= 0:
        parser.error("--time-scale must be a number >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; return the exit status (1 if one of them failed)."""
    args = parse_args(argv)
    names = list(dict.fromkeys(args.names)) or list(BENCHMARKS)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 3)
    options = RunOptions(
        quick=args.quick,
        repeats=repeats,
        time_scale=args.time_scale,
        instances=tuple(label for label in args.instances.split(",") if label),
    )
    results_dir: Path = args.results_dir or (RESULTS_DIR / "quick" if args.quick else RESULTS_DIR)
    use_ray_environment()
    failed: list[str] = []
    done = []
    for name in names:
        log(f"{name}: start ({'quick' if options.quick else 'default'} sizes, {repeats} repeats)")
        # Recorded before the run: the commit and load the benchmark started with.
        started_env = environment(options)
        watch = Stopwatch()
        try:
            result = importlib.import_module(BENCHMARKS[name]).run(options)
        except Exception as exc:  # report it, then run the other benchmarks
            log(f"{name}: FAILED: {type(exc).__name__}: {exc}")
            import traceback

            traceback.print_exc()
            failed.append(name)
            continue
        result.duration_s = watch.elapsed_s()
        result.environment = started_env
        json_path, md_path = write_result(result, results_dir)
        log(f"{name}: done in {result.duration_s:.0f}s -> {json_path}, {md_path}")
        done.append(result)
    write_summary(results_dir)
    for result in done:
        print(render(result, heading="##"))
    if done:
        print("## Targets\n")
        print(targets_table((r.name, check) for r in done for check in r.targets))
    print(f"\nCombined results: {results_dir / 'README.md'}")
    if failed:
        log(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
