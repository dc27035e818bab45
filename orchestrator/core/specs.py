"""User input: tasks, agents and workflows, as frozen pydantic models.

Field-level problems (wrong type, negative resources, unknown field) are reported by
pydantic, all at once, with the field's location. Cross-references between fields (unknown
agent, missing dependency, cycle, resource fits) are checked by
`orchestrator.core.validation` (`check_structure`, `check_fit`), also all at once.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from orchestrator.core.breaker import BreakerPolicy
from orchestrator.core.rate_limit import RateLimit
from orchestrator.core.resources import ResourceSpec

#: Task, agent and workflow ids: letters, digits and ``_ . : @ -``; no spaces or slashes.
ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:@\-]{0,199}$"
#: ``package.module:attribute`` as in entry points.
IMPORT_PATH_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
ImportPath = Annotated[str, Field(pattern=IMPORT_PATH_PATTERN)]


class Priority(enum.IntEnum):
    """How urgent a task is; lower values run first."""

    CRITICAL = 0
    HIGH = 1
    MEDIUM = 2
    LOW = 3
    BACKGROUND = 4


def _parse_priority(value: object) -> object:
    """Accept priority names in any case ("high", "HIGH") besides the enum and ints."""
    if isinstance(value, bool):
        raise ValueError("a priority is a name (e.g. 'high') or 0-4, not a boolean")
    if isinstance(value, str) and not isinstance(value, Priority):
        try:
            return Priority[value.strip().upper()]
        except KeyError:
            names = ", ".join(p.name for p in Priority)
            raise ValueError(f"unknown priority {value!r}; expected one of {names}") from None
    return value


PriorityField = Annotated[Priority, BeforeValidator(_parse_priority)]


def _check_callable(value: object) -> object:
    if isinstance(value, str) or callable(value):
        return value
    raise ValueError(f"expected an import path 'module:function' or a callable, got {value!r}")


def _check_class(value: object) -> object:
    if isinstance(value, str | type):
        return value
    raise ValueError(f"expected an import path 'module:Class' or a class, got {value!r}")


#: A callable given by value (pickled to the workers) or by import path.
FunctionRef = Annotated[Any, AfterValidator(_check_callable)]
#: An agent class given by value or by import path.
AgentClassRef = Annotated[Any, AfterValidator(_check_class)]


class OutputOf(BaseModel):
    """A placeholder in a task's arguments for the result of another task.

    In YAML or JSON it is written ``{"output_of": "task-id"}``. The task then depends on
    ``task-id`` and receives its result in place of the placeholder.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    output_of: Identifier


