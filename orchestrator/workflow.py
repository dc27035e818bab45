"""`Workflow`: build a workflow in Python, task by task.

::

    wf = Workflow("report")
    plan = wf.task("plan", plan_shards, kwargs={"shards": 4}, priority=Priority.HIGH)
    counts = [wf.task(f"count-{i}", WordCounter, args=(plan.output, i)) for i in range(4)]
    wf.task("merge", merge_counts, args=([c.output for c in counts],))

Each call validates its task at once, so a mistake is reported at the line that made it;
`to_spec` then checks the workflow as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from orchestrator.agent import agent_spec
from orchestrator.core.errors import Problem, WorkflowRejectedError
from orchestrator.core.packed import PackedWorkflow, SpecRows
from orchestrator.core.resources import ResourceSpec
from orchestrator.core.specs import (
    AgentSpec,
    OutputOf,
    Priority,
    RetryPolicy,
    TaskSpec,
    WorkflowSpec,
)
from orchestrator.core.states import TaskState
from orchestrator.core.validation import check_structure as check_core_structure
from orchestrator.validation_problems import problems_from_validation_error


@dataclass(frozen=True, slots=True)
class TaskHandle:
    """What `Workflow.task` returns: the task's id and a placeholder for its result."""

    id: str

    @property
    def output(self) -> OutputOf:
        """A placeholder that, passed in another task's arguments, becomes this task's result."""
        return OutputOf(output_of=self.id)


def _is_agent_class(handler: object) -> bool:
    return isinstance(handler, type) and callable(getattr(handler, "handle", None))


