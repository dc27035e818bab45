"""Helpers for the unit tests of the pure core: spec builders, a fake clock, a simulated runtime.

Nothing here imports Ray. The helpers reach the tests through fixtures (``spec``,
``clock``, ``make_sim``) rather than ``from conftest import ...``, which breaks as soon as
another test folder has a conftest of its own.

The simulated runtime (`SimRuntime`) plays the part of the Ray shell: it feeds events to a
`Scheduler`, executes the commands it gets back (starts agents, runs dispatched batches
on a fake clock, stops agents) and keeps a Jepsen-style ledger of every attempt, effect
and result, which the tests use as their oracle.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.core import (
    AgentLost,
    AgentPoolSpec,
    AgentSpec,
    AttemptOrder,
    AttemptOutcome,
    AttemptsFinished,
    ClusterObserved,
    DispatchBatch,
    FakeClock,
    NodeCapacity,
    PublishTaskEvents,
    PublishWorkflowEvent,
    Scheduler,
    SchedulerConfig,
    StartAgent,
    StopAgent,
    TaskEvent,
    TaskSpec,
    TaskState,
    Tick,
    WorkflowSpec,
    WorkflowSubmitted,
)

#: Where every fake clock starts: an arbitrary instant, not zero, like an epoch clock.
START_S = 1_000.0
#: A fixed instant for deadlines.
EPOCH = datetime(2030, 1, 1, tzinfo=UTC)


# -- spec builders ------------------------------------------------------------------------


class SpecBuilder:
    """Deterministic builders of tasks, agents, workflows and clusters."""

    epoch = EPOCH

    @staticmethod
    def task(task_id: str, agent: str | None = "worker", **fields: Any) -> TaskSpec:
        """Return a task run by ``agent`` (or by ``function=`` when given)."""
        if "function" in fields:
            agent = None
        return TaskSpec(id=task_id, agent=agent, **fields)

    @staticmethod
    def agent(name: str = "worker", **fields: Any) -> AgentSpec:
        """Return an agent of 1 CPU (by default) with a fake import path."""
        fields.setdefault("agent_class", f"tests.fake:{name.replace('-', '_')}")
        return AgentSpec(name=name, **fields)

    def workflow(
        self,
        *tasks: TaskSpec,
        agents: Iterable[AgentSpec] | None = None,
        workflow_id: str = "wf",
        name: str = "wf",
    ) -> WorkflowSpec:
        """Return a workflow; by default it declares every agent its tasks name (replicas=1)."""
        if agents is None:
            names = dict.fromkeys(t.agent for t in tasks if t.agent is not None)
            agents = [self.agent(n) for n in names]
        return WorkflowSpec(name=name, id=workflow_id, tasks=tuple(tasks), agents=tuple(agents))

    @staticmethod
    def chain(*ids: str, **fields: Any) -> list[TaskSpec]:
        """Return tasks ``ids[0] -> ids[1] -> ...`` (each depends on the previous one)."""
        tasks = []
        for index, task_id in enumerate(ids):
            deps = (ids[index - 1],) if index else ()
            tasks.append(SpecBuilder.task(task_id, depends_on=deps, **fields))
        return tasks

    @staticmethod
    def nodes(*cpus: float, num_gpus: float = 0.0, memory_bytes: int = 0) -> ClusterObserved:
        """Return a cluster observation with one node per entry of ``cpus``."""
        return ClusterObserved(
            nodes=tuple(
                NodeCapacity(
                    node_id=f"node-{i}",
                    num_cpus=n,
                    num_gpus=num_gpus,
                    memory_bytes=memory_bytes,
                )
                for i, n in enumerate(cpus)
            )
        )

    @staticmethod
    def deadline(minutes: float) -> datetime:
        """Return a time-zone aware deadline ``minutes`` after the fixed epoch."""
        return EPOCH + timedelta(minutes=minutes)


@pytest.fixture
def spec() -> SpecBuilder:
    """Builders of specs."""
    return SpecBuilder()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at `START_S`."""
    return FakeClock(START_S)


# -- commands -----------------------------------------------------------------------------