class EventPayload(BaseModel):
    """A placeholder in a task's arguments for the payload of a triggering message.

    For a workflow triggered by a topic (see `orchestrator.core.schedules`). In YAML or
    JSON it is written ``{"event_payload": true}``; in Python, `EVENT_PAYLOAD`. Only a
    triggered run replaces it: a workflow submitted directly passes the placeholder.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_payload: Literal[True] = True


#: The placeholder for the triggering message's payload.
EVENT_PAYLOAD = EventPayload()


def substitute_payload(value: Any, payload: Any) -> Any:
    """Return ``value`` with every `EventPayload` placeholder replaced by ``payload``."""
    return _substitute(value, EventPayload, lambda _: payload)


def iter_output_refs(value: object, depth: int = 0) -> Iterator[OutputOf]:
    """Yield every `OutputOf` placeholder inside lists, tuples and dicts of ``value``."""
    if isinstance(value, OutputOf):
        yield value
    elif depth < 8 and isinstance(value, list | tuple):
        for item in value:
            yield from iter_output_refs(item, depth + 1)
    elif depth < 8 and isinstance(value, dict):
        for item in value.values():
            yield from iter_output_refs(item, depth + 1)


def substitute_outputs(value: Any, results: Mapping[str, Any]) -> Any:
    """Return ``value`` with every `OutputOf` placeholder replaced by ``results[task_id]``.

    Lists, tuples and dicts are rebuilt only where they hold a placeholder.
    """
    return _substitute(value, OutputOf, lambda ref: results[ref.output_of])


def _substitute(
    value: Any, placeholder: type[Any], replace: Callable[[Any], Any], depth: int = 0
) -> Any:
    """Return ``value`` with each ``placeholder`` instance in it replaced by ``replace``.

    Lists, tuples and dicts (8 levels deep) are rebuilt only where they hold one.
    """
    if isinstance(value, placeholder):
        return replace(value)
    if depth < 8 and isinstance(value, list | tuple):
        items = [_substitute(item, placeholder, replace, depth + 1) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    if depth < 8 and isinstance(value, dict):
        replaced = {
            key: _substitute(item, placeholder, replace, depth + 1) for key, item in value.items()
        }
        if all(replaced[key] is item for key, item in value.items()):
            return value
        return replaced
    return value


def _coerce_output_refs(value: Any, path: str, depth: int = 0) -> Any:
    """Turn placeholder dicts read from files into placeholders.

    ``{"output_of": "x"}`` becomes `OutputOf`, ``{"event_payload": true}`` `EventPayload`.

    Raises:
        ValueError: a placeholder names an invalid task id; the message gives its path,
            e.g. ``args[0].output_of``.
    """
    if isinstance(value, dict):
        if value == {"event_payload": True}:
            return EVENT_PAYLOAD
        if len(value) == 1 and "output_of" in value:
            try:
                return OutputOf(output_of=value["output_of"])
            except ValidationError as exc:
                reason = exc.errors(include_url=False)[0]["msg"]
                raise ValueError(
                    f"{path}.output_of: {value['output_of']!r} is not a task id ({reason})"
                ) from None
        if depth < 8:
            return {
                key: _coerce_output_refs(item, f"{path}[{key!r}]", depth + 1)
                for key, item in value.items()
            }
    elif depth < 8 and isinstance(value, list | tuple):
        return type(value)(
            _coerce_output_refs(item, f"{path}[{index}]", depth + 1)
            for index, item in enumerate(value)
        )
    return value


class RetryPolicy(BaseModel):
    """When and how a failed task is tried again.

    Attributes:
        max_attempts: Attempts allowed for errors raised by the task itself (1 = no retry).
        initial_backoff_s: Wait before the second attempt.
        backoff_multiplier: Factor applied to the wait after each further failure.
        max_backoff_s: Upper bound of the wait.
        jitter: ``none`` (the exact exponential wait), ``full`` (uniform between 0 and
            it) or ``equal`` (half of it, plus uniform up to the other half): spreads the
            retries of many tasks that failed together (AWS's "exponential backoff and
            jitter"). The draw is a deterministic hash of the task and attempt, so a run
            replays identically.
        non_retryable: Exception classes that fail the task at once, by name (``KeyError``)
            or qualified name (``mypkg.errors.Invalid``); their subclasses too. Like
            raising `NonRetryableError`.
        max_agent_losses: Attempts lost because the agent died, hung or was stopped that
            are re-run without counting against ``max_attempts``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=1, ge=1, le=1000)
    initial_backoff_s: float = Field(default=0.5, ge=0)
    backoff_multiplier: float = Field(default=2.0, ge=1)
    max_backoff_s: float = Field(default=30.0, ge=0)
    jitter: Literal["none", "full", "equal"] = "none"
    non_retryable: tuple[str, ...] = ()
    max_agent_losses: int = Field(default=3, ge=0, le=1000)

    def backoff_s(self, failed_attempts: int, draw: float = 1.0) -> float:
        """Return the wait after ``failed_attempts`` failures (1 = after the first).

        Args:
            failed_attempts: Failures so far.
            draw: A number in [0, 1] that places the wait within the jitter's range
                (ignored without jitter).
        """
        wait = self.initial_backoff_s * self.backoff_multiplier ** max(failed_attempts - 1, 0)
        wait = float(min(wait, self.max_backoff_s))
        if self.jitter == "full":
            return wait * draw
        if self.jitter == "equal":
            return wait / 2 + wait / 2 * draw
        return wait

    def refuses(self, error_type: str | None, error_lineage: tuple[str, ...]) -> bool:
        """Return whether an error of that type (and class lineage) is non-retryable."""
        if not self.non_retryable:
            return False
        names = set(error_lineage)
        names.update(name.rpartition(".")[2] for name in error_lineage)
        if error_type is not None:
            names.add(error_type)
        return any(name in names for name in self.non_retryable)


DEFAULT_RETRY_POLICY = RetryPolicy()


