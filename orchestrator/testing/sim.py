"""`SimRuntime`: plays the Ray shell on a fake clock, with faults, and keeps a `Ledger`.

It feeds events to a `Scheduler`, executes the commands that come back (starts agents,
runs dispatched batches on the fake clock, stops agents) and records every attempt,
effect and result. Faults are drawn from a seeded random generator (agent deaths, late
results, lost results), or scripted (`Behaviour`: slow, failing, hanging or crashing
attempts; `kill`, `remove_node`, `lose_result`).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import assert_never

from orchestrator.core import (
    AgentLost,
    AttemptOrder,
    AttemptOutcome,
    AttemptsFinished,
    ClusterObserved,
    Command,
    DispatchBatch,
    Event,
    FakeClock,
    NodeCapacity,
    PublishPoolEvent,
    PublishTaskEvents,
    PublishWorkflowEvent,
    ReleaseWorkflow,
    Scheduler,
    SchedulerConfig,
    StartAgent,
    StopAgent,
    Tick,
    WorkflowSpec,
    WorkflowSubmitted,
)
from orchestrator.core.commands import PublishScheduleEvent, StopAttempts, SubmitScheduledRun
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.events import LossCause
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.preemption import PREEMPTED_ERROR
from orchestrator.testing.driving import Commands, outcome
from orchestrator.testing.ledger import Ledger
from orchestrator.testing.sim_agents import (
    Behaviour,
    BehaviourFn,
    SimAgent,
    SimCall,
    hand_back_unstarted,
)
from orchestrator.testing.sim_checks import SimChecks
from orchestrator.testing.specs import START_S


class SimRuntime(SimChecks):
    """Executes scheduler commands on a fake clock, like the Ray shell would.

    Agents start at once. Each runs up to ``max_concurrency`` calls at a time, FIFO; the
    attempts of a call run one after the other and their outcomes are reported together
    when the call ends. Ticks are sent when `Scheduler.next_wakeup_s` asks for them.

    Every attempt takes ``duration_s`` and succeeds unless ``behaviour`` says otherwise.
    Faults, drawn from ``rng``: ``death_rate`` is the chance that an agent dies during a
    call it starts (the runtime then reports `AgentLost`); ``stale_rate`` is the chance
    that such a dead agent's call still reports its outcome afterwards (a late message the
    scheduler must ignore).
    """

    def __init__(
        self,
        config: SchedulerConfig | None = None,
        behaviour: BehaviourFn | None = None,
        *,
        clock: FakeClock | None = None,
        rng: random.Random | None = None,
        duration_s: float = 0.01,
        death_rate: float = 0.0,
        stale_rate: float = 0.0,
        death_cause: LossCause = "died",
        result_loss_rate: float = 0.0,
    ) -> None:
        self.config = config or SchedulerConfig()
        self.clock = clock or FakeClock(START_S)
        self.scheduler = Scheduler(self.clock, self.config)
        default = Behaviour(duration_s)
        self.behaviour: BehaviourFn = behaviour or (lambda order: default)
        self.rng = rng or random.Random(0)
        self.death_rate = death_rate
        self.stale_rate = stale_rate
        self.death_cause = death_cause
        self.result_loss_rate = result_loss_rate
        # Results lost (their node died): an attempt needing one cannot fetch it.
        self.lost_results: set[tuple[str, str]] = set()
        # Results declared void by the scheduler (a SUCCEEDED task back to PENDING).
        self.voided: set[tuple[str, str]] = set()
        # Tasks whose last state is failed, skipped or cancelled.
        self.ended_without_success: set[tuple[str, str]] = set()
        # The nodes last reported, and the node holding each result (of a node-bound agent).
        self.nodes: tuple[NodeCapacity, ...] = ()
        self.result_nodes: dict[tuple[str, str], str] = {}
        self.ledger = Ledger()
        self.agents: dict[str, SimAgent] = {}
        self.inflight: dict[str, set[int]] = defaultdict(set)
        self.specs: dict[str, WorkflowSpec] = {}
        self.function_cores: dict[tuple[str, str], float | None] = {}
        self.steps = 0
        self._timeline: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = itertools.count()

    # -- driving ---------------------------------------------------------------------------

    def send(self, event: Event) -> Commands:
        """Hand ``event`` to the scheduler, execute the commands, check the invariants."""
        workflow = event.workflow if isinstance(event, WorkflowSubmitted) else None
        if isinstance(workflow, WorkflowSpec) and workflow.id is not None:
            self.specs.setdefault(workflow.id, workflow)
        if isinstance(event, ClusterObserved):
            self.nodes = event.nodes
        commands = Commands(self.scheduler.handle(event))
        self.steps += 1
        self.execute(commands)
        self._check_call_bound()
        self._check_cores()
        return commands

    def submit(self, workflow: WorkflowSpec) -> Commands:
        """Submit ``workflow``."""
        return self.send(WorkflowSubmitted(workflow=workflow))

    def at(self, time_s: float, action: Callable[[], object]) -> None:
        """Run ``action`` when the fake clock reaches ``time_s``."""
        heapq.heappush(self._timeline, (time_s, next(self._seq), action))

    def run(self, until_s: float = math.inf, max_steps: int = 1_000_000) -> None:
        """Deliver timeline events and ticks in time order until nothing is left to do.

        Stops when every workflow has ended, no timeline event is left and no schedule
        will fire again, at ``until_s``, or when the scheduler asks for nothing more.
        """
        same_time_ticks = 0
        last_tick_s = math.nan
        for _ in range(max_steps):
            if not self._timeline and self.all_workflows_ended() and not self._scheduled():
                return
            next_event_s = self._timeline[0][0] if self._timeline else math.inf
            wakeup = self.scheduler.next_wakeup_s()
            next_tick_s = math.inf if wakeup is None else wakeup
            when = min(next_event_s, next_tick_s)
            if when == math.inf or when > until_s:
                if until_s != math.inf:
                    self.clock.set(max(until_s, self.clock.now_s()))
                return
            self.clock.set(max(when, self.clock.now_s()))
            if next_event_s <= next_tick_s:
                _, _, action = heapq.heappop(self._timeline)
                action()
                continue
            assert wakeup is not None  # the tick is the earliest thing to do
            same_time_ticks = self._tick(wakeup, last_tick_s, same_time_ticks)
            last_tick_s = wakeup
        raise AssertionError(f"simulation did not settle within {max_steps} steps")

    def drain(self) -> None:
        """Run to the end, then tick until the scheduler wants no more ticks (idle agents)."""
        self.run()
        same_time_ticks = 0
        last_tick_s = math.nan
        for _ in range(1000):
            wakeup = self.scheduler.next_wakeup_s()
            if wakeup is None:
                return
            self.clock.set(max(wakeup, self.clock.now_s()))
            same_time_ticks = self._tick(wakeup, last_tick_s, same_time_ticks)
            last_tick_s = wakeup
        raise AssertionError("the scheduler never stopped asking for ticks")

    def _tick(self, wakeup: float | None, last_tick_s: float, repeats: int) -> int:
        """Send the `Tick` the scheduler asked for; return how often this wakeup repeated.

        A tick should consume what it was asked for. When the same wakeup comes back, the
        tick did nothing (see `test_a_tick_at_the_reported_wakeup_retires_the_idle_agent`):
        the repeat is counted in ``ledger.wasted_ticks`` and the clock nudged by 1 us, as a
        real clock would move on; a wakeup that still does not go away is a livelock.
        """
        repeats = repeats + 1 if wakeup == last_tick_s else 0
        if repeats:
            self.ledger.wasted_ticks += 1
            if repeats > 3:
                raise AssertionError(f"scheduler keeps asking for a tick at {wakeup}")
            self.clock.advance(1e-6)
        self.send(Tick())
        return repeats

    def _scheduled(self) -> bool:
        """Return whether a schedule will fire again (a run then waits until ``until_s``)."""
        return bool(self.scheduler.schedules())

    def all_workflows_ended(self) -> bool:
        """Return whether every submitted workflow is in a terminal state."""
        return all(
            self.scheduler.workflow_status(w).state.is_terminal
            for w in self.scheduler.workflow_ids()
        )

    def kill(self, agent_id: str, *, cause: LossCause = "died", stale: bool = False) -> Commands:
        """Kill an agent now and report it lost; ``stale`` lets its running calls report late."""
        agent = self.agents.pop(agent_id)
        self.ledger.agents_killed.append(agent_id)
        self.ledger.queued_on_death += sum(len(call.orders) for call in agent.queue)
        self.inflight.pop(agent_id, None)
        if stale:
            for call in agent.running.values():
                if call.outcomes:
                    self.at(call.outcomes[-1].finished_s, self._late_delivery(call))
        return self.send(AgentLost(agent_id=agent_id, cause=cause, reason="simulated"))

    def _late_delivery(self, call: SimCall) -> Callable[[], None]:
        return lambda: self._deliver(call, stale=True)

    # -- executing commands ----------------------------------------------------------------

    def execute(self, commands: list[Command]) -> None:
        """Carry out ``commands``; task events first, as they happened before the dispatches.

        Every command type is handled (a `match` ending in `assert_never`): a command the
        simulation does not know is a type error, as in the real supervisor.
        """
        for command in commands:
            if isinstance(command, PublishTaskEvents):
                self._record_task_events(command.events)
        for command in commands:
            match command:
                case StartAgent():
                    self._start_agent(command)
                case StopAgent():
                    self.ledger.agents_stopped.append(command.agent_id)
                    self.agents.pop(command.agent_id, None)
                    self.inflight.pop(command.agent_id, None)
                case DispatchBatch():
                    self._accept(command)
                case StopAttempts():
                    self._stop_attempts(command)
                case PublishWorkflowEvent():
                    self.ledger.workflow_events.append(command)
                case SubmitScheduledRun():
                    # Submitted as a driver would, once this round of commands is done.
                    self.ledger.scheduled_runs.append((command.fire_s, command.workflow.id))
                    self.at(self.clock.now_s(), partial(self._submit_run, command.workflow))
                case PublishScheduleEvent():
                    self.ledger.schedule_events.append(command)
                case PublishTaskEvents() | PublishPoolEvent() | ReleaseWorkflow():
                    pass  # task events are recorded above; the rest needs no action here
                case _:
                    assert_never(command)

    def _submit_run(self, workflow: PackedWorkflow) -> None:
        try:
            self.send(WorkflowSubmitted(workflow=workflow))
        except WorkflowRejectedError as exc:
            self.ledger.violations.append(f"scheduled run {workflow.id} refused: {exc}")

    def _start_agent(self, command: StartAgent) -> None:
        if command.agent_id in self.agents:
            self.ledger.violations.append(f"agent {command.agent_id} started twice")
        self.agents[command.agent_id] = SimAgent(command.agent_id, command.pool, command.node_id)
        self.ledger.agents_started.append(command.agent_id)
        if self.nodes and command.node_id not in {node.node_id for node in self.nodes}:
            self.ledger.violations.append(
                f"agent {command.agent_id} placed on unknown node {command.node_id}"
            )

    def remove_node(self, node_id: str) -> Commands:
        """Take a node out of the cluster: its agents die, the results it held are lost."""
        doomed = [a.agent_id for a in self.agents.values() if a.node_id == node_id]
        self.ledger.in_flight_on_removal += sum(
            len(call.orders)
            for a in doomed
            for call in (*self.agents[a].queue, *self.agents[a].running.values())
        )
        for key, holder in self.result_nodes.items():
            if holder == node_id:
                self.lost_results.add(key)
        commands = Commands()
        for agent_id in doomed:
            commands.extend(self.kill(agent_id, cause="node_lost"))
        remaining = tuple(node for node in self.nodes if node.node_id != node_id)
        commands.extend(self.send(ClusterObserved(nodes=remaining)))
        return commands

    def lose_result(self, workflow_id: str, task_id: str) -> None:
        """Lose a task's result, as if the node holding it died."""
        self.lost_results.add((workflow_id, task_id))

    def _lost_inputs(self, order: AttemptOrder) -> tuple[str, ...]:
        lost = self.lost_results
        for dep in order.inputs:
            key = (order.workflow_id, dep)
            if self.result_loss_rate and self.rng.random() < self.result_loss_rate:
                lost.add(key)
        return tuple(dep for dep in order.inputs if (order.workflow_id, dep) in lost)

    def _accept(self, batch: DispatchBatch) -> None:
        ledger = self.ledger
        now = self.clock.now_s()
        agent = self.agents.get(batch.agent_id)
        if agent is None:
            ledger.violations.append(f"call {batch.call_id} sent to unknown agent {batch.agent_id}")
            return
        ledger.batch_sizes.append(len(batch.attempts))
        for order in batch.attempts:
            ledger.attempts.append((now, batch.agent_id, order))
            for dep in order.inputs:
                dep_key = (order.workflow_id, dep)
                succeeded = ledger.results[dep_key] >= 1 and dep_key not in self.voided
                # A trigger rule other than the default lets a task run after its
                # dependency failed or was skipped: it must have ended, at least.
                if not succeeded and dep_key not in self.ended_without_success:
                    ledger.violations.append(
                        f"{order.task_id} dispatched at {now} before its dependency {dep} ended"
                    )
            key = (order.workflow_id, order.task_id)
            if ledger.results[key] and key not in self.voided:
                ledger.violations.append(f"{order.task_id} dispatched after it succeeded")
        self.inflight[batch.agent_id].add(batch.call_id)
        call = SimCall(batch.call_id, batch.agent_id, batch.attempts, now, urgent=batch.urgent)
        if batch.urgent:  # its own lane: it starts at once, beside the others
            if not agent.pool.urgent_lane or agent.urgent_running:
                ledger.violations.append(f"urgent call {batch.call_id} to {agent.agent_id}")
            agent.urgent_running += 1
            agent.running[call.call_id] = call
            self._start(agent, call)
            return
        agent.queue.append(call)
        self._pump(agent)

    def _stop_attempts(self, command: StopAttempts) -> None:
        """Ask attempts to stop: cooperative running ones end soon, queued ones never run."""
        agent = self.agents.get(command.agent_id)
        if agent is None:
            return
        asked = set(command.attempt_ids)
        agent.stop.update(asked)  # those queued never start
        if command.unstarted_only:  # handed back: the running attempts go on
            self.ledger.hand_back_requests.extend(command.attempt_ids)
            for call in list(agent.running.values()):
                end_s = hand_back_unstarted(call, asked, self.clock.now_s())
                if end_s is not None:
                    self.at(end_s, partial(self._deliver, call, version=call.version))
            return
        self.ledger.stop_requests.extend(command.attempt_ids)
        for call in list(agent.running.values()):
            if len(call.orders) != 1 or not (asked & call.cooperative):
                continue
            [order] = call.orders
            end_s = self.clock.now_s() + self.behaviour(order).stop_delay_s
            [done] = call.outcomes
            call.outcomes = (
                outcome(
                    order, ok=False, started_s=done.started_s, finished_s=end_s, retryable=True
                )._replace(error_type=PREEMPTED_ERROR, error_message="stopped on request"),
            )
            call.version += 1
            self.at(end_s, partial(self._deliver, call, version=call.version))

    def _pump(self, agent: SimAgent) -> None:
        """Start queued calls while the agent has a free slot."""
        while (
            agent.queue and len(agent.running) - agent.urgent_running < agent.pool.max_concurrency
        ):
            call = agent.queue.popleft()
            agent.running[call.call_id] = call
            self._start(agent, call)

    def _start(self, agent: SimAgent, call: SimCall) -> None:
        time_s = self.clock.now_s()
        outcomes = []
        for order in call.orders:
            lost = self._lost_inputs(order)
            if lost:
                self.ledger.input_losses.append((order.workflow_id, order.task_id, lost))
                outcomes.append(
                    AttemptOutcome(
                        order.attempt_id,
                        False,
                        time_s,
                        time_s,
                        error_type="InputLost",
                        error_message=f"inputs {lost} lost",
                        lost_inputs=lost,
                    )
                )
                continue
            if order.attempt_id in agent.stop:  # asked to stop before it started
                preempted = outcome(order, ok=False, started_s=time_s, finished_s=time_s)
                outcomes.append(preempted._replace(error_type=PREEMPTED_ERROR))
                call.never_started |= {order.attempt_id}
                continue
            if order.run_if is not None and not order.run_if(dict.fromkeys(order.inputs)):
                # A conditional task whose predicate answers false (the simulated agent
                # has no results: the predicate is given None for each upstream).
                self.ledger.condition_skips.append((order.workflow_id, order.task_id))
                outcomes.append(
                    AttemptOutcome(
                        order.attempt_id,
                        False,
                        time_s,
                        time_s,
                        error_type="ConditionNotMet",
                        error_message="run_if answered False",
                        retryable=False,
                        skipped=True,
                    )
                )
                continue
            behaviour = self.behaviour(order)
            if behaviour.stops_when_asked:
                call.cooperative |= {order.attempt_id}
            if behaviour.crash:
                self.ledger.crashes.append((order.workflow_id, order.task_id, order.attempt))
                call.outcomes = tuple(outcomes)
                self.at(time_s, lambda: self._die(agent.agent_id, False, "died"))
                return  # the process is gone: no outcome of this call ever comes
            if behaviour.hang:
                call.outcomes = tuple(outcomes)
                return  # the call never ends: only a timeout (StopAgent) or a death frees it
            end_s = time_s + behaviour.duration_s
            outcomes.append(
                outcome(
                    order,
                    ok=behaviour.ok,
                    started_s=time_s,
                    finished_s=end_s,
                    retryable=behaviour.retryable,
                )
            )
            time_s = end_s
        call.outcomes = tuple(outcomes)
        start_s = self.clock.now_s()
        if self.death_rate and self.rng.random() < self.death_rate:
            die_s = start_s + (time_s - start_s) * self.rng.random()
            stale = self.rng.random() < self.stale_rate
            self.at(die_s, lambda: self._die(agent.agent_id, stale, self.death_cause))
        self.at(time_s, partial(self._deliver, call, version=call.version))

    def _die(self, agent_id: str, stale: bool, cause: LossCause) -> None:
        if agent_id in self.agents:
            self.kill(agent_id, cause=cause, stale=stale)

    def _deliver(self, call: SimCall, *, stale: bool = False, version: int = 0) -> None:
        if version != call.version:
            return  # its outcomes changed since (a stop request): a newer delivery comes
        agent = self.agents.get(call.agent_id)
        alive = agent is not None and call.call_id in agent.running
        if not alive and not stale:
            return  # the agent was stopped or died: the outcome never comes
        if not alive:
            self.ledger.stale_deliveries += len(call.outcomes)
        for done in call.outcomes:
            if done.skipped:
                continue  # its run_if answered false
            order = next(o for o in call.orders if o.attempt_id == done.attempt_id)
            key = (order.workflow_id, order.task_id)
            if done.attempt_id in call.never_started:  # stopped or handed back first
                self.ledger.unstarted.append((*key, order.attempt))
                continue
            self.ledger.effects[(*key, order.attempt)] = done.ok
            if done.error_type == PREEMPTED_ERROR:
                self.ledger.preempted.append((*key, order.attempt))
            if done.ok and agent is not None and agent.node_id is not None:
                self.result_nodes[key] = agent.node_id
            self.ledger.effect_times[key].append((done.started_s, done.finished_s))
        if agent is not None and alive:
            del agent.running[call.call_id]
            agent.urgent_running -= call.urgent
            self.inflight[call.agent_id].discard(call.call_id)
        self.send(AttemptsFinished(outcomes=call.outcomes))
        if agent is not None and alive and agent.agent_id in self.agents:
            self._pump(agent)
