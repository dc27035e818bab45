"""``orchestrator graph FILE_OR_WORKFLOW_ID``: draw a workflow as DOT, Mermaid, SVG or HTML.

A file is read and checked as ``orchestrator validate`` does (a file refused exits with
status 2); nothing runs and Ray is not started. Anything else is a workflow id: the
command joins the running orchestrator (``--address``) and draws that workflow with its
tasks coloured by their state now.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import click

from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.specs import TaskSpec, WorkflowSpec
from orchestrator.core.states import TaskState
from orchestrator.loader import load_workflow_file
from orchestrator.pictures import (
    DEFAULT_MAX_NODES,
    states_of,
    to_dot,
    to_html,
    to_mermaid,
    to_svg,
)
from orchestrator.pictures.svg import Engine

#: Exit code of a workflow file refused (as ``orchestrator validate``).
EXIT_REJECTED = 2

FORMATS = ("dot", "mermaid", "svg", "html")


def render(
    spec: WorkflowSpec | Sequence[TaskSpec],
    fmt: str,
    engine: Engine,
    max_nodes: int,
    states: Mapping[str, TaskState] | None = None,
    title: str | None = None,
) -> str:
    """Return the picture of ``spec`` (or of bare tasks) in ``fmt`` (one of `FORMATS`).

    Raises:
        RuntimeError: Graphviz was asked for (``svg`` with engine ``graphviz``) and is
            missing or failed.
    """
    renderers: dict[str, Callable[[], str]] = {
        "dot": lambda: to_dot(spec, states, title=title, max_nodes=max_nodes),
        "mermaid": lambda: to_mermaid(spec, states, title=title, max_nodes=max_nodes),
        "svg": lambda: to_svg(spec, states, engine=engine, title=title, max_nodes=max_nodes),
        "html": lambda: to_html(spec, states, title=title, max_nodes=max_nodes),
    }
    return renderers[fmt]()


def _running_workflow(workflow_id: str, address: str) -> tuple[list[TaskSpec], dict[str, Any]]:
    """Return a running workflow's tasks and its picture's states and title."""
    from orchestrator.cli_dlq import _joined

    with _joined(address) as orchestrator:
        try:
            tasks = orchestrator.client.outline(workflow_id)
            infos = orchestrator.client.tasks(workflow_id)
        except KeyError as exc:
            click.echo(f"error: no workflow {workflow_id!r} (and no such file): {exc}", err=True)
            sys.exit(EXIT_REJECTED)
    return tasks, {"states": states_of(infos), "title": workflow_id}


@click.command()
@click.argument("workflow_file", metavar="FILE_OR_WORKFLOW_ID")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="dot", show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="Write the picture to this file instead of standard output.",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "graphviz", "builtin"]),
    default="auto",
    show_default=True,
    help="svg: Graphviz's dot, the built-in layout, or dot when it is installed.",
)
@click.option(
    "--max-nodes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_NODES,
    show_default=True,
    help="Most tasks drawn; the picture says how many were left out.",
)
@click.option(
    "--address",
    default="auto",
    show_default=True,
    help="With a workflow id: the Ray cluster of the running orchestrator.",
)
def graph(
    workflow_file: str, fmt: str, output: str | None, engine: str, max_nodes: int, address: str
) -> None:
    """Draw FILE_OR_WORKFLOW_ID: a workflow file, or a running workflow's states.

    A file is YAML, JSON or a WfFormat instance; a workflow id is drawn with its tasks
    coloured by their state now.
    """
    drawn: WorkflowSpec | Sequence[TaskSpec]
    shown: dict[str, Any] = {}
    if Path(workflow_file).is_file():
        try:
            drawn = load_workflow_file(workflow_file)
        except WorkflowRejectedError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_REJECTED)
    else:
        drawn, shown = _running_workflow(workflow_file, address)
    try:
        picture = render(drawn, fmt, cast(Engine, engine), max_nodes, **shown)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    if output is None:
        click.echo(picture, nl=False)
        return
    try:
        Path(output).write_text(picture, encoding="utf-8")
    except OSError as exc:
        raise click.FileError(output, hint=exc.strerror or str(exc)) from None
    click.echo(f"wrote {output}", err=True)