class TaskSpec(BaseModel):
    """One unit of work: what runs, on what, after what, and how urgently.

    Exactly one of ``agent`` (the name of an agent declared in the workflow) and
    ``function`` (a callable or its import path) must be given.

    Attributes:
        id: Unique within the workflow.
        agent: Name of the agent that handles this task.
        function: Callable run by the built-in function agent.
        args: Positional arguments; `OutputOf` placeholders are replaced by upstream results.
        kwargs: Keyword arguments; placeholders allowed as in ``args``.
        depends_on: Tasks that must succeed first (in addition to those named by placeholders).
        priority: CRITICAL, HIGH, MEDIUM, LOW or BACKGROUND.
        deadline: When the task should be done; earlier deadlines run first within a priority.
        resources: CPU/GPU/memory this task needs; defaults to its agent's declaration.
        retry: Retry policy.
        timeout_s: Longest one attempt may run, counted from when it is handed to its
            agent (short tasks may wait there behind one pipelined call); the agent
            is then stopped and replaced, since a running call cannot be interrupted.
        estimated_duration_s: A hint used to favour tasks on the critical path.
        heartbeat_timeout_s: With it, an attempt must report progress
            (``ctx.heartbeat()``) at least this often; one that falls silent is hung: its
            agent is stopped and the attempt charged as a failure (``HeartbeatTimeout``).
            Progress reaches the scheduler at the heartbeat interval, so give at least
            twice ``heartbeat.interval_s``.
        schedule_to_close_s: Longest the task may take from when it is first ready to
            its end, across every attempt and wait; then it fails
            (``ScheduleToCloseTimeout``) without a further retry.
        compensate: A function run if the workflow fails after this task succeeded, to
            undo its effect (a saga): it receives this task's result as its input.
            Compensations run in reverse order of completion.
        cache: Reuse a stored result instead of running: True for a key made from the
            function (or agent) and the arguments, upstream inputs included through
            their own keys (so the same computation on the same inputs hits); a string
            for a key of your own. The result is stored when the task succeeds.
        cache_ttl_s: A stored result older than this is not reused (None: no expiry).
        not_before: The task does not start before this instant (time-zone aware), even
            when its dependencies are done: a deferred task.
        delay_s: The task does not start before this long after its workflow was
            submitted (with ``not_before``, the later of the two).
        reads: Named resources (files, tables...) it reads: it never runs while another
            task writes one of them.
        writes: Named resources it writes: it never runs while another task reads or
            writes one of them (see `orchestrator.core.conflicts`).
        trigger_rule: When it runs once every task it depends on has ended:
            ``all_success`` (default), ``all_done``, ``all_failed``, ``one_failed``,
            ``one_success`` or ``none_failed`` (see `orchestrator.core.triggers`).
        on_deadline_miss: What happens when ``deadline`` passes and the task has not
            ended: ``run`` (it goes on; the miss is reported), ``skip`` (unless it is
            running, it is skipped, and so are the tasks that need it) or ``fail`` (it
            fails now with ``DeadlineMissed``, a running attempt stopped).
        preemptible: A CRITICAL task that finds no free agent may stop this task's
            running attempt: it is asked to stop (``ctx.should_stop``), then its agent
            is stopped after ``scheduler.preemption_grace_s``; the task is re-queued
            without counting a failure (see `orchestrator.core.preemption`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    id: Identifier
    agent: Identifier | None = None
    function: FunctionRef | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = Field(default_factory=dict)
    depends_on: tuple[Identifier, ...] = ()
    priority: PriorityField = Priority.MEDIUM
    deadline: datetime | None = None
    resources: ResourceSpec | None = None
    retry: RetryPolicy = DEFAULT_RETRY_POLICY
    timeout_s: float | None = Field(default=None, gt=0)
    estimated_duration_s: float | None = Field(default=None, ge=0)
    heartbeat_timeout_s: float | None = Field(default=None, gt=0)
    schedule_to_close_s: float | None = Field(default=None, gt=0)
    compensate: FunctionRef | None = None
    cache: bool | Annotated[str, Field(min_length=1, max_length=500)] = False
    cache_ttl_s: float | None = Field(default=None, gt=0)
    not_before: datetime | None = None
    delay_s: float | None = Field(default=None, ge=0)
    on_deadline_miss: Literal["run", "skip", "fail"] = "run"
    reads: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    writes: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    trigger_rule: Literal[
        "all_success", "all_done", "all_failed", "one_failed", "one_success", "none_failed"
    ] = "all_success"
    preemptible: bool = False

    @model_validator(mode="before")
    @classmethod
    def _placeholders_from_files(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("args" in data or "kwargs" in data):
            data = dict(data)
            if "args" in data and isinstance(data["args"], list | tuple):
                data["args"] = tuple(_coerce_output_refs(list(data["args"]), "args"))
            if "kwargs" in data and isinstance(data["kwargs"], dict):
                data["kwargs"] = {
                    key: _coerce_output_refs(item, f"kwargs[{key!r}]")
                    for key, item in data["kwargs"].items()
                }
        return data

    @model_validator(mode="after")
    def _one_handler(self) -> TaskSpec:
        if (self.agent is None) == (self.function is None):
            raise ValueError("give exactly one of 'agent' and 'function'")
        if self.deadline is not None and self.deadline.tzinfo is None:
            raise ValueError("deadline must carry a time zone, e.g. 2026-01-01T12:00:00+00:00")
        if self.not_before is not None and self.not_before.tzinfo is None:
            raise ValueError("not_before must carry a time zone, e.g. 2026-01-01T12:00:00+00:00")
        if self.on_deadline_miss != "run" and self.deadline is None:
            raise ValueError("on_deadline_miss needs a deadline")
        if self.cache_ttl_s is not None and self.cache is False:
            raise ValueError("cache_ttl_s needs cache (True, or a key of your own)")
        return self

    def dependencies(self) -> tuple[str, ...]:
        """Return ``depends_on`` plus the tasks named by placeholders, without repeats."""
        if not self.args and not self.kwargs:
            return self.depends_on
        referenced = [ref.output_of for ref in iter_output_refs(self.args)]
        referenced.extend(ref.output_of for ref in iter_output_refs(self.kwargs))
        if not referenced:
            return self.depends_on
        return tuple(dict.fromkeys((*self.depends_on, *referenced)))


class AgentSpec(BaseModel):
    """An agent type: the class that handles tasks and the resources of each replica.

    Attributes:
        name: How tasks refer to this agent.
        agent_class: The agent class or its import path.
        resources: What each replica reserves for as long as it lives.
        replicas: Most replicas running at once.
        min_replicas: Replicas kept running even when idle.
        max_concurrency: Tasks one replica runs at the same time (threads).
        init_kwargs: Keyword arguments for the agent's constructor.
        breaker: A circuit breaker for the agent's pool: after so many failed attempts
            in a row, the pool gets no work for a cool-down, then one probe.
        rate_limit: Most attempts per second sent to the agent's pool (token bucket), for
            agents that call a rate-limited service.
        urgent_lane: A replica may run one CRITICAL task beside its others, in a thread
            of its own, when none of its slots is free (so a CRITICAL task never waits
            for work already sent). Only for agents whose ``handle`` is thread-safe;
            the built-in function agent has it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: Identifier
    agent_class: AgentClassRef
    resources: ResourceSpec = ResourceSpec()
    replicas: int = Field(default=1, ge=1, le=10_000)
    min_replicas: int = Field(default=0, ge=0)
    max_concurrency: int = Field(default=1, ge=1, le=1024)
    init_kwargs: dict[str, Any] = Field(default_factory=dict)
    breaker: BreakerPolicy | None = None
    rate_limit: RateLimit | None = None
    urgent_lane: bool = False

    @model_validator(mode="after")
    def _min_not_above_max(self) -> AgentSpec:
        if self.min_replicas > self.replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is larger than replicas ({self.replicas})"
            )
        return self


