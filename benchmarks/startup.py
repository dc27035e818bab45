"""Benchmark: start-up, from nothing to the first task's result.

Each sample is a fresh Python process (cold: no Ray, no workers, nothing imported). The
orchestrator: ``Orchestrator(settings).start()`` (which starts an embedded Ray and the
supervisor), submit a one-task workflow, wait for its result. Plain Ray: ``ray.init`` and
``ray.get`` of one task. Both on 2 CPUs, dashboard off, auth disabled. Imports are timed
apart and left out of both walls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks.common import (
    REPO_ROOT,
    BenchmarkResult,
    RunOptions,
    Table,
    TargetCheck,
    log,
    median,
    use_ray_environment,
)

#: Orchestrator start-up within this factor of ``ray.init`` plus one task.
TARGET_RATIO = 1.5

_ORCHESTRATOR = """
import json, time
t0 = time.perf_counter()
from orchestrator import Orchestrator, Workflow
from orchestrator.settings import LoggingSettings, RaySettings, Settings
from benchmarks.workloads import identity
imported = time.perf_counter()
settings = Settings(
    ray=RaySettings(num_cpus=2, auth_mode="disabled", log_to_driver=False),
    logging=LoggingSettings(level="ERROR"),
)
orchestrator = Orchestrator(settings=settings).start()
started = time.perf_counter()
workflow = Workflow("first")
workflow.task("one", identity, args=(1,))
assert orchestrator.submit(workflow).result("one", timeout_s=120) == 1
done = time.perf_counter()
orchestrator.shutdown()
print(json.dumps({"import_s": imported - t0, "start_s": started - imported,
                  "first_result_s": done - imported}))
"""

_RAY = """
import json, time
t0 = time.perf_counter()
import ray
from benchmarks.workloads import identity
imported = time.perf_counter()
ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
started = time.perf_counter()
assert ray.get(ray.remote(num_cpus=1)(identity).remote(1)) == 1
done = time.perf_counter()
ray.shutdown()
print(json.dumps({"import_s": imported - t0, "start_s": started - imported,
                  "first_result_s": done - imported}))
"""


def _sample(script: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"start-up sample failed: {done.stderr[-2000:]}")
    sample: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return sample


def run(options: RunOptions) -> BenchmarkResult:
    """Run the start-up benchmark; return its result."""
    use_ray_environment()
    repeats = 1 if options.quick else options.repeats
    samples: dict[str, list[dict[str, float]]] = {"orchestrator": [], "ray": []}
    for repeat in range(repeats):
        for name, script in (("orchestrator", _ORCHESTRATOR), ("ray", _RAY)):
            log(f"startup: {name} ({repeat + 1}/{repeats})")
            samples[name].append(_sample(script))

    def med(name: str, key: str) -> float:
        return median([sample[key] for sample in samples[name]])

    ours, theirs = med("orchestrator", "first_result_s"), med("ray", "first_result_s")
    result = BenchmarkResult(name="startup", title="Start-up: from nothing to the first result")
    table = Table(
        f"Cold start in a fresh process (medians of {repeats})",
        ["contender", "imports (s)", "start (s)", "to first result (s)"],
    )
    table.add(
        "orchestrator `Orchestrator().start()` + one task",
        med("orchestrator", "import_s"),
        med("orchestrator", "start_s"),
        ours,
    )
    table.add(
        "plain Ray `ray.init` + one task", med("ray", "import_s"), med("ray", "start_s"), theirs
    )
    result.tables = [table]
    result.data = {"samples": samples}
    result.targets = [
        TargetCheck(
            "startup: first result, orchestrator / ray.init + one task",
            f"<= {TARGET_RATIO:g}",
            f"{ours / theirs:.2f} ({ours:.2f} s vs {theirs:.2f} s)",
            ours / theirs <= TARGET_RATIO,
        )
    ]
    result.notes = [
        "Each sample is a new Python process; imports are timed apart and not counted.",
        "Orchestrator: an embedded Ray (`num_cpus=2`, no dashboard), the supervisor and "
        "its heartbeat actor, then a one-task workflow: the function agent starts with it.",
        "Plain Ray: `ray.init(address='local', num_cpus=2, include_dashboard=False)` and "
        "one `@ray.remote` task of the same function.",
    ]
    return result
