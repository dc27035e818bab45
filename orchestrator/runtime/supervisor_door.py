"""`GuardedSupervisor`: the supervisor behind its door (roles, quotas, limits, audit).

Every call that changes something arrives with a principal (the driver's, see
`orchestrator.principal`). Before anything runs, the door asks the pure policies:
`orchestrator.core.access` (is the principal allowed this operation, these pools, these
priorities, these handler modules?), `orchestrator.core.input_limits` (argument and
workflow sizes) and `orchestrator.core.quotas` (the tenant's quota). A denial raises
`AccessDeniedError` naming the permission; limits and quotas refuse the workflow whole
(its problems returned, as validation's are). Every decision, and every operation
carried out, is appended to the audit trail (`orchestrator.audit`) by a writer thread of
its own, in order, so that no fsync or storage put holds up the loop; shutting down
writes what is queued.

Read-only calls (status, tasks, results, dead letters listed) are not guarded.
"""

from __future__ import annotations

import asyncio
import pickle
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray

from orchestrator.audit import AUDIT_FOLDER, AuditTrail
from orchestrator.core.access import FUNCTION_POOL, AccessDeniedError, AccessPolicy, policy_from
from orchestrator.core.audit_chain import Outcome
from orchestrator.core.commands import ReleaseWorkflow
from orchestrator.core.errors import Problem
from orchestrator.core.input_limits import (
    argument_problems,
    payload_problem,
    workflow_size_problem,
)
from orchestrator.core.packed import PackedWorkflow, TaskRow
from orchestrator.core.quotas import quota_of, quota_problems
from orchestrator.core.schedules import ScheduleSpec
from orchestrator.core.specs import WorkflowSpec
from orchestrator.core.status import WorkflowStatus
from orchestrator.import_paths import resolved_module
from orchestrator.runtime.durability import scope_prefix
from orchestrator.runtime.submit_streams import StagedSubmissions, StoredRows
from orchestrator.runtime.supervisor import PREPARE_OFF_LOOP_TASKS, Supervisor
from orchestrator.storage import StorageError

#: The principal of calls that name none (drivers older than the door, tests on the handle).
ANONYMOUS = "anonymous"


def pickled_size(value: Any) -> int:
    """Return the pickled size of ``value`` (cloudpickle for what pickle refuses)."""
    try:
        return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # unpicklable here (a lambda...): Ray pickles it with cloudpickle
        import cloudpickle

        return len(cloudpickle.dumps(value))


