"""``orchestrator run`` of a workflow file that declares a schedule or a topic.

By default the run registers the schedule (or the trigger) with an orchestrator and keeps
serving it: each run is reported when it starts and when it ends, until the process is
interrupted (Ctrl-C, SIGTERM), or until ``--max-runs`` runs have ended. The schedule is
then removed; runs still going are left to finish only if the orchestrator outlives this
process (a cluster's, joined with ``--address auto``). ``--once`` ignores the schedule and
runs the workflow one time now, like a file without one.

Exit status: 0 when every run that ended succeeded (or none ended), 1 otherwise.
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any

from rich.console import Console

from orchestrator.core.schedules import ScheduleSpec
from orchestrator.core.specs import WorkflowSpec
from orchestrator.core.states import WorkflowState
from orchestrator.workflow_triggers import describe


def serve(
    orchestrator: Any,
    spec: WorkflowSpec,
    schedule: ScheduleSpec,
    console: Console,
    *,
    max_runs: int | None = None,
    poll_s: float = 0.5,
) -> int:
    """Register ``schedule`` for ``spec`` and report its runs until stopped; return the exit status.

    Args:
        orchestrator: A started `orchestrator.api.Orchestrator`.
        spec: The workflow each firing (or message) runs.
        schedule: When it runs.
        console: Where runs are reported.
        max_runs: Stop once this many runs have ended (None: until interrupted).
        poll_s: How often the runs are looked at.
    """
    orchestrator.add_schedule(spec, schedule)
    console.print(describe(schedule))
    if schedule.topic is not None:
        console.print(
            f"publish with: orchestrator publish {schedule.topic} --payload JSON --address auto"
        )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    prefix = f"{schedule.name}@"
    seen: set[str] = set()
    ended: dict[str, WorkflowState] = {}
    try:
        while max_runs is None or len(ended) < max_runs:
            for status in orchestrator.workflows():
                run_id = status.workflow_id
                if not run_id.startswith(prefix) or run_id in ended:
                    continue
                if run_id not in seen:
                    seen.add(run_id)
                    console.print(f"started {run_id}")
                if status.state.is_terminal:
                    ended[run_id] = status.state
                    console.print(f"{run_id}: {status.state.value}")
            time.sleep(poll_s)
    except KeyboardInterrupt:
        console.print("interrupted")
    finally:
        signal.signal(signal.SIGTERM, previous)
        orchestrator.unschedule(schedule.name)
    failed = [run_id for run_id, state in ended.items() if state is not WorkflowState.SUCCEEDED]
    console.print(
        f"schedule {schedule.name!r} removed: {len(ended)} run(s) ended,"
        f" {len(failed)} not succeeded"
    )
    return 1 if failed else 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Take SIGTERM as Ctrl-C: the schedule is removed before the process ends."""
    raise KeyboardInterrupt
