"""The ``orchestrator`` command: run or check a workflow file from the shell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console

from orchestrator.cli_audit import audit
from orchestrator.cli_dlq import dlq
from orchestrator.cli_graph import graph
from orchestrator.cli_jobs import submit
from orchestrator.cli_observe import COMMANDS as OBSERVING
from orchestrator.cli_workflows import COMMANDS
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.specs import WorkflowSpec
from orchestrator.core.states import WorkflowState
from orchestrator.loader import load_trigger, load_workflow_file
from orchestrator.workflow_triggers import describe

#: Exit codes: success, a task failed, the input was refused.
EXIT_OK, EXIT_FAILED, EXIT_REJECTED = 0, 1, 2


def _load(
    path: str,
    time_scale: float,
    mode: str,
    max_cores: int | None,
    tag: str = "master",
    taskmaster_handler: str | None = None,
) -> WorkflowSpec:
    try:
        return load_workflow_file(
            path,
            time_scale=time_scale,
            mode=mode,  # type: ignore[arg-type]
            max_cores=max_cores,
            tag=tag,
            taskmaster_handler=taskmaster_handler,
        )
    except WorkflowRejectedError as exc:
        _refuse(exc)


def _refuse(exc: WorkflowRejectedError) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_REJECTED)


@click.group()
@click.version_option(package_name="ray-agent-orchestrator")
def main() -> None:
    """Run workflows of agents on Ray, with priorities, dependencies and resource-sized agents."""


_time_scale = click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="WfFormat instances: run each task for its recorded runtime times this.",
)
_mode = click.option(
    "--mode",
    type=click.Choice(["sleep", "compute"]),
    default="sleep",
    show_default=True,
    help="WfFormat instances: sleep or compute for the recorded runtime.",
)
_max_cores = click.option(
    "--max-cores", type=click.IntRange(min=1), help="WfFormat instances: cap each task's cores."
)
_tag = click.option(
    "--tag", default="master", show_default=True, help="Taskmaster tasks.json: the tag to read."
)
_taskmaster_handler = click.option(
    "--taskmaster-handler",
    metavar="MODULE:ATTR",
    help="Taskmaster tasks.json: function or agent class handling each task "
    "(default: a summary of the task).",
)


@main.command()
@click.argument("workflow_file", type=click.Path(exists=True, dir_okay=False))
@_time_scale
@_mode
@_max_cores
@_tag
@_taskmaster_handler
def validate(
    workflow_file: str,
    time_scale: float,
    mode: str,
    max_cores: int | None,
    tag: str,
    taskmaster_handler: str | None,
) -> None:
    """Check WORKFLOW_FILE without running it."""
    spec = _load(workflow_file, time_scale, mode, max_cores, tag, taskmaster_handler)
    click.echo(f"ok: workflow {spec.name!r}, {len(spec.tasks)} tasks, {len(spec.agents)} agents")
    not_run = spec.metadata.get("taskmaster.not_run")
    if not_run:
        click.echo(f"not run (done or cancelled): {not_run.replace(',', ', ')}")
    _report_conflicts(spec)
    schedule = load_trigger(workflow_file)
    if schedule is not None:
        click.echo(describe(schedule))


def _report_conflicts(spec: WorkflowSpec) -> None:
    """Print the conflicting tasks the graph does not order (the locks order them)."""
    from orchestrator.core.conflicts import find_conflicts
    from orchestrator.core.packed import PackedWorkflow
    from orchestrator.core.validation import check_structure

    packed = PackedWorkflow.pack(spec.with_id(spec.id or spec.name))
    structure, _ = check_structure(packed)
    conflicts = find_conflicts(packed, structure.graph)
    if conflicts:
        click.echo(f"{len(conflicts)} resource conflict(s), ordered at run time by locks:")
        for conflict in conflicts:
            click.echo(
                f"  {conflict.first} and {conflict.second}: {conflict.kind} on"
                f" {conflict.resource!r}"
            )


@main.command()
@click.argument("workflow_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--address", help="Ray to use: 'local' (embedded, default), 'auto', 'ray://…'.")
@click.option(
    "--slots", type=click.IntRange(min=1), help="CPUs of the embedded Ray (default: all)."
)
@_time_scale
@_mode
@_max_cores
@_tag
@_taskmaster_handler
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--once", is_flag=True, help="A scheduled file: run it once now, not on schedule.")
@click.option(
    "--max-runs",
    type=click.IntRange(min=1),
    help="A scheduled file: stop once this many runs have ended (default: when interrupted).",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Write summary.json and the results of the final tasks here.",
)
def run(
    workflow_file: str,
    address: str | None,
    slots: int | None,
    time_scale: float,
    mode: str,
    max_cores: int | None,
    tag: str,
    taskmaster_handler: str | None,
    progress: bool,
    once: bool,
    max_runs: int | None,
    output_dir: str | None,
) -> None:
    """Run WORKFLOW_FILE and summarise it.

    WORKFLOW_FILE: YAML, JSON, a WfCommons WfFormat instance or a Taskmaster tasks.json.
    A file with a ``schedule`` or ``on_topic`` is served until interrupted (or
    ``--max-runs``); ``--once`` runs it one time now.
    """
    if max_cores is None:
        max_cores = slots  # a task wider than the cluster could never run
    spec = _load(workflow_file, time_scale, mode, max_cores, tag, taskmaster_handler)
    from orchestrator.api import Orchestrator
    from orchestrator.run_output import print_report, write_outputs
    from orchestrator.settings import Settings

    settings = Settings()
    if slots is not None:
        settings = settings.model_copy(
            update={"ray": settings.ray.model_copy(update={"num_cpus": slots})}
        )
    console = Console()
    schedule = None if once else load_trigger(workflow_file)
    with Orchestrator(address, settings=settings) as orchestrator:
        if schedule is not None:
            from orchestrator.cli_triggers import serve

            sys.exit(serve(orchestrator, spec, schedule, console, max_runs=max_runs))
        try:
            workflow_run = orchestrator.submit(spec)
        except WorkflowRejectedError as exc:
            _refuse(exc)
        except PermissionError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_REJECTED)
        status = workflow_run.wait(progress=progress)
        summary = workflow_run.summary()
        tasks = workflow_run.tasks()
        print_report(summary, tasks, console)
        if output_dir is not None:
            sinks = {task.id for task in spec.tasks} - {
                dep for task in spec.tasks for dep in task.dependencies()
            }
            results = {
                info.task_id: workflow_run.result(info.task_id)
                for info in tasks
                if info.task_id in sinks and info.state.value == "succeeded"
            }
            for path in write_outputs(Path(output_dir), summary, results):
                console.print(f"wrote {path}")
    sys.exit(EXIT_OK if status.state is WorkflowState.SUCCEEDED else EXIT_FAILED)


main.add_command(audit)
main.add_command(dlq)
main.add_command(graph)
main.add_command(submit)
for command in (*OBSERVING, *COMMANDS):
    main.add_command(command)

if __name__ == "__main__":
    main()
