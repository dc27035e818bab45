"""``orchestrator status [--follow]|tasks|why|agents``: look at a running orchestrator.

Each joins the supervisor already running on the cluster (``--address``, ``auto`` by
default), never starts one and never stops it.

``status --follow`` prints a line each time a workflow's counts change, until the
workflows it follows have ended. Its updates come from one function, `status_updates`,
driven by the orchestrator's lifecycle events on the message bus: the supervisor is
asked for counts when task or workflow events arrive (a burst of them makes one read),
and at least every ``--interval`` seconds (a safety net, 5 s by default).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from orchestrator.cli_dlq import _address, _joined
from orchestrator.cli_workflows import _refused, _status_table
from orchestrator.core.states import TaskState, WorkflowState
from orchestrator.core.status import TaskInfo, WorkflowStatus
from orchestrator.progress import ChangeFeed

if TYPE_CHECKING:
    from orchestrator.api import Orchestrator

#: Exit code of ``status --follow WORKFLOW_ID`` when the workflow did not succeed.
EXIT_NOT_SUCCEEDED = 1
#: After the first event of a burst, wait this long so that one read covers the burst.
COALESCE_S = 0.1


def event_waiter(feed: ChangeFeed) -> Callable[[float], None]:
    """Return a ``sleep`` for `status_updates` that returns when events come.

    It waits for the first event (at most the interval given), then `COALESCE_S` more.
    """

    def wait(longest_s: float) -> None:
        if feed.get_batch(max_n=100_000, timeout_s=longest_s):
            time.sleep(COALESCE_S)
            feed.get_batch(max_n=100_000, timeout_s=0.0)  # drop what the read will show

    return wait


def status_updates(
    read: Callable[[], list[WorkflowStatus]],
    *,
    interval_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[list[WorkflowStatus]]:
    """Yield the statuses ``read`` returns each time one changed, until all have ended.

    The first snapshot is always yielded. ``read`` is polled every ``interval_s``; the
    message bus will turn this into a subscription without changing its callers.
    """
    last: dict[str, tuple[WorkflowState, tuple[tuple[TaskState, int], ...]]] = {}
    first = True
    while True:
        statuses = read()
        changed = [s for s in statuses if last.get(s.workflow_id) != _fingerprint(s)]
        if changed or first:
            yield changed if not first else statuses
            first = False
        last = {s.workflow_id: _fingerprint(s) for s in statuses}
        if statuses and all(s.state.is_terminal for s in statuses):
            return
        sleep(interval_s)


def _fingerprint(
    status: WorkflowStatus,
) -> tuple[WorkflowState, tuple[tuple[TaskState, int], ...]]:
    return status.state, tuple(sorted(status.counts.items()))


def _line(status: WorkflowStatus) -> str:
    counts = ", ".join(f"{state.value}={n}" for state, n in sorted(status.counts.items()))
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    return (
        f"{stamp} {status.workflow_id}: {status.state.value}"
        f" {status.done}/{status.total} ({counts})"
    )


def _reader(orchestrator: Orchestrator, workflow_id: str | None) -> Callable[[], Any]:
    if workflow_id is None:
        return orchestrator.workflows
    run = _refused(lambda: orchestrator.attach(workflow_id))
    return lambda: [run.status()]


@click.command()
@click.argument("workflow_id", required=False)
@click.option("--follow", is_flag=True, help="Print each change until the workflow(s) end.")
@click.option(
    "--interval",
    "interval_s",
    type=click.FloatRange(min=0.05),
    default=5.0,
    show_default=True,
    help="With --follow: longest wait between reads when no event comes.",
)
@_address
def status(workflow_id: str | None, follow: bool, interval_s: float, address: str) -> None:
    """Show WORKFLOW_ID's tasks by state, or every workflow when none is named.

    With --follow, exit status 0 when the followed workflow(s) succeeded, 1 otherwise.
    """
    console = Console()
    with _joined(address) as orchestrator:
        read = _reader(orchestrator, workflow_id)
        if not follow:
            statuses: list[WorkflowStatus] = read()
            console.print(_status_table(statuses))
            for one in statuses if workflow_id is not None else []:
                click.echo(_line(one))
            return
        final: dict[str, WorkflowStatus] = {}
        # Subscribed before the first read: no change falls between the two.
        feed = orchestrator.events(workflow_id, ("task", "workflow"), until_finished=False)
        try:
            wait = event_waiter(feed)
            for changed in status_updates(read, interval_s=interval_s, sleep=wait):
                for one in changed:
                    click.echo(_line(one))
                    final[one.workflow_id] = one
        finally:
            feed.close()
    console.print(_status_table(list(final.values())))
    ok = all(s.state is WorkflowState.SUCCEEDED for s in final.values())
    sys.exit(0 if ok else EXIT_NOT_SUCCEEDED)


@click.command()
@click.argument("workflow_id")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([s.value for s in TaskState]),
    help="Only tasks in this state (repeatable).",
)
@_address
def tasks(workflow_id: str, states: tuple[str, ...], address: str) -> None:
    """List WORKFLOW_ID's tasks: state, priority, attempts, agent, time and error."""
    with _joined(address) as orchestrator:
        run = _refused(lambda: orchestrator.attach(workflow_id))
        infos: list[TaskInfo] = _refused(run.tasks)
    wanted = {TaskState(s) for s in states}
    shown = [i for i in infos if not wanted or i.state in wanted]
    table = Table("task", "state", "priority", "attempts", "agent", "time", "error", title=None)
    for info in shown:
        table.add_row(
            info.task_id,
            info.state.value,
            info.priority.name.lower(),
            str(info.attempts),
            info.agent_id or "-",
            _duration(info),
            _error(info),
        )
    Console().print(table)
    click.echo(f"{len(shown)} of {len(infos)} task(s)")