class Commands(list[Any]):
    """The commands of one `Scheduler.handle` call, with views by kind."""

    def of(self, kind: type[Any]) -> list[Any]:
        """Return the commands of one class."""
        return [c for c in self if isinstance(c, kind)]

    @property
    def dispatches(self) -> list[DispatchBatch]:
        """Every `DispatchBatch`."""
        return self.of(DispatchBatch)

    @property
    def orders(self) -> list[AttemptOrder]:
        """Every attempt order of every batch, in order."""
        return [order for batch in self.dispatches for order in batch.attempts]

    @property
    def dispatched_ids(self) -> list[str]:
        """Task ids of every attempt order, in order."""
        return [order.task_id for order in self.orders]

    def of_start(self) -> list[StartAgent]:
        """Every `StartAgent`, in order."""
        return self.of(StartAgent)

    @property
    def started(self) -> list[str]:
        """Ids of the agents started."""
        return [c.agent_id for c in self.of(StartAgent)]

    @property
    def stopped(self) -> list[str]:
        """Ids of the agents stopped."""
        return [c.agent_id for c in self.of(StopAgent)]

    def stopped_reasons(self) -> list[str]:
        """Reasons of the agents stopped, in order."""
        return [c.reason for c in self.of(StopAgent)]

    @property
    def task_events(self) -> list[TaskEvent]:
        """Every published task event, in order."""
        return [e for c in self.of(PublishTaskEvents) for e in c.events]

    @property
    def workflow_events(self) -> list[PublishWorkflowEvent]:
        """Every published workflow event."""
        return self.of(PublishWorkflowEvent)

    def states(self, task_id: str) -> list[TaskState]:
        """Return the states ``task_id`` was published entering, in order."""
        return [e.state for e in self.task_events if e.task_id == task_id]


def outcome(
    order: AttemptOrder,
    *,
    ok: bool = True,
    started_s: float,
    finished_s: float,
    error_type: str | None = None,
    retryable: bool = True,
) -> AttemptOutcome:
    """Return the outcome of ``order``; a failure gets a default error type and message."""
    if ok:
        return AttemptOutcome(order.attempt_id, True, started_s, finished_s)
    return AttemptOutcome(
        order.attempt_id,
        False,
        started_s,
        finished_s,
        error_type=error_type or "RuntimeError",
        error_message=f"{order.task_id} attempt {order.attempt} failed",
        traceback="Traceback (most recent call last): ...",
        retryable=retryable,
    )


class Driver:
    """A scheduler driven by hand: the test plays the runtime, one event at a time."""

    def __init__(self, config: SchedulerConfig | None = None, start_s: float = START_S) -> None:
        self.clock = FakeClock(start_s)
        self.scheduler = Scheduler(self.clock, config)

    def send(self, event: Any) -> Commands:
        """Hand ``event`` to the scheduler and return its commands."""
        return Commands(self.scheduler.handle(event))

    def submit(self, workflow: WorkflowSpec) -> Commands:
        """Submit ``workflow``."""
        return self.send(WorkflowSubmitted(workflow=workflow))

    def finish(
        self,
        *orders: AttemptOrder,
        ok: bool = True,
        duration_s: float = 1.0,
        error_type: str | None = None,
        retryable: bool = True,
    ) -> Commands:
        """Advance the clock by ``duration_s`` and report ``orders`` as ended then."""
        start_s = self.clock.now_s()
        self.clock.advance(duration_s)
        end_s = self.clock.now_s()
        outcomes = tuple(
            outcome(
                order,
                ok=ok,
                started_s=start_s,
                finished_s=end_s,
                error_type=error_type,
                retryable=retryable,
            )
            for order in orders
        )
        return self.send(AttemptsFinished(outcomes=outcomes))

    def tick(self, at_s: float | None = None) -> Commands:
        """Move the clock to ``at_s`` (if given) and send a `Tick`."""
        if at_s is not None:
            self.clock.set(at_s)
        return self.send(Tick())

    def state(self, task_id: str, workflow_id: str = "wf") -> TaskState:
        """Return the scheduler's state of one task."""
        return self.scheduler.task_info(workflow_id, task_id).state


@pytest.fixture
def driver() -> Driver:
    """A hand-driven scheduler with the default configuration."""
    return Driver()


@pytest.fixture
def make_driver() -> Callable[..., Driver]:
    """Factory of hand-driven schedulers: ``make_driver(SchedulerConfig(...))``."""
    return Driver


