"""Live editing: tasks added to a running (or paused) workflow.

An edit is a `PackedWorkflow` of the new tasks (and the agents they use that it declares).
Its tasks may depend on tasks of the workflow, old or new; nothing old may come to depend
on a new task through the tasks' own fields; an edit may also give existing tasks that
have not started new upstream tasks, old or new (``edges``, see `dependency_edits`).
Everything is checked before anything changes: ids, dependencies, cycles,
agents, resources (`edit_problems`); a refused edit leaves the workflow as it was. Once
added (`add_tasks`), a new task waits for its dependencies like any other; one whose
upstream already failed or was skipped follows its trigger rule at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from orchestrator.core import triggers
from orchestrator.core.admission import add_task_records, critical_path_ranks
from orchestrator.core.commands import Command, PublishWorkflowEvent
from orchestrator.core.config import SchedulerConfig
from orchestrator.core.dependency_edits import Edge, add_edges, edge_problems
from orchestrator.core.errors import Problem, WorkflowRejectedError
from orchestrator.core.fleet import AgentFleet
from orchestrator.core.lifecycle import TaskLifecycle
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.records import PoolRecord, WorkflowRecord
from orchestrator.core.states import TaskState
from orchestrator.core.validation import WorkflowStructure, check_structure

_ENDED_WITHOUT_SUCCESS = frozenset({TaskState.FAILED, TaskState.SKIPPED, TaskState.CANCELLED})


def structure_problems(
    workflow: WorkflowRecord, additions: PackedWorkflow
) -> tuple[WorkflowStructure, list[Problem]]:
    """Check the new tasks' ids, dependencies and agents against ``workflow``.

    Returns the structure of the additions alone (dependencies on old tasks left out, for
    the fit check) and every problem found.
    """
    if workflow.state.is_terminal:
        return check_structure(additions)[0], [
            Problem("workflow", f"workflow {workflow.workflow_id!r} has finished: no edit")
        ]
    added = {row.id: row.inputs for row in additions.rows}
    problems = [
        Problem(f"tasks[{p.node!r}]", p.message) for p in workflow.graph.extension_problems(added)
    ]
    new_ids = set(added)
    alone = replace(
        additions,
        rows=tuple(
            row._replace(inputs=tuple(dep for dep in row.inputs if dep in new_ids))
            for row in additions.rows
        ),
    )
    structure, more = check_structure(alone)
    problems.extend(p for p in more if "depends on" not in p.message)
    return structure, problems


def add_tasks(
    workflow: WorkflowRecord,
    additions: PackedWorkflow,
    structure: WorkflowStructure,
    task_pools: list[PoolRecord],
) -> list[str]:
    """Add ``additions``' tasks to ``workflow`` (checked before); return their ids.

    ``structure``: from `structure_problems`; ``task_pools``: each new task's pool.
    """
    ranks = critical_path_ranks(additions, structure.graph)
    add_task_records(workflow, additions.rows, task_pools, ranks)
    workflow.graph.extend({row.id: row.inputs for row in additions.rows})
    return [row.id for row in additions.rows]


def edit(
    workflow: WorkflowRecord,
    additions: PackedWorkflow,
    config: SchedulerConfig,
    fleet: AgentFleet,
    life: TaskLifecycle,
    out: list[Command],
    edges: Sequence[Edge] = (),
) -> list[str]:
    """Check and apply an edit of ``workflow``; return the new tasks' ids.

    ``edges``: new dependencies of existing tasks, ``(task, upstream)``, the upstream
    possibly one of the added tasks (see `orchestrator.core.dependency_edits`).

    Raises:
        WorkflowRejectedError: every problem of the edit; nothing changed.
    """
    additions = replace(additions, id=workflow.workflow_id)
    if additions.rows or not edges:
        structure, problems = structure_problems(workflow, additions)
    else:  # dependencies only
        structure, problems = check_structure(additions)[0], _finished(workflow)
    fit, fit_problems = fleet.check_fit(additions, structure, config, ())
    problems.extend(fit_problems)
    if edges and not problems:
        problems.extend(edge_problems(workflow, edges, additions))
    if problems:
        raise WorkflowRejectedError(workflow.workflow_id, problems)
    pools = {key: fleet.define(pool_spec, out) for key, pool_spec in fit.pools.items()}
    added = add_tasks(workflow, additions, structure, [pools[key] for key in fit.task_pools])
    add_edges(workflow, edges, life, out)
    workflow.independent = None  # it may depend on itself now (`records.is_independent`)
    tasks = workflow.tasks
    for task_id in added:
        task = tasks[task_id]
        failed = [dep for dep in task.inputs if tasks[dep].state in _ENDED_WITHOUT_SUCCESS]
        if failed and triggers.rule_of(task) == triggers.DEFAULT_RULE:
            life.skip(task, f"upstream task {failed[0]!r} did not succeed", out)
    life.release_ready(workflow, out)
    out.append(
        PublishWorkflowEvent(
            workflow_id=workflow.workflow_id,
            state=workflow.state,
            message=f"edited: {len(added)} task(s) added"
            + (f", {len(edges)} dependencies added" if edges else ""),
        )
    )
    return added


def _finished(workflow: WorkflowRecord) -> list[Problem]:
    if workflow.state.is_terminal:
        return [Problem("workflow", f"workflow {workflow.workflow_id!r} has finished: no edit")]
    return []