class WorkflowSpec(BaseModel):
    """A named set of tasks and the agents they use.

    Attributes:
        name: Human name; also the prefix of generated workflow ids.
        id: Unique id; the orchestrator assigns one when it is missing.
        tasks: The tasks, at least one.
        agents: Agent types the tasks name.
        metadata: Free-form labels carried into logs and traces.
        max_concurrency: Most of its tasks running at once (None: no limit of its own).
        tenant: Who it belongs to: workflows of a tenant share the tenant's limit
            (`SchedulerConfig.tenant_max_running`).
        retry_budget: Most retries all its tasks may make together (None: no limit
            beyond each task's policy); once spent, a failure is final.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Identifier
    id: Identifier | None = None
    tasks: tuple[TaskSpec, ...] = Field(min_length=1)
    agents: tuple[AgentSpec, ...] = ()
    metadata: dict[str, str] = Field(default_factory=dict)
    retry_budget: int | None = Field(default=None, ge=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    tenant: Identifier | None = None

    def with_id(self, workflow_id: str) -> WorkflowSpec:
        """Return a copy carrying ``workflow_id``."""
        return self.model_copy(update={"id": workflow_id})


def handler_name(handler: str | Callable[..., Any] | type[Any]) -> str:
    """Return a readable name for a function or class given by value or import path."""
    if isinstance(handler, str):
        return handler
    module = getattr(handler, "__module__", "?")
    qualname = getattr(handler, "__qualname__", repr(handler))
    return f"{module}:{qualname}"