class GuardedSupervisor(Supervisor):
    """The `Supervisor` whose changing calls pass the door (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._tenant_of: dict[str, str] = {}  # before the restore, which fills it
        self._staged = StagedSubmissions()
        super().__init__(*args, **kwargs)
        security = self._settings.security
        self._access: AccessPolicy = policy_from(
            security.roles, security.principals, security.default_roles
        )
        store = self._durability.store
        if store is not None:
            scope = scope_prefix(self._settings.ray.namespace, self._settings.ray.supervisor_name)
            self._audit = AuditTrail(store=store, prefix=scope + AUDIT_FOLDER)
        else:
            self._audit = AuditTrail(path=security.audit_path)
        self._audit_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit")

    def _open_restored(self, spec: PackedWorkflow) -> Any:
        """Note a restored workflow's tenant (its quotas count it), then open it."""
        self._tenant_of[spec.id or ""] = spec.tenant or "default"
        return super()._open_restored(spec)

    # -- the door ------------------------------------------------------------------------

    def _record(
        self,
        principal: str,
        action: str,
        outcome: Outcome,
        workflow_id: str | None = None,
        **detail: str,
    ) -> None:
        record = (principal, action, outcome, workflow_id, detail)
        try:  # off the loop (an fsync or a storage put each); FIFO keeps the order
            self._audit_writer.submit(self._append, *record)
        except RuntimeError:  # shutting down: write it here
            self._append(*record)

    def _append(
        self,
        principal: str,
        action: str,
        outcome: Outcome,
        workflow_id: str | None,
        detail: dict[str, str],
    ) -> None:
        try:
            self._audit.append(principal, action, outcome, workflow_id, detail)
        except (OSError, StorageError, ValueError) as exc:
            self._log.error("audit.write_failed", action=action, reason=str(exc))

    async def shutdown(self) -> None:
        """Write the audit records still queued, then shut the supervisor down."""
        await asyncio.to_thread(self._audit_writer.shutdown, True)
        await super().shutdown()

    def _admit(self, principal: str, permission: str, target: str | None = None) -> None:
        """Raise `AccessDeniedError` (audited) unless ``principal`` has ``permission``."""
        denial = self._access.check(principal, permission, target or "")
        if denial is not None:
            self._record(principal, permission, "denied", target, reason=denial.message)
            self._log.warning("access.denied", principal=principal, permission=permission)
            raise AccessDeniedError(principal, permission, denial.message)

    async def _admit_tasks(
        self, principal: str, action: str, workflow: PackedWorkflow, workflow_id: str | None
    ) -> None:
        """Check pools, priorities and handler modules of ``workflow``'s tasks."""
        paths = await _off_loop_if_large(workflow, _references, workflow)
        # Only a reference whose module is allowed is imported (importing runs its code).
        handlers = self._access.handler_policy(principal)
        references = [
            (path, resolved_module(path) if handlers.reference_problem(path) is None else None)
            for path in paths
        ]
        tasks = ((row.id, row.agent or FUNCTION_POOL, row.priority) for row in workflow.rows)
        denials = self._access.check_tasks(principal, tasks, references)
        if denials:
            messages = "; ".join(d.message for d in denials[:5])
            more = f" (and {len(denials) - 5} more)" if len(denials) > 5 else ""
            self._record(principal, action, "denied", workflow_id, reason=messages + more)
            raise AccessDeniedError(principal, denials[0].permission, messages + more)

    async def _limits(
        self, workflow: PackedWorkflow, tenant_name: str | None, existing_tasks: int = 0
    ) -> list[Problem]:
        """Return the input-limit and quota problems of a submission (or an edit)."""
        security = self._settings.security
        problems: list[Problem] = []
        too_big = workflow_size_problem(len(workflow.rows), security.max_workflow_tasks)
        if too_big is not None:
            return [too_big]
        problems += await _off_loop_if_large(
            workflow, _argument_problems, workflow, security.max_argument_bytes
        )
        tenant, quota = quota_of(tenant_name, security.quotas, security.default_quota)
        # Counted only when the quota limits them: counting walks every workflow of the
        # tenant, which would make each of many small submissions cost O(workflows).
        limits_queued = quota.max_queued_tasks is not None
        limits_bytes = quota.max_result_bytes is not None
        problems += quota_problems(
            tenant,
            quota,
            new_tasks=len(workflow.rows),
            workflow_tasks=existing_tasks + len(workflow.rows),
            queued_now=self._unfinished(tenant) if limits_queued else 0,
            retries=((row.id, row.retry.max_attempts - 1) for row in workflow.rows),
            stored_bytes=self._stored_bytes(tenant) if limits_bytes else 0,
        )
        return problems

    def _release_workflow(self, command: ReleaseWorkflow) -> None:
        """Forget a released workflow's tenant too (quotas no longer count it)."""
        self._tenant_of.pop(command.workflow_id, None)
        super()._release_workflow(command)

    async def process_stats(self) -> dict[str, int]:
        """The supervisor's figures, with the door's: tenants known, submissions staged."""
        stats = await super().process_stats()
        stats["tenants_tracked"] = len(self._tenant_of)
        stats["staged_submissions"] = len(self._staged)
        return stats

    def _unfinished(self, tenant: str) -> int:
        count = 0
        for workflow_id, owner in list(self._tenant_of.items()):
            if owner != tenant:
                continue
            try:
                status = self._scheduler.workflow_status(workflow_id)
            except KeyError:  # released
                del self._tenant_of[workflow_id]
                continue
            count += status.total - status.done
        return count

    def _stored_bytes(self, tenant: str) -> int:
        stored = self._durability.result_bytes
        return sum(stored.get(w, 0) for w, owner in self._tenant_of.items() if owner == tenant)

    # -- guarded calls -------------------------------------------------------------------

    async def submit(
        self, spec: PackedWorkflow | WorkflowSpec, principal: str = ANONYMOUS
    ) -> tuple[Problem, ...]:
        """Admit ``principal``'s workflow (see the module docstring), then start it."""
        packed = PackedWorkflow.pack(spec) if isinstance(spec, WorkflowSpec) else spec
        workflow_id = packed.id or packed.name
        self._admit(principal, "submit", workflow_id)
        await self._admit_tasks(principal, "submit", packed, workflow_id)
        problems = tuple(await self._limits(packed, packed.tenant))
        if not problems:
            problems = await super().submit(packed)
        if problems:
            first = "; ".join(str(p) for p in problems[:3])
            self._record(principal, "submit", "rejected", workflow_id, problems=first)
            return problems
        self._tenant_of[workflow_id] = packed.tenant or "default"
        self._record(principal, "submit", "allowed", workflow_id, tasks=str(len(packed.rows)))
        return ()

    async def submit_begin(self, header: PackedWorkflow, principal: str = ANONYMOUS) -> str:
        """Begin a chunked submission of ``header``'s workflow; return its token.

        The principal is admitted now (before any row is sent) and again, with the whole
        workflow, by `submit_end`. See `orchestrator.runtime.submit_streams`.
        """
        self._admit(principal, "submit", header.id or header.name)
        return self._staged.begin(header, principal, time.monotonic())

    async def submit_rows(
        self,
        token: str,
        index: int,
        rows: tuple[TaskRow, ...] | StoredRows,
        principal: str = ANONYMOUS,
    ) -> int:
        """Stage chunk ``index`` of a chunked submission; return the rows staged so far.

        Rows sent as `StoredRows` are fetched in a worker thread (the loop goes on).

        Raises:
            KeyError: no such submission under way.
            ValueError: a bad chunk (out of order, not rows, rows that cannot be fetched);
                the submission is dropped.
            AccessDeniedError: ``principal`` did not begin this submission.
        """
        self._own_staged(token, principal)
        if isinstance(rows, StoredRows):
            try:
                rows = await asyncio.to_thread(ray.get, rows.ref)
            except Exception as exc:
                self._staged.drop(token)
                raise ValueError(
                    f"chunk {index} of a chunked submission could not be fetched "
                    f"({type(exc).__name__}: {exc}); the submission was dropped"
                ) from None
        return self._staged.add(token, index, rows, time.monotonic())

    async def submit_end(self, token: str, principal: str = ANONYMOUS) -> tuple[Problem, ...]:
        """Submit the assembled workflow of a chunked submission, as `submit` does.

        Raises:
            KeyError: no such submission under way.
        """
        self._own_staged(token, principal)
        workflow, began_by = self._staged.take(token)
        return await self.submit(workflow, began_by)

    async def submit_abort(self, token: str, principal: str = ANONYMOUS) -> bool:
        """Drop a chunked submission; return whether one was under way."""
        try:
            self._own_staged(token, principal)
        except KeyError:
            return False
        return self._staged.drop(token)

    def _own_staged(self, token: str, principal: str) -> None:
        if self._staged.principal_of(token) != principal:
            raise AccessDeniedError(principal, "submit", "another principal began this submission")

    async def edit(
        self,
        workflow_id: str,
        additions: PackedWorkflow,
        edges: tuple[tuple[str, str], ...] = (),
        principal: str = ANONYMOUS,
    ) -> tuple[Problem, ...]:
        """Admit ``principal``'s edit (permission ``edit``, grants, quotas), then make it."""
        self._admit(principal, "edit", workflow_id)
        await self._admit_tasks(principal, "edit", additions, workflow_id)
        existing = self._scheduler.workflow_status(workflow_id).total
        tenant = self._tenant_of.get(workflow_id)
        problems = tuple(await self._limits(additions, tenant, existing))
        if not problems:
            problems = await super().edit(workflow_id, additions, edges)
        outcome: Outcome = "rejected" if problems else "allowed"
        self._record(
            principal,
            "edit",
            outcome,
            workflow_id,
            tasks=str(len(additions.rows)),
            dependencies=str(len(edges)),
        )
        return problems

    async def add_schedule(
        self, schedule: ScheduleSpec, workflow: PackedWorkflow, principal: str = ANONYMOUS
    ) -> None:
        """Admit a schedule (permission ``schedule``, its tasks' grants), then add it."""
        self._admit(principal, "schedule", schedule.name)
        await self._admit_tasks(principal, "schedule", workflow, None)
        problems = await self._limits(workflow, workflow.tenant)
        if problems:
            from orchestrator.core.errors import WorkflowRejectedError

            self._record(principal, "schedule", "rejected", None, schedule=schedule.name)
            raise WorkflowRejectedError(schedule.name, problems)
        await self._audited(principal, "schedule", None, super().add_schedule(schedule, workflow))

    async def remove_schedule(self, name: str, principal: str = ANONYMOUS) -> None:
        """Stop a schedule (permission ``schedule``)."""
        self._admit(principal, "schedule", name)
        await self._audited(principal, "unschedule", None, super().remove_schedule(name))

    def _trigger_denied(self, principal: str, topic: str, payload: Any) -> str | None:
        """Check a trigger message from the bus (permission ``publish``, payload size)."""
        try:
            self._admit(principal, "publish", topic)
        except AccessDeniedError as exc:
            return str(exc).removeprefix("permission denied: ")
        too_big = payload_problem(payload, self._settings.security.max_argument_bytes, pickled_size)
        if too_big is not None:
            self._record(principal, "publish", "rejected", None, topic=topic, reason=too_big)
            return too_big
        self._record(principal, "publish", "allowed", None, topic=topic)
        return None

    async def cancel(
        self, workflow_id: str, reason: str = "cancelled by user", principal: str = ANONYMOUS
    ) -> None:
        """Cancel a workflow (permission ``cancel``)."""
        self._admit(principal, "cancel", workflow_id)
        await self._audited(principal, "cancel", workflow_id, super().cancel(workflow_id, reason))

    async def pause(
        self,
        workflow_id: str,
        stop_running: bool = False,
        timeout_s: float | None = None,
        principal: str = ANONYMOUS,
    ) -> tuple[WorkflowStatus, str | None]:
        """Pause a workflow (permission ``pause``); ``stop_running`` is audited as a kill."""
        self._admit(principal, "pause", workflow_id)
        action = "pause+kill" if stop_running else "pause"
        paused: tuple[WorkflowStatus, str | None] = await self._audited(
            principal, action, workflow_id, super().pause(workflow_id, stop_running, timeout_s)
        )
        return paused

    async def resume(self, workflow_id: str, principal: str = ANONYMOUS) -> WorkflowStatus:
        """Resume a paused workflow (permission ``resume``)."""
        self._admit(principal, "resume", workflow_id)
        status: WorkflowStatus = await self._audited(
            principal, "resume", workflow_id, super().resume(workflow_id)
        )
        return status

    async def release(self, workflow_id: str, principal: str = ANONYMOUS) -> None:
        """Release a finished workflow (permission ``release``)."""
        self._admit(principal, "release", workflow_id)
        await self._audited(principal, "release", workflow_id, super().release(workflow_id))

    async def requeue_dead_letters(
        self,
        workflow_id: str,
        task_ids: tuple[str, ...] | None = None,
        principal: str = ANONYMOUS,
    ) -> None:
        """Re-queue dead letters (permission ``requeue``)."""
        self._admit(principal, "requeue", workflow_id)
        await self._audited(
            principal,
            "requeue",
            workflow_id,
            super().requeue_dead_letters(workflow_id, task_ids),
            tasks=",".join(task_ids) if task_ids is not None else "*",
        )

    async def purge_dead_letters(
        self,
        workflow_id: str | None = None,
        task_ids: tuple[str, ...] | None = None,
        principal: str = ANONYMOUS,
    ) -> None:
        """Purge dead letters (permission ``purge``)."""
        self._admit(principal, "purge", workflow_id)
        await self._audited(
            principal,
            "purge",
            workflow_id,
            super().purge_dead_letters(workflow_id, task_ids),
            tasks=",".join(task_ids) if task_ids is not None else "*",
        )

    async def _audited(
        self, principal: str, action: str, workflow_id: str | None, call: Any, **detail: str
    ) -> Any:
        """Await ``call``; audit it as allowed, or as failed (and raise) when it raises."""
        try:
            result = await call
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:500]
            self._record(principal, action, "failed", workflow_id, reason=reason, **detail)
            raise
        self._record(principal, action, "allowed", workflow_id, **detail)
        return result


async def _off_loop_if_large(workflow: PackedWorkflow, work: Any, *args: Any) -> Any:
    """Run ``work(*args)`` in a thread for a large workflow (the loop dispatches meanwhile).

    Only reads of the (immutable) packed workflow run there; the scheduler's state is
    read on the loop.
    """
    if len(workflow.rows) >= PREPARE_OFF_LOOP_TASKS:
        return await asyncio.to_thread(work, *args)
    return work(*args)


def _argument_problems(workflow: PackedWorkflow, max_bytes: int) -> list[Problem]:
    rows = ((row.id, row.args, row.kwargs) for row in workflow.rows)
    return argument_problems(rows, max_bytes, pickled_size)


def _references(workflow: PackedWorkflow) -> list[str]:
    """Return every handler a workflow names by import path (functions, agents, undo)."""
    found = [a.agent_class for a in workflow.agents if isinstance(a.agent_class, str)]
    for row in workflow.rows:
        if isinstance(row.function, str):
            found.append(row.function)
        if row.extras is not None and isinstance(row.extras.compensate, str):
            found.append(row.extras.compensate)
    return list(dict.fromkeys(found))
