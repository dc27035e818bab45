"""``orchestrator graph FILE``: draw a workflow file as DOT, Mermaid, SVG or HTML.

The file is read and checked as ``orchestrator validate`` does (a file refused exits with
status 2); nothing runs and Ray is not started. Drawing a running workflow by id (with
its tasks' states) is left to Python: ``run`` in a notebook, or `orchestrator.pictures`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

import click

from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.specs import WorkflowSpec
from orchestrator.loader import load_workflow_file
from orchestrator.pictures import DEFAULT_MAX_NODES, to_dot, to_html, to_mermaid, to_svg
from orchestrator.pictures.svg import Engine

#: Exit code of a workflow file refused (as ``orchestrator validate``).
EXIT_REJECTED = 2

FORMATS = ("dot", "mermaid", "svg", "html")


def render(spec: WorkflowSpec, fmt: str, engine: Engine, max_nodes: int) -> str:
    """Return the picture of ``spec`` in ``fmt`` (one of `FORMATS`).

    Raises:
        RuntimeError: Graphviz was asked for (``svg`` with engine ``graphviz``) and is
            missing or failed.
    """
    renderers: dict[str, Callable[[], str]] = {
        "dot": lambda: to_dot(spec, max_nodes=max_nodes),
        "mermaid": lambda: to_mermaid(spec, max_nodes=max_nodes),
        "svg": lambda: to_svg(spec, engine=engine, max_nodes=max_nodes),
        "html": lambda: to_html(spec, max_nodes=max_nodes),
    }
    return renderers[fmt]()


@click.command()
@click.argument("workflow_file", type=click.Path(exists=True, dir_okay=False))
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
def graph(workflow_file: str, fmt: str, output: str | None, engine: str, max_nodes: int) -> None:
    """Draw WORKFLOW_FILE (YAML, JSON or a WfFormat instance): its tasks and dependencies."""
    try:
        spec = load_workflow_file(workflow_file)
    except WorkflowRejectedError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_REJECTED)
    try:
        picture = render(spec, fmt, cast(Engine, engine), max_nodes)
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