@click.command()
@click.argument("workflow_id")
@click.argument("task_id")
@_address
def why(workflow_id: str, task_id: str, address: str) -> None:
    """Say why TASK_ID of WORKFLOW_ID is where it is: state, attempts, error, traceback."""
    with _joined(address) as orchestrator:
        run = _refused(lambda: orchestrator.attach(workflow_id))
        info: TaskInfo = _refused(lambda: run.task(task_id))
    click.echo(f"{workflow_id}/{info.task_id}: {info.state.value}")
    click.echo(f"  priority {info.priority.name.lower()}, attempts {info.attempts}")
    click.echo(f"  agent {info.agent_id or '-'}, time {_duration(info)}")
    if info.deadline_missed:
        click.echo("  its deadline passed before it ended")
    if info.error_type or info.error_message:
        click.echo(f"  error: {_error(info)}")
    if info.traceback:
        click.echo("  traceback (last attempt):")
        for line in info.traceback.rstrip().splitlines():
            click.echo(f"    {line}")


@click.command()
@_address
def agents(address: str) -> None:
    """List agent pools (queued, running, replicas, breaker) and each agent's health."""
    with _joined(address) as orchestrator:
        statistics = orchestrator.statistics()
        pools_of = orchestrator.client.agents()
        health = orchestrator.client.agent_health()
    console = Console()
    table = Table("pool", "queued", "running", "replicas", "busy", "mean task", "breaker")
    for key, pool in sorted(statistics.pools.items()):
        mean = "-" if pool.mean_task_s is None else f"{pool.mean_task_s:.3f}s"
        table.add_row(
            key,
            str(pool.ready),
            str(pool.attempts_running),
            str(pool.agents),
            str(pool.busy_agents),
            mean,
            pool.breaker or "-",
        )
    console.print(table)
    replicas = Table("agent", "pool", "health")
    for agent_id, pool_key in sorted(pools_of.items()):
        replicas.add_row(agent_id, pool_key, health.get(agent_id, "unknown"))
    console.print(replicas)


def _duration(info: TaskInfo) -> str:
    if info.started_s is None:
        return "-"
    end_s = info.finished_s if info.finished_s is not None else time.time()
    return f"{max(end_s - info.started_s, 0.0):.3f}s"


def _error(info: TaskInfo) -> str:
    if info.error_type:
        return f"{info.error_type}: {info.error_message or ''}"
    return info.error_message or ""


COMMANDS = (status, tasks, why, agents)
