"""`Scheduler`: the pure state machine at the heart of the orchestrator.

``handle(event) -> list[Command]``. It owns every workflow and the life of every task. It
never does I/O, reads the time only through the injected clock, never imports Ray; the
runtime decodes what happened into events and carries out the commands. It coordinates:

- `TaskLifecycle` (``lifecycle.py``, every change through `move` and the table), with
  trigger rules and start times (``triggers.py``) and deadlines (``deadlines.py``);
- `AgentFleet` (``fleet.py``); `Dispatcher` (``dispatch.py``, ``batching.py``) with its
  gates (``gates.py``), limits (``limits.py``) and locks (``conflicts.py``);
- `Timers` (``timers.py``); `WorkflowBook` (``workflows.py``); `ScheduleBook`
  (``schedule_book.py``: cron, intervals, topics);
- policies and recoveries: ranks (``admission.py``), aging (``aging.py``), losses,
  recovery, dead letters, compensation, pausing, editing and checkpoints
  (``checkpoint_state.py``), each in its own module; the read-only queries are in
  ``scheduler_queries.py``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace
from typing import Never, NoReturn

from orchestrator.core import (
    aging,
    checkpoint_state,
    compensation,
    deadlines,
    editing,
    pausing,
    recovery,
)
from orchestrator.core.admission import (
    Preparation,
    make_task_records,
    prepare,
    workflow_record,
)
from orchestrator.core.admitting import Admission, Admissions, TaskPools
from orchestrator.core.batching import BatchPolicy
from orchestrator.core.clock import Clock
from orchestrator.core.commands import Command
from orchestrator.core.config import SchedulerConfig
from orchestrator.core.dead_letters import DeadLetterQueue
from orchestrator.core.dispatch import Dispatcher
from orchestrator.core.durations import DurationBook, Lookup
from orchestrator.core.errors import Problem, WorkflowRejectedError
from orchestrator.core.events import (
    AdmissionContinued,
    AgentLost,
    AttemptsFinished,
    AttemptsProgressed,
    ClusterObserved,
    DeadLettersPurgeRequested,
    DeadLettersRequeueRequested,
    Event,
    MessagePublished,
    ScheduleAdded,
    ScheduleRemoved,
    ScheduleRestored,
    Tick,
    WorkflowCancelRequested,
    WorkflowEdited,
    WorkflowPauseRequested,
    WorkflowReleaseRequested,
    WorkflowRestored,
    WorkflowResumeRequested,
    WorkflowSubmitted,
)
from orchestrator.core.fleet import AgentFleet
from orchestrator.core.lifecycle import TaskLifecycle
from orchestrator.core.limits import LimitGroup, limits_of
from orchestrator.core.losses import charge_for
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.pools import function_pool
from orchestrator.core.preemption import PREEMPTED_ERROR
from orchestrator.core.rank_learning import RankLearner
from orchestrator.core.records import InFlight, WorkflowRecord
from orchestrator.core.schedule_book import ScheduleBook
from orchestrator.core.scheduler_queries import SchedulerQueries
from orchestrator.core.states import TaskState
from orchestrator.core.timers import Timers
from orchestrator.core.validation import (
    WorkflowFit,
)
from orchestrator.core.workflows import WorkflowBook

_PENDING = TaskState.PENDING
_READY = TaskState.READY
_RUNNING = TaskState.RUNNING


class Scheduler(SchedulerQueries):
    """Decides what runs where and when; see the module docstring."""

    def __init__(self, clock: Clock, config: SchedulerConfig | None = None) -> None:
        self._clock = clock
        self._config = config = config or SchedulerConfig()
        in_flight = InFlight()  # the dispatcher's; the timers read it to skip stale entries
        self._timers = Timers(in_flight)
        self._fleet = AgentFleet(clock, config.idle_agent_timeout_s)
        #: What each kind of task took (`durations`), when the config learns durations.
        self.durations = DurationBook(config.duration_smoothing)
        learning = config.learn_durations
        self._rank_learner = (
            RankLearner(self.durations) if learning and config.rank_by_critical_path else None
        )
        self._dispatcher = Dispatcher(
            clock,
            BatchPolicy(config, self.durations if learning else None),
            self._fleet,
            self._timers,
            in_flight,
            urgent_lane=config.urgent_lane,
            preemption_grace_s=config.preemption_grace_s,
            durations=self.durations if learning else None,
        )
        self._dirty_pools = self._fleet.dirty
        self._dead_letters = DeadLetterQueue()
        self._book = WorkflowBook(self._dead_letters, config.max_finished_workflows)
        self._workflows = self._book.workflows
        self._schedules = ScheduleBook()
        self._tenants: dict[str, LimitGroup] = {}
        self._next_aging_s = clock.now_s() + (config.aging_s or 0.0) / 4
        limit = config.max_running_attempts
        self._global_limit = None if limit is None else LimitGroup("global", limit)
        self._life = TaskLifecycle(
            clock,
            self._timers,
            self._dispatcher,
            self._fleet,
            self._dead_letters,
            self._finish_workflow,
        )
        self._admissions = Admissions(
            self._life, self._timers.add_deadline, self._watch, self._finish_workflow
        )

    # -- entry point ---------------------------------------------------------------------

    def handle(self, event: Event) -> list[Command]:
        """Apply ``event`` and return the commands it calls for.

        Raises:
            WorkflowRejectedError: for a `WorkflowSubmitted` that fails validation; nothing
                of it is kept.
            KeyError: for a `WorkflowReleaseRequested` naming an unknown workflow.
            ValueError: for a `WorkflowReleaseRequested` of a workflow still running.
            TypeError: for an object that is not an event.
        """
        out: list[Command] = []
        try:
            match event:
                case AttemptsFinished() | AttemptsProgressed() | AgentLost() | Tick():
                    self._on_fact(event, out)
                case ClusterObserved():
                    for pool in self._fleet.observe(event.nodes):
                        self._life.fail_infeasible(pool, out)
                case (
                    WorkflowSubmitted()
                    | WorkflowCancelRequested()
                    | WorkflowReleaseRequested()
                    | DeadLettersRequeueRequested()
                    | DeadLettersPurgeRequested()
                    | WorkflowPauseRequested()
                    | WorkflowResumeRequested()
                ):
                    self._on_request(event, out)
                case AdmissionContinued():
                    slice_tasks = None if event.whole else self._config.admission_slice_tasks
                    self._admissions.advance(event.workflow_id, slice_tasks, out)
                case WorkflowRestored():
                    self._on_workflow_restored(event, out)
                case WorkflowEdited():
                    self._on_workflow_edited(event, out)
                case ScheduleAdded() | ScheduleRemoved() | ScheduleRestored() | MessagePublished():
                    self._on_schedules(event, out)
                case _:
                    _refuse(event)
            # What happened is published before what it causes (the dispatches).
            self._life.flush_events(out)
            learner = self._rank_learner
            if learner is not None and learner.due():
                learner.rerank(self._dirty_pools)
            while self._dirty_pools:
                self._dispatcher.dispatch(out)
        finally:
            self._life.flush_events(out)
        return out

    # -- events --------------------------------------------------------------------------

    def _on_fact(
        self,
        event: AttemptsFinished | AttemptsProgressed | AgentLost | Tick,
        out: list[Command],
    ) -> None:
        """Apply what happened on the cluster: attempts ended or progressed, agents lost."""
        match event:
            case AttemptsFinished():
                self._on_attempts_finished(event, out)
            case Tick():
                self._on_tick(out)
            case AgentLost():
                self._on_agent_lost(event, out)
            case AttemptsProgressed():
                self._on_attempts_progressed(event)
            case _:
                _refuse(event)

    def _on_request(
        self,
        event: WorkflowSubmitted
        | WorkflowCancelRequested
        | WorkflowReleaseRequested
        | DeadLettersRequeueRequested
        | DeadLettersPurgeRequested
        | WorkflowPauseRequested
        | WorkflowResumeRequested,
        out: list[Command],
    ) -> None:
        """Apply what a user asked for (to a workflow whose admission it completes first)."""
        if not isinstance(event, WorkflowSubmitted | WorkflowReleaseRequested):
            workflow_id = event.workflow_id
            if workflow_id is not None:
                self._admissions.complete(workflow_id, out)
        match event:
            case WorkflowSubmitted():
                self._on_workflow_submitted(event, out)
            case WorkflowCancelRequested():
                self._on_cancel_requested(event, out)
            case WorkflowReleaseRequested():
                self._book.release(event.workflow_id, out)
            case DeadLettersRequeueRequested():
                self._on_requeue_requested(event, out)
            case DeadLettersPurgeRequested():
                self._dead_letters.purge(event.workflow_id, event.task_ids)
            case WorkflowPauseRequested():
                workflow = self._book.require(event.workflow_id)
                pausing.pause(workflow, event.stop_running, self._life, self._dispatcher, out)
            case WorkflowResumeRequested():
                pausing.resume(self._book.require(event.workflow_id), self._fleet, out)
            case _:
                _refuse(event)

    def _on_workflow_submitted(self, event: WorkflowSubmitted, out: list[Command]) -> None:
        workflow = event.workflow
        spec = workflow if isinstance(workflow, PackedWorkflow) else PackedWorkflow.pack(workflow)
        now_s = self._clock.now_s()
        unknown = set(event.cached) - {row.id for row in spec.rows} if event.cached else ()
        if unknown:
            problem = Problem("cached", f"no such tasks: {sorted(unknown)}")
            raise WorkflowRejectedError(spec.id or spec.name, [problem])
        record, task_pools, ranks = self._admit(spec, now_s, out, event.prepared)
        admission = Admission(record, spec.rows, task_pools, ranks, event.cached, now_s)
        slice_tasks = self._config.admission_slice_tasks if event.in_slices else None
        self._admissions.start(admission, slice_tasks, out)

    def _on_workflow_restored(self, event: WorkflowRestored, out: list[Command]) -> None:
        spec = event.workflow
        record, task_pools, ranks = self._admit(spec, self._clock.now_s(), out)
        for task in make_task_records(record, spec.rows, task_pools[:], ranks):
            self._timers.add_deadline(task.deadline_s, task)
        self._watch(record)
        life = self._life
        missing = event.missing_results
        if checkpoint_state.apply(record, event.progress, life, self._dead_letters, out, missing):
            self._book.keep_finished(record)
        elif record.open_tasks == 0:  # it had ended but not closed (its compensations)
            self._finish_workflow(record, out)

    def _on_schedules(
        self,
        event: ScheduleAdded | ScheduleRemoved | ScheduleRestored | MessagePublished,
        out: list[Command],
    ) -> None:
        """Apply what concerns recurring and triggered workflows (see `schedule_book`)."""
        now_s = self._clock.now_s()
        match event:
            case ScheduleAdded():  # its runs are validated as this template is
                self._validate(replace(event.workflow, id=f"{event.schedule.name}@template"))
                self._schedules.add(event.schedule, event.workflow, now_s, out)
            case ScheduleRemoved():
                self._schedules.remove(event.name, out)
            case ScheduleRestored():
                self._schedules.restore(event.schedule, event.workflow, event.state)
            case MessagePublished():
                deliver = self._schedules.deliver
                deliver(event.topic, event.payload, now_s, self._still_running, out)
            case _:
                _refuse(event)

    def _on_workflow_edited(self, event: WorkflowEdited, out: list[Command]) -> None:
        self._admissions.complete(event.workflow_id, out)
        workflow = self._book.require(event.workflow_id)
        edit = editing.edit
        config, fleet, life = self._config, self._fleet, self._life
        for task_id in edit(workflow, event.additions, config, fleet, life, out, event.edges):
            task = workflow.tasks[task_id]
            if task.deadline_s != math.inf:
                self._timers.add_deadline(task.deadline_s, task)

    def _admit(
        self,
        spec: PackedWorkflow,
        now_s: float,
        out: list[Command],
        prepared: Preparation | None = None,
    ) -> tuple[WorkflowRecord, TaskPools, dict[str, float]]:
        """Validate ``spec`` and keep its record, its tasks counted; no task record yet.

        ``prepared``: its `Preparation`, made beforehand (ignored if made for another spec).
        Returns the record, each row's pool and the tasks' ranks (to make the records).

        Raises:
            WorkflowRejectedError: it fails validation; nothing of it is kept.
        """
        preparation, fit = self._validate(spec, prepared)
        fleet = self._fleet
        # Admitted: from here on nothing can fail.
        pools = {key: fleet.define(pool_spec, out) for key, pool_spec in fit.pools.items()}
        counts = {pools[key]: count for key, count in fit.pool_counts.items()}
        config = self._config
        graph = preparation.structure.graph
        record = workflow_record(
            spec, graph, counts, now_s, config.tenant_weights, config.fair_burst_s
        )
        record.limits = limits_of(spec, self._config, self._tenants, self._global_limit)
        self._book.add(record)
        return record, TaskPools(fit.task_pools, pools), preparation.ranks

    def _watch(self, record: WorkflowRecord) -> None:
        """Let the rank learner watch a workflow whose task records are all made."""
        if self._rank_learner is not None:
            self._rank_learner.watch(record)

    def _validate(
        self, spec: PackedWorkflow, prepared: Preparation | None = None
    ) -> tuple[Preparation, WorkflowFit]:
        """Return ``spec``'s preparation and fit. Raises `WorkflowRejectedError` naming all."""
        config, fleet = self._config, self._fleet
        if prepared is None or prepared.spec is not spec:
            prepared = prepare(spec, config.rank_by_critical_path, self.learned_lookup())
        structure = prepared.structure
        known = self._workflows.keys()
        fit, fit_problems = fleet.check_fit(spec, structure, config, known, prepared.placement)
        problems = [*prepared.problems, *fit_problems]
        if problems:
            raise WorkflowRejectedError(spec.id or spec.name, problems)
        return prepared, fit

    def _on_cancel_requested(self, event: WorkflowCancelRequested, out: list[Command]) -> None:
        workflow = self._workflows.get(event.workflow_id)
        if workflow is None or workflow.state.is_terminal:
            return
        workflow.cancel_reason = event.reason
        self._life.cancel_all(workflow, event.reason, out)

    def _on_requeue_requested(self, event: DeadLettersRequeueRequested, out: list[Command]) -> None:
        workflow = self._book.require(event.workflow_id)
        requeued = self._dead_letters.take(event.workflow_id, event.task_ids)
        if requeued:
            self._book.reopen(workflow, f"re-queued {len(requeued)} dead letter(s)", out)
            recovery.requeue(self._life, workflow, requeued, out)

    def _on_attempts_finished(self, event: AttemptsFinished, out: list[Command]) -> None:
        now = self._clock.now_s()
        close = self._dispatcher.close
        preemption = self._dispatcher.preemption
        hand_back = self._dispatcher.hand_back
        for outcome in event.outcomes:
            asked_to_stop = bool(preemption.asked) and preemption.took(outcome.attempt_id)
            handed_back = bool(hand_back.asked) and hand_back.took(outcome.attempt_id)
            task = close(outcome, now)
            if task is None:
                continue  # stale: cancelled, timed out or lost before the outcome came
            if outcome.ok:
                self._life.succeed(task, out)
            elif outcome.lost_inputs:
                recovery.recompute_inputs(self._life, task, outcome.lost_inputs, out)
            elif (asked_to_stop or handed_back) and outcome.error_type == PREEMPTED_ERROR:
                why = "preempted" if asked_to_stop else "handed back unstarted (another waits)"
                self._life.make_ready(task, out, f"{why}; re-queued (not a failure)")
            else:
                self._life.fail_attempt(task, outcome, out)

    def _on_attempts_progressed(self, event: AttemptsProgressed) -> None:
        running_task = self._dispatcher.running_task
        for progress in event.progress:
            task = running_task(progress.attempt_id)
            if task is not None:  # a late report of an attempt given up on is ignored
                if progress.reported:
                    task.last_heartbeat = progress.details
                task.last_progress_s = progress.at_s

    def _on_agent_lost(self, event: AgentLost, out: list[Command]) -> None:
        agent = self._fleet.agents.get(event.agent_id)
        if agent is None:
            return
        if event.cause == "node_lost":  # before a replacement is placed on that node
            for pool in self._fleet.node_lost(agent):
                self._life.fail_infeasible(pool, out)
        self._life.lose_agent(agent, event.cause, event.reason, charge_for(event.cause), out)

    def _on_tick(self, out: list[Command]) -> None:
        now = self._clock.now_s()
        # Timeouts first: a retry they schedule with no backoff is then due in this tick.
        for attempt_id, task in self._timers.due_timeouts(now):
            if task.state is _RUNNING:
                self._life.time_out(task, attempt_id, out)
            else:  # cancelled, and still occupying its agent past its timeout
                reason = f"cancelled task {task.task_id!r} ran past its timeout"
                agent = self._dispatcher.agent_of(attempt_id)
                self._life.lose_agent(agent, "stopped", reason, "none", out)
        for attempt_id, task in self._timers.due_silences(now):
            self._life.check_silence(task, attempt_id, out)
        for task in self._timers.due_closes(now):
            self._life.close_timeout(task, out)
        for task in self._timers.due_retries(now):
            self._life.make_ready(task, out)
        for task in self._timers.due_starts(now):
            self._life.make_ready(task, out)
        for task in self._timers.due_deadlines(now):
            deadlines.miss(task, self._life, out)
        for agent in self._dispatcher.preemption.overdue(now):
            reason = f"preemptible work did not stop within {self._config.preemption_grace_s:g}s"
            self._life.lose_agent(agent, "stopped", reason, "none", out)
        self._dispatcher.reopen_gates(now)
        self._fleet.retire_idle(now, out)
        self._schedules.fire_due(now, self._still_running, out)
        aging_s = self._config.aging_s
        if aging_s is not None and now >= self._next_aging_s:
            self._next_aging_s = now + aging_s / 4
            self._dirty_pools.update(aging.age(self._fleet.pools.values(), now, aging_s))

    def _still_running(self, workflow_id: str) -> bool:
        return self._book.still_running(workflow_id)

    def _finish_workflow(self, workflow: WorkflowRecord, out: list[Command]) -> None:
        """Publish the end of ``workflow`` (its last task ended); release the oldest kept.

        A failed workflow with tasks to compensate runs their compensations first.
        """
        if compensation.wanted(workflow):
            config = self._config
            spec = function_pool(
                config.default_function_resources,
                config.max_function_replicas,
                config.default_breaker,
            )
            self._life.compensate(workflow, self._fleet.define(spec, out), out)
            return
        workflow.compensations = workflow.compensations or deque()
        if self._rank_learner is not None:
            self._rank_learner.forget(workflow)
        self._book.close(workflow, self._clock.now_s(), out)

    # -- queries -------------------------------------------------------------------------

    def learned_lookup(self) -> Lookup | None:
        """Return the lookup of learned durations by kind, or None when nothing is learnt.

        A dict lookup: `admission.prepare` may call it from another thread.
        """
        return self.durations.lookup() if self._config.learn_durations else None

    def next_wakeup_s(self) -> float | None:
        """Return when a `Tick` is next needed (timers, idle agents, gates), or None."""
        due = (
            self._timers.next_due_s(),
            self._fleet.next_retire_s(),
            self._dispatcher.next_gate_s(),
            self._dispatcher.preemption.next_due_s(),
            self._dispatcher.next_prefetch_s(),
            self._schedules.next_due_s(),
            self._next_aging_due_s(),
        )
        return min((due_s for due_s in due if due_s is not None), default=None)

    def _next_aging_due_s(self) -> float | None:
        aged = self._config.aging_s is not None and aging.has_waiting(self._fleet.pools.values())
        return self._next_aging_s if aged else None


def _refuse(event: Never) -> NoReturn:
    """Refuse what is not an event; typed so that mypy reports an event type left out above."""
    raise TypeError(f"not a scheduler event: {event!r}")
