"""`RunEditing`: new dependencies for the tasks of a running workflow (a `WorkflowRun` mixin).

``add_dependencies({"report": ["check"]})`` makes ``report`` wait for ``check`` too; with
``tasks=``, the tasks of a fragment are added in the same edit, so that an existing task
may wait for a new one. See `orchestrator.core.dependency_edits` for the rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from orchestrator.core.errors import Problem, WorkflowRejectedError
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.specs import WorkflowSpec
from orchestrator.runtime.client import SupervisorClient
from orchestrator.workflow import Workflow


class RunEditing:
    """Dependency edits over the run's `SupervisorClient` (``_client``) and ``id``."""

    _client: SupervisorClient
    id: str

    def add_dependencies(
        self,
        dependencies: Mapping[str, Iterable[str]],
        *,
        tasks: Workflow | WorkflowSpec | None = None,
    ) -> list[str]:
        """Make tasks that have not started wait for more upstream tasks.

        Args:
            dependencies: For each existing task, the tasks it must wait for too (by
                id; existing ones, or tasks of ``tasks``). The task receives their
                results among its inputs, and its trigger rule counts them.
            tasks: A fragment of tasks to add in the same edit (as `add_tasks`).

        Returns:
            The ids of the tasks added (empty without ``tasks``).

        Raises:
            WorkflowRejectedError: every problem of the edit (an unknown task, a task
                already running or done, a cycle, and those of ``tasks``); nothing
                changed.
        """
        edges = tuple(
            (task_id, upstream)
            for task_id, upstreams in dependencies.items()
            for upstream in ([upstreams] if isinstance(upstreams, str) else upstreams)
        )
        if not edges:
            raise WorkflowRejectedError(self.id, [Problem("dependencies", "no dependency given")])
        if tasks is None:
            packed = PackedWorkflow(name="edit", id=None, metadata={}, agents=(), rows=())
        else:
            spec = tasks.to_spec(whole=False) if isinstance(tasks, Workflow) else tasks
            packed = PackedWorkflow.pack(spec.model_copy(update={"id": None}))
        problems = self._client.edit(self.id, packed, edges)
        if problems:
            raise WorkflowRejectedError(self.id, problems)
        return [row.id for row in packed.rows]
