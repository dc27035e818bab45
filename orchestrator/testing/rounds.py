"""Lean runners that drive a `Scheduler` to the end on a fake clock, for benchmarks.

`SimRuntime` records everything for an oracle; these record almost nothing, so that what
a benchmark times is the scheduler, not the simulation:

- `run_rounds`: every round, all calls in flight finish together (one `AttemptsFinished`
  carrying their outcomes, as the supervisor batches what completed since it last woke).
- `run_events`: event driven; each attempt takes its own duration, an agent runs its calls
  one after the other, and ticks are sent when the scheduler asks for them: the makespan
  the scheduler's policy reaches with no runtime overhead.

Both execute commands through a `match` ending in `assert_never`, like the supervisor.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import assert_never

from orchestrator.core import (
    AttemptOrder,
    AttemptOutcome,
    AttemptsFinished,
    Command,
    DispatchBatch,
    FakeClock,
    PublishPoolEvent,
    PublishTaskEvents,
    PublishWorkflowEvent,
    ReleaseWorkflow,
    Scheduler,
    StartAgent,
    StopAgent,
    Tick,
)
from orchestrator.core.commands import PublishScheduleEvent, StopAttempts, SubmitScheduledRun

#: The defaults of the fields of a successful `AttemptOutcome` after its first four.
_OK = AttemptOutcome(0, True, 0.0, 0.0)[4:]
_new_outcome = tuple.__new__


@dataclass(frozen=True, slots=True)
class RoundsRun:
    """What `run_rounds` saw.

    Attributes:
        dispatched: Attempts dispatched.
        rounds: `AttemptsFinished` events sent.
        calls: `DispatchBatch` commands received.
    """

    dispatched: int
    rounds: int
    calls: int


def run_rounds(
    scheduler: Scheduler, clock: FakeClock, first: list[Command], task_s: float
) -> RoundsRun:
    """Drive ``scheduler`` from the commands ``first`` until a workflow ends.

    Every attempt succeeds after ``task_s`` of fake time; the attempts of a call run one
    after the other.

    Raises:
        RuntimeError: the scheduler stopped dispatching before a workflow ended.
    """
    in_flight: list[DispatchBatch] = []
    dispatched = rounds = calls = 0
    commands = first
    while True:
        finished = False
        for command in commands:
            match command:
                case DispatchBatch():
                    in_flight.append(command)
                    dispatched += len(command.attempts)
                    calls += 1
                case PublishWorkflowEvent():
                    finished = True
                case (
                    PublishTaskEvents()
                    | StartAgent()
                    | StopAgent()
                    | StopAttempts()
                    | PublishPoolEvent()
                    | ReleaseWorkflow()
                    | SubmitScheduledRun()
                    | PublishScheduleEvent()
                ):
                    pass  # agents start at once; events and schedules are not played here
                case _:
                    assert_never(command)
        if finished:
            return RoundsRun(dispatched, rounds, calls)
        if not in_flight:
            raise RuntimeError(f"the scheduler stalled after {dispatched} attempts")
        now = clock.now_s()
        outcomes = []
        longest_s = 0.0
        for batch in in_flight:
            started_s = now
            for order in batch.attempts:
                # `AttemptOutcome`'s fields, without its Python-level constructor (as
                # lean as the supervisor's decoding: what is timed is the scheduler).
                ended_s = started_s + task_s
                outcomes.append(
                    _new_outcome(AttemptOutcome, (order.attempt_id, True, started_s, ended_s, *_OK))
                )
                started_s += task_s
            longest_s = max(longest_s, started_s - now)
        in_flight.clear()
        clock.advance(longest_s)
        rounds += 1
        commands = scheduler.handle(AttemptsFinished(outcomes=tuple(outcomes)))


def run_events(
    scheduler: Scheduler,
    clock: FakeClock,
    first: list[Command],
    duration_s: Mapping[str, float] | Callable[[AttemptOrder], float],
    *,
    max_idle_ticks: int = 3,
) -> float:
    """Drive ``scheduler`` event by event until a workflow ends; return the fake time then.

    Args:
        scheduler: The scheduler, a workflow submitted.
        clock: Its clock.
        first: The commands of the submission.
        duration_s: Each attempt's duration, by task id or as a function of its order.
        max_idle_ticks: Ticks in a row with no attempt ending before giving up on them.

    Raises:
        RuntimeError: the scheduler stopped dispatching before the workflow ended.
    """
    duration = duration_s if callable(duration_s) else (lambda order: duration_s[order.task_id])
    busy_until: dict[str, float] = {}
    ends: list[tuple[float, int, tuple[AttemptOutcome, ...]]] = []
    sequence = itertools.count()

    def execute(commands: list[Command]) -> bool:
        finished = False
        for command in commands:
            match command:
                case DispatchBatch():
                    started_s = max(clock.now_s(), busy_until.get(command.agent_id, 0.0))
                    outcomes = []
                    for order in command.attempts:
                        ended_s = started_s + duration(order)
                        outcomes.append(AttemptOutcome(order.attempt_id, True, started_s, ended_s))
                        started_s = ended_s
                    busy_until[command.agent_id] = started_s
                    heapq.heappush(ends, (started_s, next(sequence), tuple(outcomes)))
                case StopAgent():
                    busy_until.pop(command.agent_id, None)
                case PublishWorkflowEvent():
                    finished = True
                case (
                    StartAgent()
                    | StopAttempts()
                    | PublishTaskEvents()
                    | PublishPoolEvent()
                    | ReleaseWorkflow()
                    | SubmitScheduledRun()
                    | PublishScheduleEvent()
                ):
                    pass
                case _:
                    assert_never(command)
        return finished

    if execute(first):
        return clock.now_s()
    idle_ticks = 0
    while ends:
        next_end_s = ends[0][0]
        wakeup_s = scheduler.next_wakeup_s()
        if wakeup_s is not None and wakeup_s < next_end_s and idle_ticks < max_idle_ticks:
            clock.set(max(wakeup_s, clock.now_s()))
            idle_ticks += 1
            if execute(scheduler.handle(Tick())):
                return clock.now_s()
            continue
        idle_ticks = 0
        clock.set(max(next_end_s, clock.now_s()))
        outcomes: list[AttemptOutcome] = []
        while ends and ends[0][0] <= next_end_s:
            outcomes.extend(heapq.heappop(ends)[2])
        if execute(scheduler.handle(AttemptsFinished(outcomes=tuple(outcomes)))):
            return clock.now_s()
    raise RuntimeError("the scheduler stopped dispatching before the workflow ended")