# -- simulated runtime ---------------------------------------------------------------------


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
    """

    duration_s: float = 0.01
    ok: bool = True
    retryable: bool = True
    hang: bool = False
    crash: bool = False


BehaviourFn = Callable[[AttemptOrder], Behaviour]


@dataclass(slots=True)
class SimCall:
    """One dispatched call as the simulated agent sees it."""

    call_id: int
    agent_id: str
    orders: tuple[AttemptOrder, ...]
    dispatched_s: float
    outcomes: tuple[AttemptOutcome, ...] = ()


@dataclass(slots=True)
class SimAgent:
    """One live simulated agent: a FIFO of calls and ``max_concurrency`` slots."""

    agent_id: str
    pool: AgentPoolSpec
    node_id: str | None = None
    queue: deque[SimCall] = field(default_factory=deque)
    running: dict[int, SimCall] = field(default_factory=dict)


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
        wasted_ticks: Ticks sent at a wakeup that an earlier tick at that time left in place.
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
    agents_started: list[str] = field(default_factory=list)
    agents_stopped: list[str] = field(default_factory=list)
    agents_killed: list[str] = field(default_factory=list)
    stale_deliveries: int = 0
    wasted_ticks: int = 0
    crashes: list[tuple[str, str, int]] = field(default_factory=list)
    in_flight_on_removal: int = 0
    input_losses: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    def attempts_of(self, workflow_id: str, task_id: str) -> list[AttemptOrder]:
        """Return every order of one task, in dispatch order."""
        return [
            o for _, _, o in self.attempts if o.workflow_id == workflow_id and o.task_id == task_id
        ]

    def execution_order(self) -> list[str]:
        """Return task ids in the order their attempts were dispatched."""
        return [o.task_id for _, _, o in self.attempts]


class SimRuntime:
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
        death_cause: str = "died",
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
        # The nodes last reported, and the node holding each result (of a node-bound agent).
        self.nodes: tuple[NodeCapacity, ...] = ()
        self.result_nodes: dict[tuple[str, str], str] = {}
        self.ledger = Ledger()
        self.agents: dict[str, SimAgent] = {}
        self.inflight: dict[str, set[int]] = defaultdict(set)
        self.specs: dict[str, WorkflowSpec] = {}
        self.steps = 0
        self._timeline: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    # -- driving ---------------------------------------------------------------------------

    def send(self, event: Any) -> Commands:
        """Hand ``event`` to the scheduler, execute the commands, check the invariants."""
        if isinstance(event, WorkflowSubmitted) and event.workflow.id is not None:
            self.specs.setdefault(event.workflow.id, event.workflow)
        if isinstance(event, ClusterObserved):
            self.nodes = event.nodes
        commands = Commands(self.scheduler.handle(event))
        self.steps += 1
        self.execute(commands)
        self._check_call_bound()
        return commands

    def submit(self, workflow: WorkflowSpec) -> Commands:
        """Submit ``workflow``."""
        return self.send(WorkflowSubmitted(workflow=workflow))

    def at(self, time_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` when the fake clock reaches ``time_s``."""
        heapq.heappush(self._timeline, (time_s, next(self._seq), action))

    def run(self, until_s: float = math.inf, max_steps: int = 1_000_000) -> None:
        """Deliver timeline events and ticks in time order until nothing is left to do.

        Stops when every workflow has ended and no timeline event is left, at ``until_s``,
        or when the scheduler asks for nothing more.
        """
        same_time_ticks = 0
        last_tick_s = math.nan
        for _ in range(max_steps):
            if not self._timeline and self.all_workflows_ended():
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

    def all_workflows_ended(self) -> bool:
        """Return whether every submitted workflow is in a terminal state."""
        return all(
            self.scheduler.workflow_status(w).state.is_terminal
            for w in self.scheduler.workflow_ids()
        )

    def kill(self, agent_id: str, *, cause: str = "died", stale: bool = False) -> Commands:
        """Kill an agent now and report it lost; ``stale`` lets its running calls report late."""
        agent = self.agents.pop(agent_id)
        self.ledger.agents_killed.append(agent_id)
        self.inflight.pop(agent_id, None)
        if stale:
            for call in agent.running.values():
                if call.outcomes:
                    end_s = call.outcomes[-1].finished_s
                    self.at(end_s, lambda call=call: self._deliver(call, stale=True))
        return self.send(AgentLost(agent_id=agent_id, cause=cause, reason="simulated"))  # type: ignore[arg-type]

    # -- executing commands ----------------------------------------------------------------

    def execute(self, commands: list[Any]) -> None:
        """Carry out ``commands``; task events first, as they happened before the dispatches."""
        for command in commands:
            if isinstance(command, PublishTaskEvents):
                self._record_task_events(command.events)
        for command in commands:
            if isinstance(command, StartAgent):
                if command.agent_id in self.agents:
                    self.ledger.violations.append(f"agent {command.agent_id} started twice")
                agent = SimAgent(command.agent_id, command.pool, command.node_id)
                self.agents[command.agent_id] = agent
                if self.nodes and command.node_id not in {n.node_id for n in self.nodes}:
                    self.ledger.violations.append(
                        f"agent {command.agent_id} placed on unknown node {command.node_id}"
                    )
                self.ledger.agents_started.append(command.agent_id)
            elif isinstance(command, StopAgent):
                self.ledger.agents_stopped.append(command.agent_id)
                self.agents.pop(command.agent_id, None)
                self.inflight.pop(command.agent_id, None)
            elif isinstance(command, DispatchBatch):
                self._accept(command)
            elif isinstance(command, PublishWorkflowEvent):
                self.ledger.workflow_events.append(command)

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

    def _record_task_events(self, events: Iterable[TaskEvent]) -> None:
        ledger = self.ledger
        for event in events:
            ledger.task_events.append(event)
            key = (event.workflow_id, event.task_id)
            if event.state is TaskState.PENDING and ledger.results[key]:
                self.voided.add(key)  # its result is void: it will be computed again
            if event.state is TaskState.SUCCEEDED:
                self.voided.discard(key)
                self.lost_results.discard(key)
                ledger.results[key] += 1
                ledger.success_s.setdefault(key, self.clock.now_s())
                if not ledger.effects.get((*key, event.attempt), False):
                    ledger.violations.append(
                        f"{key} succeeded with attempt {event.attempt}, which never succeeded"
                    )

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
                if ledger.results[dep_key] < 1 or dep_key in self.voided:
                    ledger.violations.append(
                        f"{order.task_id} dispatched at {now} before its dependency {dep} succeeded"
                    )
            key = (order.workflow_id, order.task_id)
            if ledger.results[key] and key not in self.voided:
                ledger.violations.append(f"{order.task_id} dispatched after it succeeded")
        self.inflight[batch.agent_id].add(batch.call_id)
        agent.queue.append(SimCall(batch.call_id, batch.agent_id, batch.attempts, now))
        self._pump(agent)

    def _pump(self, agent: SimAgent) -> None:
        """Start queued calls while the agent has a free slot."""
        while agent.queue and len(agent.running) < agent.pool.max_concurrency:
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
            behaviour = self.behaviour(order)
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
        self.at(time_s, lambda: self._deliver(call))

    def _die(self, agent_id: str, stale: bool, cause: str) -> None:
        if agent_id in self.agents:
            self.kill(agent_id, cause=cause, stale=stale)

    def _deliver(self, call: SimCall, *, stale: bool = False) -> None:
        agent = self.agents.get(call.agent_id)
        alive = agent is not None and call.call_id in agent.running
        if not alive and not stale:
            return  # the agent was stopped or died: the outcome never comes
        if not alive:
            self.ledger.stale_deliveries += len(call.outcomes)
        for done in call.outcomes:
            order = next(o for o in call.orders if o.attempt_id == done.attempt_id)
            key = (order.workflow_id, order.task_id)
            self.ledger.effects[(*key, order.attempt)] = done.ok
            if done.ok and agent is not None and agent.node_id is not None:
                self.result_nodes[key] = agent.node_id
            self.ledger.effect_times[key].append((done.started_s, done.finished_s))
        if agent is not None and alive:
            del agent.running[call.call_id]
            self.inflight[call.agent_id].discard(call.call_id)
        self.send(AttemptsFinished(outcomes=call.outcomes))
        if agent is not None and alive and agent.agent_id in self.agents:
            self._pump(agent)

    # -- invariants --------------------------------------------------------------------------

    def call_bound(self, pool: AgentPoolSpec) -> int:
        """Return the most calls the policy allows in flight on one agent of ``pool``."""
        return pool.max_concurrency + self.config.pipeline_depth

    def _check_call_bound(self) -> None:
        live = self.scheduler.agents()
        for agent_id, calls in self.inflight.items():
            agent = self.agents.get(agent_id)
            if agent is None or agent_id not in live:
                continue
            self.ledger.max_calls_seen = max(self.ledger.max_calls_seen, len(calls))
            if len(calls) > self.call_bound(agent.pool):
                self.ledger.violations.append(
                    f"{agent_id} has {len(calls)} calls in flight "
                    f"(bound {self.call_bound(agent.pool)})"
                )


@pytest.fixture
def make_sim() -> Callable[..., SimRuntime]:
    """Factory of simulated runtimes (see `SimRuntime` for the arguments)."""
    return SimRuntime


@pytest.fixture
def make_outcome() -> Callable[..., AttemptOutcome]:
    """The `outcome` builder."""
    return outcome


@pytest.fixture
def make_behaviour() -> type[Behaviour]:
    """The `Behaviour` class."""
    return Behaviour
