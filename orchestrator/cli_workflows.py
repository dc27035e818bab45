"""``orchestrator pause|resume|cancel|schedules|publish``: steer a running orchestrator.

Each joins the supervisor already running on the cluster (``--address``, ``auto`` by
default), never starts one and never stops it. ``resume --from STORAGE_URI`` is the
exception: after the whole cluster was lost, it starts an embedded Ray and a supervisor on
the saved state, continues every unfinished workflow, and waits for them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from orchestrator.cli_dlq import EXIT_REFUSED, EXIT_UNAVAILABLE, _address, _joined
from orchestrator.core.states import WorkflowState
from orchestrator.core.status import WorkflowStatus

if TYPE_CHECKING:
    from orchestrator.api import Orchestrator

#: Exit code of ``resume --from`` when a workflow it waited for did not succeed.
EXIT_FAILED = 1


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _refused(action: Callable[[], Any]) -> Any:
    """Run ``action``; an unknown workflow or a refused request exits with a clear error."""
    try:
        return action()
    except KeyError as exc:
        _fail(str(exc.args[0]) if exc.args else str(exc), EXIT_REFUSED)
    except ValueError as exc:
        _fail(str(exc), EXIT_REFUSED)


def _status_table(statuses: list[WorkflowStatus]) -> Table:
    table = Table("workflow", "name", "state", "done", "total", title="workflows")
    for status in statuses:
        table.add_row(
            status.workflow_id,
            status.name,
            status.state.value,
            str(status.done),
            str(status.total),
        )
    return table


@click.command()
@click.argument("workflow_id")
@click.option("--stop-running", is_flag=True, help="Give up running attempts instead of waiting.")
@click.option("--timeout", "timeout_s", type=float, help="Wait at most this long for them.")
@_address
def pause(workflow_id: str, stop_running: bool, timeout_s: float | None, address: str) -> None:
    """Pause WORKFLOW_ID: nothing of it starts until resumed; a checkpoint is saved."""
    with _joined(address) as orchestrator:
        run = _refused(lambda: orchestrator.attach(workflow_id))
        key = _refused(lambda: run.pause(stop_running=stop_running, timeout_s=timeout_s))
    saved = f"; checkpoint {key}" if key else "; no checkpoint storage is set"
    click.echo(f"paused {workflow_id}{saved}")


@click.command()
@click.argument("workflow_ids", nargs=-1)
@click.option(
    "--from",
    "storage",
    help="Continue every unfinished workflow saved in this storage (file://..., s3://...)"
    " on a new embedded Ray, and wait for them.",
)
@_address
def resume(workflow_ids: tuple[str, ...], storage: str | None, address: str) -> None:
    """Let paused WORKFLOW_IDS go on, or (--from) continue a lost cluster's workflows."""
    if storage is not None:
        _resume_from(storage, workflow_ids)
        return
    if not workflow_ids:
        _fail("name the WORKFLOW_IDS to resume, or give --from STORAGE_URI", EXIT_REFUSED)
    with _joined(address) as orchestrator:
        for workflow_id in workflow_ids:
            state = _refused(partial(_resume_one, orchestrator, workflow_id))
            click.echo(f"resumed {workflow_id}: {state.value}")


def _resume_one(orchestrator: Orchestrator, workflow_id: str) -> WorkflowState:
    return orchestrator.attach(workflow_id).resume().state


def _resume_from(storage: str, workflow_ids: tuple[str, ...]) -> None:
    """Start a supervisor on ``storage``'s state; wait for every unfinished workflow."""
    from orchestrator.api import Orchestrator
    from orchestrator.settings import Settings

    settings = Settings()
    settings = settings.model_copy(
        update={"checkpoint": settings.checkpoint.model_copy(update={"storage": storage})}
    )
    console = Console()
    with Orchestrator("local", settings=settings) as orchestrator:
        try:
            statuses = orchestrator.workflows()
        except Exception as exc:  # the state could not be read: say so, clearly
            _fail(f"cannot resume from {storage}: {exc}", EXIT_UNAVAILABLE)
        if not statuses:
            _fail(f"no saved workflow in {storage}", EXIT_REFUSED)
        for workflow_id in workflow_ids:
            _refused(partial(_resume_one, orchestrator, workflow_id))
        open_ids = [s.workflow_id for s in statuses if not s.state.is_terminal]
        console.print(f"continuing {len(open_ids)} unfinished workflow(s) from {storage}")
        finals = []
        for workflow_id in open_ids:
            run = orchestrator.attach(workflow_id)
            if run.status().state is WorkflowState.PAUSED:
                console.print(f"{workflow_id} is paused: resume it by name to continue it")
                finals.append(run.status())
                continue
            finals.append(run.wait(progress=False))
        console.print(_status_table(orchestrator.workflows()))
    ok = all(s.state in (WorkflowState.SUCCEEDED, WorkflowState.PAUSED) for s in finals)
    sys.exit(0 if ok else EXIT_FAILED)


@click.command()
@click.argument("workflow_id")
@click.option("--reason", default="cancelled from the command line", show_default=True)
@_address
def cancel(workflow_id: str, reason: str, address: str) -> None:
    """Cancel every unfinished task of WORKFLOW_ID."""
    with _joined(address) as orchestrator:
        run = _refused(lambda: orchestrator.attach(workflow_id))
        _refused(lambda: run.cancel(reason))
    click.echo(f"cancelled {workflow_id}")


@click.command()
@_address
def schedules(address: str) -> None:
    """List the recurring and event-triggered workflows: next firing, runs, last run."""
    with _joined(address) as orchestrator:
        infos = orchestrator.schedules()
    table = Table("name", "when", "next", "runs", "last run", "skipped", title="schedules")
    for info in infos:
        when = info.cron or (f"every {info.every_s:g}s" if info.every_s else f"on {info.topic}")
        upcoming = "-" if info.next_s is None else _instant(info.next_s)
        table.add_row(
            info.name,
            when,
            upcoming,
            str(info.runs),
            info.last_run_id or "-",
            str(info.skipped_overlaps),
        )
    Console().print(table)


@click.command()
@click.argument("topic")
@click.option("--payload", default="null", show_default=True, help="The message, as JSON.")
@_address
def publish(topic: str, payload: str, address: str) -> None:
    """Publish a message on TOPIC: each workflow triggered by it starts a run."""
    try:
        value = json.loads(payload)
    except ValueError as exc:
        _fail(f"--payload is not JSON: {exc}", EXIT_REFUSED)
    with _joined(address) as orchestrator:
        run_ids = orchestrator.publish(topic, value)
    click.echo(f"started {len(run_ids)} run(s): {', '.join(run_ids) or 'none'}")


def _instant(time_s: float) -> str:
    return datetime.fromtimestamp(time_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


COMMANDS = (pause, resume, cancel, schedules, publish)
