"""``orchestrator dlq``: the dead-letter queue of a running orchestrator, from the shell.

Every command joins the supervisor already running on the cluster (``--address``,
``auto`` by default) and never starts one, nor stops it when done.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import click
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from orchestrator.api import Orchestrator

#: Exit codes besides success: a request refused (names no dead letter), no orchestrator.
EXIT_REFUSED, EXIT_UNAVAILABLE = 2, 3

_address = click.option(
    "--address",
    default="auto",
    show_default=True,
    help="The Ray cluster whose orchestrator to reach ('auto': the one this machine is in).",
)


@contextmanager
def _joined(address: str) -> Iterator[Orchestrator]:
    from orchestrator.api import Orchestrator, SupervisorUnavailableError

    orchestrator = Orchestrator(address, join_only=True)
    try:
        orchestrator.start()
    except SupervisorUnavailableError as exc:
        _fail(str(exc), EXIT_UNAVAILABLE)
    try:
        yield orchestrator
    except PermissionError as exc:  # the principal lacks the permission: audited, refused
        _fail(str(exc), EXIT_REFUSED)
    finally:
        orchestrator.shutdown()  # leaves the supervisor running: it was only joined


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _refused(action: Callable[[], None]) -> None:
    try:
        action()
    except KeyError as exc:
        _fail(str(exc.args[0]) if exc.args else str(exc), EXIT_REFUSED)


@click.group()
def dlq() -> None:
    """List, inspect, re-queue and purge tasks that failed for good."""


@dlq.command("list")
@click.option("--workflow", "workflow_id", help="Only this workflow's dead letters.")
@_address
def list_letters(workflow_id: str | None, address: str) -> None:
    """List dead letters, oldest first."""
    with _joined(address) as orchestrator:
        letters = orchestrator.dead_letters(workflow_id)
    table = Table("workflow", "task", "attempts", "error", title=f"{len(letters)} dead letter(s)")
    for letter in letters:
        error = f"{letter.error_type}: {letter.error_message}" if letter.error_type else ""
        table.add_row(letter.workflow_id, letter.task_id, str(letter.attempts), error[:100])
    Console().print(table)


@dlq.command()
@click.argument("workflow_id")
@click.argument("task_id")
@_address
def show(workflow_id: str, task_id: str, address: str) -> None:
    """Show one dead letter: its handler, arguments, last error and traceback."""
    with _joined(address) as orchestrator:
        letters = orchestrator.dead_letters(workflow_id)
    letter = next((item for item in letters if item.task_id == task_id), None)
    if letter is None:
        _fail(f"task {task_id!r} of workflow {workflow_id!r} is not a dead letter", EXIT_REFUSED)
    console = Console()
    console.print(f"[bold]{letter.workflow_id} / {letter.task_id}[/bold]")
    console.print(f"handler:  {letter.handler}")
    console.print(f"args:     {letter.args!r}")
    console.print(f"kwargs:   {letter.kwargs!r}")
    console.print(f"attempts: {letter.attempts}")
    console.print(f"error:    {letter.error_type}: {letter.error_message}")
    if letter.traceback:
        console.print(letter.traceback, markup=False, highlight=False)


@dlq.command()
@click.argument("workflow_id")
@click.argument("task_ids", nargs=-1)
@_address
def requeue(workflow_id: str, task_ids: tuple[str, ...], address: str) -> None:
    """Run a workflow's dead letters again (all of them when no TASK_IDS are given)."""
    with _joined(address) as orchestrator:
        _refused(lambda: orchestrator.requeue_dead_letters(workflow_id, task_ids or None))
    what = ", ".join(task_ids) if task_ids else "every dead letter"
    click.echo(f"re-queued {what} of workflow {workflow_id}")


@dlq.command()
@click.argument("workflow_id", required=False)
@click.argument("task_ids", nargs=-1)
@click.option("--all", "purge_all", is_flag=True, help="Purge every dead letter of every workflow.")
@_address
def purge(
    workflow_id: str | None, task_ids: tuple[str, ...], purge_all: bool, address: str
) -> None:
    """Drop dead letters: the named ones, all of WORKFLOW_ID's, or (--all) every one."""
    if workflow_id is None and not purge_all:
        _fail("name a WORKFLOW_ID, or give --all to purge every dead letter", EXIT_REFUSED)
    with _joined(address) as orchestrator:
        _refused(lambda: orchestrator.purge_dead_letters(workflow_id, task_ids or None))
    click.echo("purged")
