"""Handing back: a long call gives back what it has not started when another workflow waits.

A workflow without dependencies alone in its pool gets long calls (``independent_batch_s``,
`batching`), each agent's next one prefetched behind its running one (`prefetch`). A
workflow that starts waiting in that pool would wait for what is left of the running call
on an agent and then for the call queued behind it, tens of milliseconds where its own
tasks may take a few.

Instead, when a pool goes from one workflow waiting to more than one, each of its calls
longer than ``after_s`` (the pool's short-call target; attempts times their expected
duration) is asked once for the attempts it has not started (`StopAttempts` with
``unstarted_only``): the agent finishes the attempt it is running, returns the others
unstarted at once, and the scheduler re-queues them (behind their workflow's waiting
tasks of the same priority) without counting a failure (like a preempted attempt: its
attempt number still goes up).
With two workflows waiting the batch policy sends short calls, so the newcomer's tasks
go out at the next free slot and share it by fair queuing. Only the change asks: while
the pool stays contested its calls are short, and asking again would only send them
back and forth.

Only calls that the task now at the head of the pool's queue would have waited for are
asked: of another workflow, and no more urgent than that task. A BACKGROUND workflow that
starts waiting beside HIGH work does not take its place, so nothing is handed back.
Urgent-lane calls, single attempts and calls of unknown length are never asked.
Requests whose outcome never comes (the agent died) are forgotten with their agent.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.core.commands import Command, StopAttempts
from orchestrator.core.preemption import take_request
from orchestrator.core.records import AgentRecord, PoolRecord, TaskRecord


class HandBack:
    """Asks a contested pool's long calls for their unstarted attempts; see the module doc.

    Args:
        after_s: A call longer than this is asked.
        running: The task of each attempt in flight (`InFlight.tasks`).
        enabled: False: nothing is ever asked (``scheduler.hand_back_batches``).
    """

    __slots__ = ("_after_s", "_contested", "_running", "asked", "enabled")

    def __init__(self, after_s: float, running: Mapping[int, TaskRecord], *, enabled: bool) -> None:
        self._after_s = after_s
        self._running = running
        self.enabled = enabled
        #: Attempts asked to be handed back whose outcome has not come yet.
        self.asked: set[int] = set()
        # Pools where more than one workflow waited when last looked at.
        self._contested: set[PoolRecord] = set()

    def watch(self, pool: PoolRecord, out: list[Command]) -> None:
        """Look at ``pool`` (about to be dispatched); `contest` it if it just became so.

        Only the change asks: while it stays contested, its calls are short (the batch
        policy's), so asking again would only send them back and forth.
        """
        if not self.enabled:
            return
        if pool.ready.waiting_flows() > 1:
            if pool not in self._contested:
                self._contested.add(pool)
                self.contest(pool, out)
        elif self._contested:
            self._contested.discard(pool)

    def contest(self, pool: PoolRecord, out: list[Command]) -> None:
        """Ask ``pool``'s long calls for their unstarted attempts (those not asked before)."""
        if not pool.ready:
            return
        head = pool.ready.peek()
        asked = self.asked
        for agent in pool.agents.values():
            for call in agent.calls:
                if call.urgent or call.open_attempts < 2 or call.attempt_ids[-1] in asked:
                    continue
                task = self._running.get(call.attempt_ids[0])
                if task is None or task.workflow is head.workflow or task.priority < head.priority:
                    continue  # the head would not have waited for it
                # Its length, not its expected end: on a busy machine calls run late, and
                # one expected to be nearly done may not have started half its attempts.
                each_s = task.estimate_s or task.pool.ewma_task_s
                if each_s is None or each_s * len(call.attempt_ids) <= self._after_s:
                    continue  # a short call: it ends about as soon as a hand-back would
                asked.update(call.attempt_ids)
                out.append(
                    StopAttempts(
                        agent_id=agent.agent_id,
                        attempt_ids=call.attempt_ids,
                        reason="another workflow waits: hand back what has not started",
                        unstarted_only=True,
                    )
                )

    def took(self, attempt_id: int) -> bool:
        """Return whether ``attempt_id`` was asked to be handed back; forget the request."""
        return take_request(self.asked, attempt_id)

    def forget_agent(self, agent: AgentRecord) -> None:
        """Drop what was asked of ``agent`` (it is gone; its attempts were dealt with)."""
        if self.asked:
            for call in agent.calls:
                self.asked.difference_update(call.attempt_ids)
