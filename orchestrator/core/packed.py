"""`PackedWorkflow`: a validated `WorkflowSpec` packed as one plain tuple per task.

A pydantic `TaskSpec` costs about 930 bytes in memory and about 14 us to pickle and
unpickle; a `TaskRow` costs about 150 bytes and a fraction of that. Drivers pack a
workflow before sending it to the supervisor, and the scheduler works on rows, so a
100,000-task workflow needs neither 90 MB of pydantic objects in the supervisor nor a
second of pickling. Rows are only ever made from specs pydantic has already validated.

A large workflow need not be packed whole either: `row_chunks` packs it a slice at a time,
for a driver that sends it in chunks (the supervisor assembles them with `with_rows`), and
`SpecRows` lets the structure check read rows packed one at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any, NamedTuple

from orchestrator.core.resources import ResourceSpec
from orchestrator.core.specs import AgentSpec, RetryPolicy, TaskSpec, WorkflowSpec


class TaskExtras(NamedTuple):
    """The rarer fields of a task, kept apart so that most rows carry one None.

    Attributes:
        heartbeat_timeout_s: Longest silence of an attempt between progress reports.
        schedule_to_close_s: Longest time from first ready to the task's end.
        compensate: Function that undoes the task's effect if the workflow fails.
        cache: Reuse a stored result: True (a key from function and arguments) or a key.
        cache_ttl_s: Oldest stored result reused, in seconds (None: any).
        not_before_s: Earliest start, as a POSIX timestamp (None: no such bound).
        delay_s: Earliest start after the workflow's submission, in seconds.
        on_deadline_miss: ``run``, ``skip`` or ``fail`` when the deadline passes.
        trigger_rule: When it runs once its upstream tasks ended (`core.triggers`).
        reads: Named resources it reads (shared with other readers).
        writes: Named resources it writes (alone: see `core.conflicts`).
        preemptible: A CRITICAL task may stop it (see `core.preemption`).
        run_if: Predicate on the upstream results, evaluated by the agent (or None).
    """

    heartbeat_timeout_s: float | None = None
    schedule_to_close_s: float | None = None
    compensate: Any = None
    cache: bool | str = False
    cache_ttl_s: float | None = None
    not_before_s: float | None = None
    delay_s: float | None = None
    on_deadline_miss: str = "run"
    trigger_rule: str = "all_success"
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    preemptible: bool = False
    run_if: Any = None

    @property
    def locks(self) -> bool:
        """Whether the task reads or writes a named resource (see `core.conflicts`)."""
        return bool(self.reads or self.writes)

    @property
    def deferred(self) -> bool:
        """Whether the task has an earliest start."""
        return self.not_before_s is not None or self.delay_s is not None

    @classmethod
    def of(cls, task: TaskSpec) -> TaskExtras | None:
        """Return the extras of ``task``, or None when it has none."""
        # Read from the model's dict in C (an attribute of a pydantic model goes through
        # its ``__getattr__`` hook): most tasks have none, checked in bulk.
        if _extra_values(task.__dict__) == _NO_EXTRA_VALUES:
            return None
        not_before = task.not_before
        extras = cls(
            task.heartbeat_timeout_s,
            task.schedule_to_close_s,
            task.compensate,
            task.cache,
            task.cache_ttl_s,
            not_before.timestamp() if not_before is not None else None,
            task.delay_s,
            task.on_deadline_miss,
            task.trigger_rule,
            task.reads,
            task.writes,
            task.preemptible,
            task.run_if,
        )
        return None if extras == _NO_EXTRAS else extras


_NO_EXTRAS = TaskExtras()
#: The `TaskSpec` fields of the extras, in their order (``not_before`` as a datetime).
_extra_values = itemgetter(*TaskExtras._fields[:5], "not_before", *TaskExtras._fields[6:])
#: Their values in a spec without extras (``not_before`` is None in both forms).
_NO_EXTRA_VALUES = tuple(_NO_EXTRAS)


class TaskRow(NamedTuple):
    """What the scheduler needs of one task.

    Attributes:
        id: Task id.
        agent: Agent name, or None for a function task.
        function: Callable or import path, or None for an agent task.
        args: Positional arguments (placeholders kept).
        kwargs: Keyword arguments (placeholders kept).
        inputs: Every task this one depends on (``depends_on`` plus placeholders).
        priority: `Priority` value.
        deadline_s: Deadline as a POSIX timestamp, ``inf`` when none.
        resources: Declared resources, or None for the agent's (or the default).
        retry: Retry policy.
        timeout_s: Attempt timeout, or None.
        estimated_duration_s: Duration hint, or None.
        extras: Rarer fields (heartbeat and schedule-to-close timeouts, compensation).
    """

    id: str
    agent: str | None
    function: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    inputs: tuple[str, ...]
    priority: int
    deadline_s: float
    resources: ResourceSpec | None
    retry: RetryPolicy
    timeout_s: float | None
    estimated_duration_s: float | None
    extras: TaskExtras | None = None

    @classmethod
    def from_spec(cls, task: TaskSpec) -> TaskRow:
        """Pack one validated task."""
        # Made per task: the fields are read from the model's dict (an attribute of a
        # pydantic model goes through its ``__getattr__`` hook), `tuple.__new__` skips the
        # named tuple's Python-level constructor, and a task without placeholders skips
        # the search for them.
        fields = task.__dict__
        args, kwargs, deadline = fields["args"], fields["kwargs"], fields["deadline"]
        return _new_tuple(
            cls,
            (
                fields["id"],
                fields["agent"],
                fields["function"],
                args,
                kwargs,
                task.dependencies() if args or kwargs else fields["depends_on"],
                int(fields["priority"]),
                deadline.timestamp() if deadline is not None else math.inf,
                fields["resources"],
                fields["retry"],
                fields["timeout_s"],
                fields["estimated_duration_s"],
                TaskExtras.of(task),
            ),
        )


_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class PackedWorkflow:
    """A workflow as the supervisor receives it.

    Attributes:
        name: Workflow name.
        id: Workflow id (set by the driver before sending).
        metadata: Free-form labels.
        agents: Agent declarations.
        rows: One `TaskRow` per task, in submission order.
        retry_budget: Most retries of all its tasks together, or None.
        max_concurrency: Most of its tasks running at once, or None.
        tenant: Who it belongs to (shares the tenant's limit), or None.
        weight: Its share of its pools among its tenant's workflows (`fair_queue`).
    """

    name: str
    id: str | None
    metadata: dict[str, str]
    agents: tuple[AgentSpec, ...]
    rows: tuple[TaskRow, ...]
    retry_budget: int | None = None
    max_concurrency: int | None = None
    tenant: str | None = None
    weight: float = 1.0

    @classmethod
    def pack(cls, spec: WorkflowSpec) -> PackedWorkflow:
        """Pack a validated spec."""
        return cls(
            spec.name,
            spec.id,
            dict(spec.metadata),
            spec.agents,
            tuple(map(TaskRow.from_spec, spec.tasks)),
            spec.retry_budget,
            spec.max_concurrency,
            spec.tenant,
            spec.weight,
        )

    @classmethod
    def header(cls, spec: WorkflowSpec) -> PackedWorkflow:
        """Return everything of a validated spec but its rows (sent ahead of row chunks)."""
        return cls(
            spec.name,
            spec.id,
            dict(spec.metadata),
            spec.agents,
            (),
            spec.retry_budget,
            spec.max_concurrency,
            spec.tenant,
            spec.weight,
        )

    def with_rows(self, rows: tuple[TaskRow, ...]) -> PackedWorkflow:
        """Return this workflow (a `header`) carrying ``rows``."""
        return replace(self, rows=rows)


def row_chunks(spec: WorkflowSpec, size: int) -> Iterator[tuple[TaskRow, ...]]:
    """Yield the rows of a validated spec, ``size`` at a time, packed only when reached.

    Raises:
        ValueError: ``size`` is not positive.
    """
    if size <= 0:
        raise ValueError(f"size must be > 0, got {size}")
    tasks = spec.tasks
    for start in range(0, len(tasks), size):
        yield tuple(map(TaskRow.from_spec, tasks[start : start + size]))


@dataclass(frozen=True, slots=True)
class SpecRows:
    """A validated spec's agents and its rows, packed one at a time as they are read.

    What `orchestrator.core.validation.check_structure` reads, without a packed copy of the
    whole workflow: each row is dropped once read.
    """

    spec: WorkflowSpec

    @property
    def agents(self) -> tuple[AgentSpec, ...]:
        """The spec's agent declarations."""
        return self.spec.agents

    @property
    def rows(self) -> Iterator[TaskRow]:
        """One row per task, in submission order, made on the fly."""
        return (TaskRow.from_spec(task) for task in self.spec.tasks)
