"""Preemption: a CRITICAL task that finds every agent of its pool busy takes one.

The rule, in three steps (each only ever touches attempts of tasks declared
``preemptible`` and of a lower priority than CRITICAL; nothing else is ever stopped):

1. **Urgent lane.** In a pool whose agents have one (the function pools, and agents that
   declare ``urgent_lane``), a CRITICAL task that finds every slot taken is sent at once
   to the lane of the least loaded agent busy with less urgent work (`Dispatcher`): it
   never waits behind lower-priority work already sent, batched or pipelined. The
   preemptible attempts on that agent are asked to stop, so that the CRITICAL task soon
   has the agent's CPUs to itself.
2. **Asked to stop.** When a CRITICAL task still waits (no lane free, or a pool without
   lanes), one agent of its pool whose every attempt is preemptible is chosen (the one
   with the fewest attempts, then the most recently started), and its attempts are asked
   to stop (`StopAttempts`): a running handler sees ``ctx.should_stop`` and raises
   `TaskPreempted` (``ctx.stop_if_requested()``); an attempt not started yet is handed
   back without running. One agent per pool at a time.
3. **Stopped.** If, ``preemption_grace_s`` later, a CRITICAL task still waits in that
   pool and the agent still runs what it was asked to stop, the agent is stopped (never
   one running a CRITICAL attempt).

A preempted attempt is re-queued without counting a failure: its task's failures, retry
budget and agent losses are untouched (its attempt number still goes up).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from orchestrator.core.commands import Command, StopAttempts
from orchestrator.core.records import AgentRecord, InFlight, PoolRecord, TaskRecord
from orchestrator.core.specs import Priority

#: The error type of an attempt that stopped because it was asked to (the agent host
#: reports it for a handler raising `orchestrator.agent.TaskPreempted`, or an attempt
#: handed back before it started).
PREEMPTED_ERROR = "TaskPreempted"

_CRITICAL = int(Priority.CRITICAL)


def take_request(asked: set[int], attempt_id: int) -> bool:
    """Return whether ``attempt_id`` is in ``asked`` (its outcome came); drop it from there."""
    if attempt_id in asked:
        asked.discard(attempt_id)
        return True
    return False


def critical_waits(pool: PoolRecord) -> bool:
    """Return whether a CRITICAL task waits at the head of ``pool``'s ready queue.

    Aging lifts tasks up to HIGH only, so a task queued at CRITICAL was submitted so.
    """
    return bool(pool.ready) and pool.ready.peek_key()[0] == _CRITICAL


def lane_takes_critical(agent: AgentRecord, running: Mapping[int, TaskRecord]) -> bool:
    """Return whether ``agent``'s urgent lane would take a CRITICAL task now.

    Its lane is free and it runs less urgent work (``running``: the task of each attempt
    in flight). Among CRITICAL tasks arrival order holds: they queue on the agent like
    any other work.
    """
    if agent.urgent_call is not None or agent.isolating or agent.draining:
        return False
    if agent.spoken_for:
        return False
    return any(
        task.priority > _CRITICAL
        for call in agent.calls
        for attempt_id in call.attempt_ids
        if (task := running.get(attempt_id)) is not None
    )


class Preemption:
    """Chooses what to stop for waiting CRITICAL tasks; see the module docstring.

    Args:
        in_flight: The attempts sent to agents (read only).
        grace_s: How long an asked attempt has before its agent is stopped.
    """

    def __init__(self, in_flight: InFlight, grace_s: float) -> None:
        self._in_flight = in_flight
        self._grace_s = grace_s
        #: Attempts asked to stop whose outcome has not come yet.
        self.asked: set[int] = set()
        # Per pool, the agent asked to make room and when its grace ends.
        self._pending: dict[PoolRecord, tuple[AgentRecord, float]] = {}

    def took(self, attempt_id: int) -> bool:
        """Return whether attempt ``attempt_id`` was asked to stop; forget the request."""
        return take_request(self.asked, attempt_id)

    def clear_for_urgent(self, agent: AgentRecord, task_id: str, out: list[Command]) -> None:
        """Ask ``agent``'s preemptible attempts to stop: a CRITICAL one runs in its lane."""
        victims = [
            attempt_id
            for call in agent.calls
            if not call.urgent
            for attempt_id in call.attempt_ids
            if attempt_id not in self.asked and self._preemptible(attempt_id)
        ]
        if victims:
            self._ask(agent, victims, f"CRITICAL task {task_id!r} runs in the urgent lane", out)

    def make_room(self, pool: PoolRecord, now_s: float, out: list[Command]) -> None:
        """Ask one agent of ``pool`` to stop its attempts: a CRITICAL task waits for it.

        Nothing happens while an agent asked earlier still runs what it was asked to
        stop, or when no agent runs only preemptible work.
        """
        pending = self._pending.get(pool)
        if pending is not None:
            agent, _ = pending
            if agent.agent_id in pool.agents and self._still_running_asked(agent):
                return
            del self._pending[pool]
        best: tuple[tuple[int, float], AgentRecord, list[int]] | None = None
        for agent in pool.agents.values():
            attempts = [attempt_id for call in agent.calls for attempt_id in call.attempt_ids]
            if not attempts or not all(self._preemptible(a) for a in attempts):
                continue
            started_s = max(self._started_s(a) for a in attempts)
            key = (len(attempts), -started_s)
            if best is None or key < best[0]:
                best = (key, agent, attempts)
        if best is None:
            return
        _, agent, attempts = best
        waiting = pool.ready.peek().task_id
        self._ask(agent, attempts, f"CRITICAL task {waiting!r} waits for an agent", out)
        self._pending[pool] = (agent, now_s + self._grace_s)

    def next_due_s(self) -> float | None:
        """Return when a grace period next ends, or None."""
        return min((due_s for _, due_s in self._pending.values()), default=None)

    def overdue(self, now_s: float) -> Iterable[AgentRecord]:
        """Yield the agents whose grace ended by ``now_s`` and that must be stopped.

        An agent is stopped only if a CRITICAL task still waits in its pool, it still
        runs an attempt it was asked to stop, and it runs no CRITICAL attempt.
        """
        for pool, (agent, due_s) in list(self._pending.items()):
            if now_s < due_s:
                continue
            del self._pending[pool]
            if (
                critical_waits(pool)
                and agent.agent_id in pool.agents
                and self._still_running_asked(agent)
                and not self._runs_critical(agent)
            ):
                yield agent

    def forget_agent(self, agent: AgentRecord) -> None:
        """Drop what was asked of ``agent`` (it is gone; its attempts were dealt with)."""
        for call in agent.calls:
            self.asked.difference_update(call.attempt_ids)
        pending = self._pending.get(agent.pool)
        if pending is not None and pending[0] is agent:
            del self._pending[agent.pool]

    def _ask(
        self, agent: AgentRecord, attempt_ids: list[int], reason: str, out: list[Command]
    ) -> None:
        self.asked.update(attempt_ids)
        out.append(
            StopAttempts(agent_id=agent.agent_id, attempt_ids=tuple(attempt_ids), reason=reason)
        )

    def _preemptible(self, attempt_id: int) -> bool:
        task = self._in_flight.tasks.get(attempt_id)
        if task is None or task.priority <= _CRITICAL:
            return False
        extras = task.extras
        return extras is not None and extras.preemptible

    def _started_s(self, attempt_id: int) -> float:
        task = self._in_flight.tasks.get(attempt_id)
        started_s = None if task is None else task.started_s
        return 0.0 if started_s is None else started_s

    def _still_running_asked(self, agent: AgentRecord) -> bool:
        asked = self.asked
        return any(a in asked for call in agent.calls for a in call.attempt_ids)

    def _runs_critical(self, agent: AgentRecord) -> bool:
        tasks = self._in_flight.tasks
        for call in agent.calls:
            for attempt_id in call.attempt_ids:
                task = tasks.get(attempt_id)
                if task is not None and task.priority == _CRITICAL:
                    return True
        return False
