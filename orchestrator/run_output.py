"""Render a finished run for people (rich tables) and for files (JSON, task outputs)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from orchestrator.core.states import TaskState
from orchestrator.core.status import RunSummary, TaskInfo

_MAX_PATH_SHOWN = 8


def summary_table(summary: RunSummary) -> Table:
    """Return the end-of-run table: counts, wall time, task time, critical path, speed-up."""
    table = Table(title=f"workflow {summary.workflow_id}: {summary.state.value}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("tasks", str(summary.total))
    table.add_row("succeeded", str(summary.succeeded))
    table.add_row("failed", str(summary.failed))
    if summary.skipped:
        table.add_row("skipped (upstream failed)", str(summary.skipped))
    if summary.cancelled:
        table.add_row("cancelled", str(summary.cancelled))
    table.add_row("wall time", f"{summary.wall_s:.2f} s")
    table.add_row("sum of task times (sequential)", f"{summary.task_time_sum_s:.2f} s")
    path = list(summary.critical_path)
    shown = " → ".join(path[:_MAX_PATH_SHOWN]) + (" → …" if len(path) > _MAX_PATH_SHOWN else "")
    table.add_row("critical path", f"{summary.critical_path_s:.2f} s: {shown}")
    table.add_row("speed-up", f"{summary.speedup:.2f}x")
    return table


def failures_table(tasks: Iterable[TaskInfo]) -> Table | None:
    """Return a table of failed tasks and their last error, or None when none failed."""
    failed = [info for info in tasks if info.state is TaskState.FAILED]
    if not failed:
        return None
    table = Table(title="failed tasks")
    table.add_column("task")
    table.add_column("attempts", justify="right")
    table.add_column("error")
    for info in failed:
        table.add_row(info.task_id, str(info.attempts), f"{info.error_type}: {info.error_message}")
    return table


def print_report(
    summary: RunSummary, tasks: Iterable[TaskInfo], console: Console | None = None
) -> None:
    """Print the summary and, if any, the failed tasks."""
    out = console or Console()
    out.print(summary_table(summary))
    failures = failures_table(tasks)
    if failures is not None:
        out.print(failures)


def output_file_name(task_id: str, result: Any) -> str | None:
    """Return the file a task's result is saved to, or None when it cannot be saved.

    A task id with an extension (``report.md``, ``totals.json``) is the file name; otherwise
    text goes to ``<id>.txt`` and JSON-serialisable values to ``<id>.json``.
    """
    if not isinstance(result, str):
        try:
            json.dumps(result)
        except (TypeError, ValueError):
            return None
    if "." in task_id:
        return task_id
    return f"{task_id}.txt" if isinstance(result, str) else f"{task_id}.json"


def write_outputs(
    directory: str | Path, summary: RunSummary, results: Mapping[str, Any]
) -> list[Path]:
    """Write ``summary.json`` and the given task results into ``directory``; return the files."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "summary.json"]
    written[0].write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    for task_id, result in results.items():
        name = output_file_name(task_id, result)
        if name is None:
            continue
        path = folder / name
        if isinstance(result, str):
            path.write_text(result, encoding="utf-8")
        else:
            path.write_text(json.dumps(result, indent=2), encoding="utf-8")
        written.append(path)
    return written
