"""The simulated agents of `SimRuntime`: what an attempt does, calls and agents.

Kept apart from ``sim.py`` so that the runtime's module stays about what it does with
them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.core import AgentPoolSpec, AttemptOrder, AttemptOutcome


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What one attempt does when the simulated agent runs it.

    Attributes:
        duration_s: How long it runs (fake seconds).
        ok: Whether it returns normally.
        retryable: False for a `NonRetryableError`.
        hang: It never returns (only a timeout or a death ends it).
        crash: It kills its agent's process as it starts (``os._exit``): the call's
            outcomes never come, and the runtime reports the agent ``died``.
        stops_when_asked: Asked to stop while it runs (preempted), it raises
            `TaskPreempted` ``stop_delay_s`` later; otherwise it ignores the request.
        stop_delay_s: How long a cooperative attempt takes to notice a stop request.
    """

    duration_s: float = 0.01
    ok: bool = True
    retryable: bool = True
    hang: bool = False
    crash: bool = False
    stops_when_asked: bool = False
    stop_delay_s: float = 0.001


BehaviourFn = Callable[[AttemptOrder], Behaviour]


@dataclass(slots=True)
class SimCall:
    """One dispatched call as the simulated agent sees it."""

    call_id: int
    agent_id: str
    orders: tuple[AttemptOrder, ...]
    dispatched_s: float
    outcomes: tuple[AttemptOutcome, ...] = ()
    urgent: bool = False
    # Bumped when its outcomes change (a stop request): an older delivery is void.
    version: int = 0
    # Its attempts that stop when asked.
    cooperative: frozenset[int] = frozenset()
    # Its attempts asked to stop before they started: their handlers never ran.
    never_started: frozenset[int] = frozenset()


@dataclass(slots=True)
class SimAgent:
    """One live simulated agent: a FIFO of calls and ``max_concurrency`` slots."""

    agent_id: str
    pool: AgentPoolSpec
    node_id: str | None = None
    queue: deque[SimCall] = field(default_factory=deque)
    running: dict[int, SimCall] = field(default_factory=dict)
    # Attempts asked to stop (preempted); those not started yet never run.
    stop: set[int] = field(default_factory=set)
    urgent_running: int = 0
