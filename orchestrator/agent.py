"""What an agent is: a plain class with resources and a ``handle(ctx)`` method.

Agents are never decorated with ``@ray.remote``; the runtime wraps each replica in an
agent host actor sized from the class's declaration::

    class Summariser(Agent):
        num_cpus = 0.5
        memory_bytes = 512 * 2**20
        replicas = 2

        def handle(self, ctx: TaskContext) -> str:
            return summarise(ctx.input("fetch"))

Subclassing `Agent` is optional: any class with a ``handle`` method works, and missing
resource attributes take the defaults below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import structlog

from orchestrator.core.specs import AgentSpec


class NonRetryableError(Exception):
    """Raise from a task to fail it at once, whatever its retry policy says."""


class TaskPreempted(Exception):  # noqa: N818 (the name is the error type outcomes carry)
    """Raise from a task asked to stop (``ctx.should_stop``) for a CRITICAL task.

    The attempt is then re-queued without counting a failure; ``ctx.stop_if_requested()``
    raises it for you. Raised when no stop was asked, it is an ordinary failure.
    """


_CURRENT_TASK: ContextVar[TaskContext | None] = ContextVar("orchestrator_task", default=None)


def current_task() -> TaskContext:
    """Return the context of the task this code runs in (for plain function tasks).

    A function task gets only its arguments; it reaches its context, e.g. to report
    progress, with ``current_task().heartbeat(...)``.

    Raises:
        RuntimeError: called outside a task run by an agent.
    """
    context = _CURRENT_TASK.get()
    if context is None:
        raise RuntimeError("current_task() is only available inside a running task")
    return context


@contextmanager
def running(context: TaskContext) -> Iterator[TaskContext]:
    """Make ``context`` the `current_task` while a handler runs (used by the agent host)."""
    token = _CURRENT_TASK.set(context)
    try:
        yield context
    finally:
        _CURRENT_TASK.reset(token)


@dataclass(slots=True)
class TaskContext:
    """Everything one attempt of a task gets.

    Attributes:
        workflow_id: The workflow the task belongs to.
        task_id: The task.
        attempt: 1 for the first attempt, then 2, 3...
        agent_id: The replica running it.
        args: Positional arguments, placeholders replaced by upstream results.
        kwargs: Keyword arguments, placeholders replaced by upstream results.
        inputs: Results of the tasks this one depends on, by task id.
        function: For function tasks, the callable to run.
        last_heartbeat: What an earlier attempt of this task last reported with
            `heartbeat` (None on a first attempt): resume from there.
        should_stop: True once the orchestrator asks this attempt to stop (a preemptible
            task making room for a CRITICAL one); see `stop_if_requested`.
    """

    workflow_id: str
    task_id: str
    attempt: int
    agent_id: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)
    function: Callable[..., Any] | None = None
    last_heartbeat: Any = None
    _log: Any = None
    _report_progress: Callable[[Any], None] | None = None
    _stop_requested: Callable[[], bool] | None = None
    _bus: Any = None

    @property
    def should_stop(self) -> bool:
        """Whether the orchestrator asked this attempt to stop (see `TaskPreempted`).

        A preemptible task checks it between units of work, saves its position with
        `heartbeat` if it can resume, and raises `TaskPreempted` (or calls
        `stop_if_requested`).
        """
        return self._stop_requested is not None and self._stop_requested()

    def stop_if_requested(self) -> None:
        """Raise `TaskPreempted` if the orchestrator asked this attempt to stop."""
        if self.should_stop:
            raise TaskPreempted(f"task {self.task_id!r} stopped on request (preempted)")

    @property
    def log(self) -> Any:
        """A structlog logger bound to the workflow, task, attempt and agent ids."""
        if self._log is None:
            self._log = structlog.get_logger("orchestrator.task").bind(
                workflow_id=self.workflow_id,
                task_id=self.task_id,
                attempt=self.attempt,
                agent_id=self.agent_id,
            )
        return self._log

    def heartbeat(self, details: Any = None) -> None:
        """Report progress; ``details`` (small, picklable) go to the next attempt if any.

        A task with ``heartbeat_timeout_s`` must call this at least that often, or its
        attempt is taken for hung and stopped. Long tasks should call it anyway: the
        details let a retry resume where the last attempt stopped (`last_heartbeat`).
        Cheap: only the latest details are kept, and sent with the next health check.

        Raises:
            ValueError: ``details`` is larger than the limit once pickled.
            TypeError: ``details`` cannot be pickled.
        """
        if self._report_progress is not None:
            self._report_progress(details)

    def publish(self, topic: str, payload: Any = None) -> None:
        """Publish ``payload`` (JSON-shaped, or a pydantic model) on the message bus.

        Returns once it is delivered to the subscribers' buffers. Raises `ValueError`
        for a bad topic or payload, `RuntimeError` when the agent has no bus.
        """
        self._bus_link().publish(topic, payload)

    def request(
        self,
        payload: Any = None,
        *,
        timeout_s: float,
        pool: str | None = None,
        agent_id: str | None = None,
        topic: str | None = None,
    ) -> Any:
        """Ask another agent and return its reply (a `BusMessage`; ``.payload``).

        Give one of ``pool`` (an agent's name: one of its replicas answers),
        ``agent_id`` (that replica answers) or ``topic``. The agent answers with its
        ``on_request(message)`` method.

        Raises:
            BusTimeoutError: no reply within ``timeout_s``.
            ValueError: not exactly one target, or a bad payload.
        """
        link = self._bus_link()
        return link.request(payload, timeout_s=timeout_s, pool=pool, agent_id=agent_id, topic=topic)

    def _bus_link(self) -> Any:
        if self._bus is None:
            raise RuntimeError(f"task {self.task_id!r} runs without a message bus")
        return self._bus

    def input(self, task_id: str | None = None) -> Any:
        """Return one upstream result: the one of ``task_id``, or the only one there is.

        Raises:
            KeyError: ``task_id`` is not a dependency, or it was omitted and the task has
                zero or several dependencies.
        """
        if task_id is not None:
            if task_id not in self.inputs:
                known = ", ".join(sorted(self.inputs)) or "none"
                raise KeyError(f"task {self.task_id!r} has no input {task_id!r} (inputs: {known})")
            return self.inputs[task_id]
        if len(self.inputs) != 1:
            raise KeyError(
                f"task {self.task_id!r} has {len(self.inputs)} inputs; name the one you want"
            )
        return next(iter(self.inputs.values()))


class Agent:
    """Convenience base class for agents; the class attributes declare each replica's size.

    Attributes:
        name: How tasks refer to the agent (defaults to the class name).
        num_cpus: CPUs each replica reserves.
        num_gpus: GPUs each replica reserves.
        memory_bytes: Memory each replica reserves.
        custom_resources: Ray custom resources each replica reserves, by name.
        node_labels: Labels a node must carry to host a replica.
        placement: ``pack`` (default) or ``spread`` replicas over nodes.
        replicas: Most replicas at once.
        min_replicas: Replicas kept alive when idle.
        max_concurrency: Tasks a replica runs at once (in threads).
        urgent_lane: A replica may run one CRITICAL task beside its others, in a thread
            of its own (only for a thread-safe ``handle``).
    """

    name: ClassVar[str | None] = None
    num_cpus: ClassVar[float] = 1.0
    num_gpus: ClassVar[float] = 0.0
    memory_bytes: ClassVar[int] = 0
    custom_resources: ClassVar[Mapping[str, float]] = MappingProxyType({})
    node_labels: ClassVar[Mapping[str, str]] = MappingProxyType({})
    placement: ClassVar[str] = "pack"
    replicas: ClassVar[int] = 1
    min_replicas: ClassVar[int] = 0
    max_concurrency: ClassVar[int] = 1
    urgent_lane: ClassVar[bool] = False

    def setup(self) -> None:
        """Prepare the replica (load a model, open a client) before its first task."""

    def handle(self, ctx: TaskContext) -> Any:
        """Run one task and return its result."""
        raise NotImplementedError(f"{type(self).__name__} does not implement handle(ctx)")


def agent_name(agent_class: type[Any]) -> str:
    """Return the name tasks use for ``agent_class``."""
    declared = getattr(agent_class, "name", None)
    return declared if isinstance(declared, str) and declared else agent_class.__name__


def agent_spec(agent_class: type[Any] | str, **overrides: Any) -> AgentSpec:
    """Build an `AgentSpec` from an agent class's declared attributes.

    Args:
        agent_class: The class, or its import path ``module:Class`` (then resolved here).
        **overrides: Fields of `AgentSpec` to set instead of the class's values; the
            resource fields ``num_cpus``, ``num_gpus``, ``memory_bytes``,
            ``custom_resources``, ``node_labels`` and ``placement`` too.

    Raises:
        pydantic.ValidationError: a declared value is invalid (e.g. negative CPUs); the
            error names the field.
        TypeError: the class has no ``handle`` method.
    """
    cls = _resolve_class(agent_class) if isinstance(agent_class, str) else agent_class
    if not callable(getattr(cls, "handle", None)):
        raise TypeError(f"agent class {cls.__qualname__} has no handle(ctx) method")
    defaults = Agent
    resources = {
        "num_cpus": overrides.pop("num_cpus", getattr(cls, "num_cpus", defaults.num_cpus)),
        "num_gpus": overrides.pop("num_gpus", getattr(cls, "num_gpus", defaults.num_gpus)),
        "memory_bytes": overrides.pop(
            "memory_bytes", getattr(cls, "memory_bytes", defaults.memory_bytes)
        ),
        "custom": dict(overrides.pop("custom_resources", getattr(cls, "custom_resources", {}))),
        "node_labels": dict(overrides.pop("node_labels", getattr(cls, "node_labels", {}))),
        "placement": overrides.pop("placement", getattr(cls, "placement", "pack")),
    }
    values: dict[str, Any] = {
        "name": agent_name(cls),
        "agent_class": agent_class,
        "resources": resources,
        "replicas": getattr(cls, "replicas", defaults.replicas),
        "min_replicas": getattr(cls, "min_replicas", defaults.min_replicas),
        "max_concurrency": getattr(cls, "max_concurrency", defaults.max_concurrency),
        "urgent_lane": getattr(cls, "urgent_lane", defaults.urgent_lane),
    }
    values.update(overrides)
    return AgentSpec(**values)


def _resolve_class(path: str) -> type[Any]:
    from orchestrator.import_paths import import_object

    obj = import_object(path)
    if not isinstance(obj, type):
        raise TypeError(f"{path!r} is not a class")
    return obj
