"""`Ledger`: everything a simulated run did, the oracle of Jepsen-style tests."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from orchestrator.core import AttemptOrder, PublishWorkflowEvent, TaskEvent
from orchestrator.core.commands import PublishScheduleEvent


@dataclass(slots=True)
class Ledger:
    """Everything that happened, for the oracle.

    Attributes:
        attempts: ``(dispatch time, agent id, order)`` of every attempt handed out.
        batch_sizes: Attempts in each call, in dispatch order.
        effects: ``(workflow, task, attempt number) -> ok`` of every attempt that ran to
            its end on an agent, whether or not its outcome reached the scheduler.
        effect_times: ``(workflow, task) -> [(started_s, finished_s)]`` of those effects.
        results: ``(workflow, task) -> number of SUCCEEDED events`` published.
        success_s: ``(workflow, task) -> time`` of the (first) SUCCEEDED event.
        task_events: Every task event, in order.
        workflow_events: Every workflow event, in order.
        violations: Broken invariants seen while running (should stay empty).
        max_calls_seen: Most calls in flight seen on one agent.
        agents_started: Every agent id started.
        agents_stopped: Every agent id stopped by the scheduler.
        agents_killed: Every agent id the simulation killed.
        stale_deliveries: Outcomes delivered after their agent was reported lost.
        crashes: ``(workflow, task, attempt number)`` of each attempt that killed its agent.
        in_flight_on_removal: Attempts sent to the agents of removed nodes and not ended
            when their node went (the re-executions a node loss may cost).
        input_losses: ``(workflow, task, lost inputs)`` of each attempt that could not
            fetch an upstream result.
        condition_skips: ``(workflow, task)`` of each attempt whose ``run_if`` answered
            false (the task was not run).
        wasted_ticks: Ticks sent at a wakeup that an earlier tick at that time left in place.
        scheduled_runs: ``(fire time, run id)`` of each run a schedule asked for.
        schedule_events: Every schedule event (added, removed, fired, skipped).
        stop_requests: The attempt ids the scheduler asked to stop (preemption).
        preempted: ``(workflow, task, attempt number)`` of each attempt that ended
            because it was asked to stop.
        queued_on_death: Attempts in calls an agent held but had not started (pipelined
            or prefetched) when the simulation killed it.
        unstarted: ``(workflow, task, attempt number)`` of each attempt whose outcome came
            back without its handler having run (asked to stop, or handed back, first).
        hand_back_requests: The attempt ids the scheduler asked to hand back if unstarted.
    """

    attempts: list[tuple[float, str, AttemptOrder]] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    effects: dict[tuple[str, str, int], bool] = field(default_factory=dict)
    effect_times: dict[tuple[str, str], list[tuple[float, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    results: Counter[tuple[str, str]] = field(default_factory=Counter)
    success_s: dict[tuple[str, str], float] = field(default_factory=dict)
    task_events: list[TaskEvent] = field(default_factory=list)
    workflow_events: list[PublishWorkflowEvent] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    max_calls_seen: int = 0
    stop_requests: list[int] = field(default_factory=list)
    preempted: list[tuple[str, str, int]] = field(default_factory=list)
    unstarted: list[tuple[str, str, int]] = field(default_factory=list)
    hand_back_requests: list[int] = field(default_factory=list)
    agents_started: list[str] = field(default_factory=list)
    agents_stopped: list[str] = field(default_factory=list)
    agents_killed: list[str] = field(default_factory=list)
    stale_deliveries: int = 0
    wasted_ticks: int = 0
    crashes: list[tuple[str, str, int]] = field(default_factory=list)
    in_flight_on_removal: int = 0
    queued_on_death: int = 0
    input_losses: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    condition_skips: list[tuple[str, str]] = field(default_factory=list)
    scheduled_runs: list[tuple[float, str | None]] = field(default_factory=list)
    schedule_events: list[PublishScheduleEvent] = field(default_factory=list)

    def attempts_of(self, workflow_id: str, task_id: str) -> list[AttemptOrder]:
        """Return every order of one task, in dispatch order."""
        return [
            o for _, _, o in self.attempts if o.workflow_id == workflow_id and o.task_id == task_id
        ]

    def execution_order(self) -> list[str]:
        """Return task ids in the order their attempts were dispatched."""
        return [o.task_id for _, _, o in self.attempts]
