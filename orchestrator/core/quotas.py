"""Quotas per tenant: how much one tenant may ask of the orchestrator at once.

A submission (or an edit) over a quota is refused whole, before anything of it is kept,
with a problem naming the quota, the tenant and the numbers. Workflows name their tenant
in ``tenant``; those without one count as tenant ``default``.

Running attempts are not refused but held back: ``scheduler.tenant_max_running`` bounds
a tenant's attempts running at once and queues the rest in priority order
(`orchestrator.core.limits`).

Pure: the caller counts what the tenant has queued now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.errors import Problem

#: The tenant of workflows that name none.
DEFAULT_TENANT = "default"


class TenantQuota(BaseModel):
    """Limits of one tenant (None: no limit).

    Attributes:
        max_queued_tasks: Unfinished tasks over all its workflows, the new ones included.
        max_tasks_per_workflow: Tasks in one workflow (an edit counts the workflow's
            tasks after it).
        max_retries_per_task: Retries one task may ask for (``retry.max_attempts - 1``).
        max_workflow_retries: Retries all the tasks of one workflow may ask for together.
        max_result_bytes: Bytes of results its workflows keep stored beside the
            checkpoints (with ``checkpoint.storage`` and ``save_results``); a tenant at or
            over it submits nothing until workflows are released.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_queued_tasks: int | None = Field(default=None, ge=0)
    max_tasks_per_workflow: int | None = Field(default=None, ge=1)
    max_retries_per_task: int | None = Field(default=None, ge=0)
    max_workflow_retries: int | None = Field(default=None, ge=0)
    max_result_bytes: int | None = Field(default=None, ge=0)


def quota_of(
    tenant: str | None, quotas: Mapping[str, TenantQuota], default: TenantQuota
) -> tuple[str, TenantQuota]:
    """Return the tenant's name (``default`` when None) and its quota."""
    name = tenant or DEFAULT_TENANT
    return name, quotas.get(name, default)


def quota_problems(
    tenant: str,
    quota: TenantQuota,
    *,
    new_tasks: int,
    workflow_tasks: int,
    queued_now: int,
    retries: Iterable[tuple[str, int]],
    stored_bytes: int = 0,
) -> list[Problem]:
    """Return every quota a submission exceeds (empty: within quota).

    Args:
        tenant: The tenant's name.
        quota: Its quota.
        new_tasks: Tasks the submission adds.
        workflow_tasks: Tasks of the workflow once the submission is in.
        queued_now: Unfinished tasks the tenant has now, before the submission.
        retries: ``(task id, retries asked)`` of each new task.
        stored_bytes: Bytes of results the tenant's workflows keep stored now.
    """
    problems: list[Problem] = []
    if quota.max_tasks_per_workflow is not None and workflow_tasks > quota.max_tasks_per_workflow:
        problems.append(
            Problem(
                "quota.max_tasks_per_workflow",
                f"tenant {tenant!r}: {workflow_tasks} tasks in one workflow exceed the quota"
                f" of {quota.max_tasks_per_workflow}",
            )
        )
    if quota.max_queued_tasks is not None and queued_now + new_tasks > quota.max_queued_tasks:
        problems.append(
            Problem(
                "quota.max_queued_tasks",
                f"tenant {tenant!r}: {queued_now} unfinished + {new_tasks} submitted ="
                f" {queued_now + new_tasks} tasks exceed the quota of {quota.max_queued_tasks}",
            )
        )
    if quota.max_result_bytes is not None and stored_bytes >= quota.max_result_bytes:
        problems.append(
            Problem(
                "quota.max_result_bytes",
                f"tenant {tenant!r}: {stored_bytes} bytes of stored results reach the quota of"
                f" {quota.max_result_bytes}; release finished workflows first",
            )
        )
    asks_retries = quota.max_retries_per_task is not None or quota.max_workflow_retries is not None
    retry_list = list(retries) if asks_retries else []  # not walked when nothing limits it
    if quota.max_retries_per_task is not None:
        over = [(task, n) for task, n in retry_list if n > quota.max_retries_per_task]
        for task, asked in over[:10]:
            problems.append(
                Problem(
                    f"tasks[{task!r}].retry.max_attempts",
                    f"tenant {tenant!r}: {asked} retries exceed the quota.max_retries_per_task"
                    f" of {quota.max_retries_per_task}",
                )
            )
        if len(over) > 10:
            problems.append(
                Problem("quota.max_retries_per_task", f"and {len(over) - 10} more tasks over it")
            )
    total = sum(n for _, n in retry_list)
    if quota.max_workflow_retries is not None and total > quota.max_workflow_retries:
        problems.append(
            Problem(
                "quota.max_workflow_retries",
                f"tenant {tenant!r}: {total} retries asked by the workflow's tasks exceed the"
                f" quota of {quota.max_workflow_retries}",
            )
        )
    return problems