class Workflow:
    """A workflow under construction."""

    def __init__(
        self,
        name: str,
        *,
        metadata: Mapping[str, str] | None = None,
        retry_budget: int | None = None,
        tenant: str | None = None,
        weight: float = 1.0,
    ) -> None:
        """Start an empty workflow.

        Args:
            name: Human name; also the prefix of generated workflow ids.
            metadata: Free-form labels carried into logs and traces.
            retry_budget: Most retries all its tasks may make together (None: no limit
                beyond each task's retry policy).
            tenant: Who it belongs to: a tenant's workflows share its limit and its share
                of capacity (`SchedulerConfig.tenant_weights`).
            weight: Its share of capacity among its tenant's workflows (> 0).
        """
        self.name = name
        self.retry_budget = retry_budget
        self.tenant = tenant
        self.weight = weight
        self._metadata = dict(metadata or {})
        self._tasks: list[TaskSpec] = []
        self._agents: dict[str, AgentSpec] = {}

    def add_agent(self, agent_class: type[Any], **overrides: Any) -> str:
        """Declare an agent class (done implicitly by `task`); return the name tasks use.

        Args:
            agent_class: A class with a ``handle(ctx)`` method.
            **overrides: `AgentSpec` fields to use instead of the class attributes, e.g.
                ``replicas=4``.

        Raises:
            WorkflowRejectedError: a declared attribute is invalid, or another class already
                uses the same name.
        """
        try:
            spec = agent_spec(agent_class, **overrides)
        except ValidationError as exc:
            where = f"agents[{getattr(agent_class, '__name__', agent_class)!r}]"
            raise WorkflowRejectedError(
                self.name, problems_from_validation_error(exc, prefix=where)
            ) from None
        known = self._agents.get(spec.name)
        if known is not None and known != spec:
            raise WorkflowRejectedError(
                self.name,
                [Problem(f"agents[{spec.name!r}]", "another agent with this name is declared")],
            )
        self._agents[spec.name] = spec
        return spec.name

    def task(
        self,
        task_id: str,
        handler: Callable[..., Any] | type[Any] | str | None = None,
        *,
        agent: str | type[Any] | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        depends_on: Iterable[str | TaskHandle] = (),
        priority: Priority | str = Priority.MEDIUM,
        deadline: datetime | None = None,
        resources: ResourceSpec | Mapping[str, Any] | None = None,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
        estimated_duration_s: float | None = None,
        heartbeat_timeout_s: float | None = None,
        schedule_to_close_s: float | None = None,
        compensate: Callable[..., Any] | str | None = None,
        cache: bool | str = False,
        cache_ttl_s: float | None = None,
        not_before: datetime | None = None,
        delay_s: float | None = None,
        on_deadline_miss: str = "run",
        trigger_rule: str = "all_success",
        reads: Iterable[str] = (),
        writes: Iterable[str] = (),
        preemptible: bool = False,
        run_if: Callable[[Mapping[str, Any]], bool] | str | None = None,
    ) -> TaskHandle:
        """Add a task and return its handle.

        Args:
            task_id: Unique id within the workflow.
            handler: An agent class (declared on first use), a function, or a function's
                import path ``module:function``.
            agent: Instead of ``handler``: the name of a declared agent, or its class.
            args: Positional arguments; `TaskHandle.output` placeholders become results.
            kwargs: Keyword arguments, placeholders allowed.
            depends_on: Tasks (ids or handles) to wait for besides those used as inputs.
            priority: CRITICAL, HIGH, MEDIUM (default), LOW or BACKGROUND.
            deadline: Earlier deadlines run first within a priority (time-zone aware).
            resources: CPU/GPU/memory (and custom resources, node labels, placement)
                for this task; defaults to the agent's declaration.
            retry: Retry policy, or its fields as a mapping.
            timeout_s: Longest one attempt may run.
            estimated_duration_s: Hint that favours tasks on long chains.
            heartbeat_timeout_s: Longest an attempt may go without ``ctx.heartbeat()``;
                a silent one is stopped and charged as a failure.
            schedule_to_close_s: Longest from first ready to the task's end, across
                attempts; then it fails without another retry.
            compensate: Function (or import path) run with this task's result if the
                workflow fails after the task succeeded, to undo its effect.
            cache: Reuse a stored result of the same function on the same inputs
                (True), or of a key of your own (a string), instead of running.
            cache_ttl_s: Do not reuse a stored result older than this.
            not_before: Do not start before this instant (time-zone aware).
            delay_s: Do not start before this long after the workflow's submission.
            on_deadline_miss: ``run`` (default: reported only), ``skip`` or ``fail``
                when the deadline passes before the task ended.
            reads: Named resources it reads (never while another task writes them).
            writes: Named resources it writes (never while another task touches them).
            trigger_rule: When the task runs once its upstream tasks ended:
                ``all_success`` (default), ``all_done``, ``all_failed``, ``one_failed``,
                ``one_success``, ``none_failed``.
            preemptible: A CRITICAL task finding no free agent may stop this one's
                attempt (``ctx.should_stop``, then its agent after a grace period); it
                is re-queued without counting a failure.
            run_if: A predicate (or its import path) called with ``{upstream id:
                result}`` on the agent just before the task would run; False skips the
                task, and the tasks after it follow their trigger rules.

        Raises:
            WorkflowRejectedError: the task is invalid; the error names each bad field.
        """
        # Only what was given: pydantic then records fewer explicitly set fields, which
        # makes each spec smaller (it matters at 100,000 tasks).
        fields: dict[str, Any] = {"id": task_id, "priority": priority}
        collections = {
            "args": tuple(args),
            "kwargs": dict(kwargs or {}),
            "depends_on": tuple(d.id if isinstance(d, TaskHandle) else d for d in depends_on),
        }
        fields.update((name, value) for name, value in collections.items() if value)
        scalars = {
            "deadline": deadline,
            "timeout_s": timeout_s,
            "estimated_duration_s": estimated_duration_s,
            "resources": resources,
            "retry": retry,
            "heartbeat_timeout_s": heartbeat_timeout_s,
            "schedule_to_close_s": schedule_to_close_s,
            "compensate": compensate,
            "cache_ttl_s": cache_ttl_s,
            "not_before": not_before,
            "delay_s": delay_s,
            "run_if": run_if,
        }
        if on_deadline_miss != "run":
            fields["on_deadline_miss"] = on_deadline_miss
        if trigger_rule != "all_success":
            fields["trigger_rule"] = trigger_rule
        if reads:
            fields["reads"] = tuple(reads)
        if writes:
            fields["writes"] = tuple(writes)
        if preemptible:
            fields["preemptible"] = True
        if cache is not False:
            fields["cache"] = cache
        fields.update((name, value) for name, value in scalars.items() if value is not None)
        if agent is not None and handler is not None:
            raise WorkflowRejectedError(
                self.name, [Problem(f"tasks[{task_id!r}]", "give a handler or agent=, not both")]
            )
        target = agent if agent is not None else handler
        if _is_agent_class(target):
            fields["agent"] = self.add_agent(target)  # type: ignore[arg-type]
        elif agent is not None:
            fields["agent"] = agent
        else:
            fields["function"] = handler
        try:
            spec = TaskSpec(**fields)
        except ValidationError as exc:
            raise WorkflowRejectedError(
                self.name, problems_from_validation_error(exc, prefix=f"tasks[{task_id!r}]")
            ) from None
        self._tasks.append(spec)
        return TaskHandle(spec.id)

    def to_spec(self, workflow_id: str | None = None, *, whole: bool = True) -> WorkflowSpec:
        """Return the finished `WorkflowSpec`, checked as a whole (graph, agents, ids).

        ``whole=False`` skips the checks across tasks: a fragment added to a running
        workflow (`WorkflowRun.add_tasks`) names tasks it does not hold, and is checked
        there, in context.

        Raises:
            WorkflowRejectedError: listing every problem found.
        """
        try:
            spec = WorkflowSpec(
                name=self.name,
                id=workflow_id,
                tasks=tuple(self._tasks),
                agents=tuple(self._agents.values()),
                metadata=self._metadata,
                retry_budget=self.retry_budget,
                tenant=self.tenant,
                weight=self.weight,
            )
        except ValidationError as exc:
            raise WorkflowRejectedError(self.name, problems_from_validation_error(exc)) from None
        if whole:
            check_structure(spec)
        return spec

    def __len__(self) -> int:
        return len(self._tasks)

    def to_dot(self, states: Mapping[str, TaskState | str] | None = None) -> str:
        """Return the workflow as Graphviz DOT (see `orchestrator.pictures.to_dot`).

        Drawn as it stands, even unfinished: a dependency not declared yet is left out.
        """
        from orchestrator.pictures import to_dot

        return to_dot(self._tasks, states, title=self.name)

    def to_mermaid(self, states: Mapping[str, TaskState | str] | None = None) -> str:
        """Return the workflow as a Mermaid flowchart (see `orchestrator.pictures`)."""
        from orchestrator.pictures import to_mermaid

        return to_mermaid(self._tasks, states, title=self.name)

    def _repr_html_(self) -> str:
        """Show the workflow's graph in a notebook (an inline SVG of its own layout)."""
        from orchestrator.pictures import figure_html

        return figure_html(self._tasks, title=self.name)


def check_structure(spec: WorkflowSpec | PackedWorkflow) -> None:
    """Check agents and the graph without a cluster; raise `WorkflowRejectedError` if wrong."""
    problems = structure_problems(spec)
    if problems:
        raise WorkflowRejectedError(spec.name, problems)


def structure_problems(spec: WorkflowSpec | PackedWorkflow) -> list[Problem]:
    """Return the problems of agents, task ids and the graph: those that need no cluster.

    A spec is read row by row as it is packed (`SpecRows`), never packed whole.
    """
    rows = spec if isinstance(spec, PackedWorkflow) else SpecRows(spec)
    _, problems = check_core_structure(rows)
    return problems
