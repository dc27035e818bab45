"""Agent pools: which agent class runs which tasks, with what resources, how many replicas.

Tasks that name the same agent with the same resources share one pool; a task that asks
for different resources than its agent declares gets a pool of its own (same class, other
size). Tasks that name a plain function share the function agent's pools, one per shape,
except those that need a whole number k of the default shape's CPUs and nothing else: they
are *ganged* (`gang_size`) onto k agents of the default function pool on one node (see
`core.gangs`), so a mix of 1- and k-core functions never stops agents to start others of
another size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.breaker import BreakerPolicy
from orchestrator.core.rate_limit import RateLimit
from orchestrator.core.resources import ResourceSpec
from orchestrator.core.specs import AgentClassRef, AgentSpec, handler_name

if TYPE_CHECKING:
    from orchestrator.core.packed import TaskRow

#: The built-in agent that runs plain functions, by import path (the core never imports it).
FUNCTION_AGENT_CLASS = "agents.function:FunctionAgent"


class AgentPoolSpec(BaseModel):
    """What the runtime needs to start one replica of a pool.

    Attributes:
        key: Unique pool name, e.g. ``WordCounter`` or ``functions[cpu=1,gpu=0,mem=0]``.
        agent_class: Class (or import path) the agent host instantiates.
        resources: Reserved by each replica.
        max_replicas: Upper bound on live replicas.
        min_replicas: Replicas kept even when idle.
        max_concurrency: Tasks one replica runs at once.
        init_kwargs: Constructor keyword arguments.
        breaker: Its circuit breaker's policy, or None.
        rate_limit: Its rate limit, or None.
        urgent_lane: A replica may run one CRITICAL task beside its others (see
            `AgentSpec.urgent_lane`).
        gang_host: For a ganged pool, the function pool whose agents run its tasks, each
            on ``gang_size`` of them on one node (the pool has no agent of its own); None
            for a pool with agents of its own.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    key: str
    agent_class: AgentClassRef
    resources: ResourceSpec
    max_replicas: int = Field(ge=1)
    min_replicas: int = Field(default=0, ge=0)
    max_concurrency: int = Field(default=1, ge=1)
    init_kwargs: dict[str, Any] = Field(default_factory=dict)
    breaker: BreakerPolicy | None = None
    rate_limit: RateLimit | None = None
    urgent_lane: bool = False
    gang_host: AgentPoolSpec | None = None

    @property
    def gang_size(self) -> int:
        """Return how many agents of ``gang_host`` one task takes (1 for a plain pool)."""
        if self.gang_host is None:
            return 1
        return round(self.resources.num_cpus / self.gang_host.resources.num_cpus)

    def same_definition(self, other: AgentPoolSpec) -> bool:
        """Return whether two specs describe the same agents (classes compared by name)."""
        return (
            handler_name(self.agent_class) == handler_name(other.agent_class)
            and self.resources == other.resources
            and self.max_replicas == other.max_replicas
            and self.min_replicas == other.min_replicas
            and self.max_concurrency == other.max_concurrency
            and self.init_kwargs == other.init_kwargs
            and self.breaker == other.breaker
            and self.rate_limit == other.rate_limit
            and self.urgent_lane == other.urgent_lane
            and (self.gang_host is None) == (other.gang_host is None)
            and (
                self.gang_host is None
                or other.gang_host is None
                or self.gang_host.same_definition(other.gang_host)
            )
        )


def function_pool(
    resources: ResourceSpec, max_replicas: int, breaker: BreakerPolicy | None = None
) -> AgentPoolSpec:
    """Return the pool that runs plain functions needing ``resources``."""
    return AgentPoolSpec(
        key=f"functions[{resources.label()}]",
        agent_class=FUNCTION_AGENT_CLASS,
        resources=resources,
        max_replicas=max_replicas,
        breaker=breaker,
        urgent_lane=True,  # plain functions share no state between threads
    )


def gang_size(resources: ResourceSpec, base: ResourceSpec) -> int | None:
    """Return k when a function task needing ``resources`` can run on k ``base`` agents.

    That is when ``resources`` is ``base`` times a whole k >= 2 in CPUs and memory and
    equal in all else, and ``base`` is CPUs (and memory) only: k agents of ``base`` on one
    node then reserve exactly what the task needs, in Ray's accounting as in the ledger.
    GPUs, custom resources, node labels and spread placement keep a pool of their own.
    """
    if base.num_cpus <= 0 or base.num_gpus or base.custom or base.node_labels:
        return None
    if base.placement != "pack":
        return None
    ratio = resources.num_cpus / base.num_cpus
    k = round(ratio)
    if k < 2 or abs(ratio - k) > 1e-9:
        return None
    if resources.memory_bytes != k * base.memory_bytes:
        return None
    scaled = base.model_copy(
        update={"num_cpus": resources.num_cpus, "memory_bytes": resources.memory_bytes}
    )
    return k if resources == scaled else None


def ganged_function_pool(
    resources: ResourceSpec,
    base: ResourceSpec,
    max_replicas: int,
    breaker: BreakerPolicy | None = None,
) -> AgentPoolSpec:
    """Return the pool of plain functions needing ``resources``, ganged when they can be.

    A gangable shape (`gang_size`) gets a pool without agents whose tasks run on the
    agents of ``base``'s function pool; any other shape (or a gang larger than
    ``max_replicas``) gets a pool of its own.
    """
    k = gang_size(resources, base)
    if resources == base or k is None or k > max_replicas:
        return function_pool(resources, max_replicas, breaker)
    host = function_pool(base, max_replicas, breaker)
    return function_pool(resources, max_replicas, breaker).model_copy(update={"gang_host": host})


def agent_pool(
    agent: AgentSpec,
    resources: ResourceSpec | None = None,
    default_breaker: BreakerPolicy | None = None,
) -> AgentPoolSpec:
    """Return the pool for ``agent``, resized when a task asks for other ``resources``."""
    size = resources if resources is not None else agent.resources
    key = agent.name if size == agent.resources else f"{agent.name}[{size.label()}]"
    return AgentPoolSpec(
        key=key,
        agent_class=agent.agent_class,
        resources=size,
        max_replicas=agent.replicas,
        min_replicas=agent.min_replicas if size == agent.resources else 0,
        max_concurrency=agent.max_concurrency,
        init_kwargs=agent.init_kwargs,
        breaker=agent.breaker or default_breaker,
        rate_limit=agent.rate_limit,
        urgent_lane=agent.urgent_lane,
    )


def pool_for_task(
    task: TaskRow,
    agents: dict[str, AgentSpec],
    default_function_resources: ResourceSpec,
    max_function_replicas: int,
    default_breaker: BreakerPolicy | None = None,
    *,
    gang: bool = True,
) -> AgentPoolSpec | None:
    """Return the pool ``task`` runs in, or None when it names an undeclared agent.

    ``gang``: a plain function needing k times ``default_function_resources`` runs on k
    agents of that pool (`ganged_function_pool`); False: on an agent of its own size.
    """
    if task.agent is not None:
        agent = agents.get(task.agent)
        if agent is None:
            return None
        return agent_pool(agent, task.resources, default_breaker)
    resources = task.resources if task.resources is not None else default_function_resources
    if not gang:
        return function_pool(resources, max_function_replicas, default_breaker)
    return ganged_function_pool(
        resources, default_function_resources, max_function_replicas, default_breaker
    )
