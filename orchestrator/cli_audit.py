"""``orchestrator audit verify|list``: read the audit trail, from the shell.

The trail is read where the supervisor writes it: beside the checkpoints when
``--storage`` (or ``checkpoint.storage``) is set, else the local file
``security.audit_path`` (or ``--file``). Neither command needs a running orchestrator.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from rich.console import Console
from rich.table import Table

from orchestrator.audit import AUDIT_FOLDER, AuditTrail

#: Exit codes: the trail is intact, a link is broken, the trail cannot be read.
EXIT_INTACT, EXIT_BROKEN, EXIT_UNREADABLE = 0, 1, 2

_storage = click.option(
    "--storage",
    help="Checkpoint storage URI whose trail to read (default: checkpoint.storage).",
)
_file = click.option("--file", "file", help="Audit file (default: security.audit_path).")


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_UNREADABLE)


def open_trail(storage: str | None, file: str | None) -> AuditTrail:
    """Return the trail the options (or the settings) name."""
    from orchestrator.runtime.durability import scope_prefix
    from orchestrator.settings import Settings
    from orchestrator.storage import open_store

    settings = Settings()
    if file:
        return AuditTrail(path=file)
    uri = storage if storage is not None else settings.checkpoint.storage
    if uri:
        try:
            store = open_store(uri)
        except (ValueError, OSError) as exc:
            _fail(f"--storage {uri!r}: {exc}")
        scope = scope_prefix(settings.ray.namespace, settings.ray.supervisor_name)
        return AuditTrail(store=store, prefix=scope + AUDIT_FOLDER)
    return AuditTrail(path=settings.security.audit_path)


@click.group()
def audit() -> None:
    """Check and read the audit trail (who did what, and what was denied)."""


@audit.command()
@_storage
@_file
def verify(storage: str | None, file: str | None) -> None:
    """Check every link of the trail; report the first broken one (exit 1)."""
    trail = open_trail(storage, file)
    try:
        broken = trail.verify()
    except OSError as exc:
        _fail(str(exc))
    count = len(trail.records())
    if broken is not None:
        click.echo(f"broken: {broken}")
        sys.exit(EXIT_BROKEN)
    click.echo(f"ok: {count} records, every link intact ({trail.where})")


@audit.command(name="list")
@_storage
@_file
@click.option("--principal", help="Only this principal's records.")
@click.option("--workflow", "workflow_id", help="Only records about this workflow.")
@click.option("--action", help="Only this action (submit, cancel, pause, purge...).")
@click.option("--outcome", help="Only this outcome (allowed, denied, rejected, failed).")
def list_records(
    storage: str | None,
    file: str | None,
    principal: str | None,
    workflow_id: str | None,
    action: str | None,
    outcome: str | None,
) -> None:
    """List the trail's records, oldest first, filtered."""
    trail = open_trail(storage, file)
    table = Table("seq", "time", "principal", "action", "outcome", "workflow", "detail")
    shown = 0
    for record in trail.records():
        if principal is not None and record.principal != principal:
            continue
        if workflow_id is not None and record.workflow_id != workflow_id:
            continue
        if action is not None and record.action != action:
            continue
        if outcome is not None and record.outcome != outcome:
            continue
        detail = "; ".join(f"{k}={v}" for k, v in record.detail.items())
        table.add_row(
            str(record.seq),
            record.time,
            record.principal,
            record.action,
            record.outcome,
            record.workflow_id or "",
            detail,
        )
        shown += 1
    Console(width=200).print(table)
    click.echo(f"{shown} record(s)")
