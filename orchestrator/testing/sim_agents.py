"""The simulated agents of `SimRuntime`: what an attempt does, calls and agents.

Kept apart from ``sim.py`` so that the runtime's module stays about what it does with
them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.core import AgentPoolSpec, AttemptOrder, AttemptOutcome
from orchestrator.core.preemption import PREEMPTED_ERROR


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


def hand_back_unstarted(call: SimCall, asked: set[int], now_s: float) -> float | None:
    """Make the attempts of running ``call`` in ``asked`` not started by ``now_s`` handed back.

    They come back unstarted (`TaskPreempted`, never run) when the attempt running at
    ``now_s`` ends, which is when the call now ends. Returns that time, or None when
    nothing changed (nothing asked is left to start, or the call never ends: a hang or a
    crash cut its outcomes short).
    """
    outcomes = list(call.outcomes)
    if len(outcomes) != len(call.orders):
        return None
    unstarted = [
        index
        for index, done in enumerate(outcomes)
        if done.started_s > now_s and done.attempt_id in asked
    ]
    if not unstarted:
        return None
    first = unstarted[0]
    end_s = outcomes[first - 1].finished_s if first else now_s
    for index in unstarted:
        outcomes[index] = outcomes[index]._replace(
            ok=False,
            started_s=end_s,
            finished_s=end_s,
            error_type=PREEMPTED_ERROR,
            error_message="handed back before it started",
            retryable=True,
        )
    # Those after the first handed back that were not asked run on, from ``end_s``.
    time_s = end_s
    for index in range(first, len(outcomes)):
        if index in unstarted:
            continue
        done = outcomes[index]
        length_s = done.finished_s - done.started_s
        outcomes[index] = done._replace(started_s=time_s, finished_s=time_s + length_s)
        time_s += length_s
    call.outcomes = tuple(outcomes)
    call.never_started |= {outcomes[index].attempt_id for index in unstarted}
    call.version += 1
    return time_s
