"""Gangs: a k-core function task runs on k agents of the 1-CPU function pool on one node.

No agent is started or stopped to change shape when 1- and k-core functions mix; the k-1
partners take no other work while the task runs; a waiting gang holds agents as they free
so that 1-core work cannot starve it, but only while it is the more urgent work.
"""

from __future__ import annotations

from typing import Any

from orchestrator.core import (
    AgentLost,
    AttemptOrder,
    AttemptsFinished,
    Priority,
    RetryPolicy,
    SchedulerConfig,
    StartAgent,
    TaskState,
    Tick,
    WorkflowCancelRequested,
    WorkflowSubmitted,
)
from orchestrator.core.pools import gang_size
from orchestrator.core.resources import ResourceSpec
from orchestrator.testing import Commands, Driver, outcome

BASE = "functions[cpu=1,gpu=0,mem=0]"
TWO = {"num_cpus": 2}


class Cluster:
    """A hand-driven scheduler that remembers where each agent is and what runs on it."""

    def __init__(self, driver: Driver, spec: Any, *cpus: float) -> None:
        self.driver = driver
        self.spec = spec
        self.node_of: dict[str, str | None] = {}
        self.orders: dict[str, AttemptOrder] = {}
        self.agent_of: dict[str, str] = {}
        self.starts = 0
        self.stops = 0
        self.send(spec.nodes(*cpus))

    def send(self, event: Any) -> Commands:
        commands = self.driver.send(event)
        for start in commands.of(StartAgent):
            assert start.pool.key == BASE, f"{start.pool.key} agent started"
            self.node_of[start.agent_id] = start.node_id
        self.starts += len(commands.started)
        self.stops += len(commands.stopped)
        for batch in commands.dispatches:
            for order in batch.attempts:
                self.orders[order.task_id] = order
                self.agent_of[order.task_id] = batch.agent_id
        return commands

    def submit(self, workflow_id: str, *tasks: Any) -> Commands:
        workflow = self.spec.workflow(*tasks, workflow_id=workflow_id, name=workflow_id)
        return self.send(WorkflowSubmitted(workflow=workflow))

    def finish(self, *task_ids: str, duration_s: float = 1.0) -> Commands:
        start_s = self.driver.clock.now_s()
        self.driver.clock.advance(duration_s)
        end_s = self.driver.clock.now_s()
        outcomes = tuple(
            outcome(self.orders[task_id], started_s=start_s, finished_s=end_s)
            for task_id in task_ids
        )
        return self.send(AttemptsFinished(outcomes=outcomes))

    def node(self, task_id: str) -> str | None:
        return self.node_of[self.agent_of[task_id]]


def fn(task_id: str, spec: Any, **fields: Any) -> Any:
    return spec.task(task_id, function="pkg.mod:work", **fields)


def test_gang_size_takes_whole_multiples_of_cpu_only_shapes() -> None:
    base = ResourceSpec(num_cpus=1)
    assert gang_size(ResourceSpec(num_cpus=2), base) == 2
    assert gang_size(ResourceSpec(num_cpus=4), base) == 4
    assert gang_size(ResourceSpec(num_cpus=1.5), base) is None
    assert gang_size(ResourceSpec(num_cpus=2, num_gpus=1), base) is None
    assert gang_size(ResourceSpec(num_cpus=2, memory_bytes=1 << 30), base) is None  # Ray
    assert gang_size(ResourceSpec(num_cpus=2, custom={"db": 1}), base) is None
    assert gang_size(ResourceSpec(num_cpus=2, node_labels={"zone": "a"}), base) is None
    assert gang_size(ResourceSpec(num_cpus=2, placement="spread"), base) is None
    # memory scales with the CPUs when the base declares some
    with_memory = ResourceSpec(num_cpus=1, memory_bytes=100)
    assert gang_size(ResourceSpec(num_cpus=3, memory_bytes=300), with_memory) == 3
    assert gang_size(ResourceSpec(num_cpus=3, memory_bytes=100), with_memory) is None


def test_a_gang_waits_for_free_agents_on_one_node_then_reserves_them(spec: Any) -> None:
    # Given nodes of 3 and 1 CPUs, all four busy with 1-core tasks
    cluster = Cluster(Driver(), spec, 3, 1)
    cluster.submit("fill", *(fn(f"a{i}", spec) for i in range(4)))
    assert cluster.starts == 4
    by_node: dict[str | None, list[str]] = {}
    for task_id in ("a0", "a1", "a2", "a3"):
        by_node.setdefault(cluster.node(task_id), []).append(task_id)
    small_node = next(node for node, tasks in by_node.items() if len(tasks) == 1)
    [on_small] = by_node[small_node]
    on_big = [t for tasks in by_node.values() if len(tasks) == 3 for t in tasks]
    # When a 2-core task arrives, it waits: no agent starts (the cluster is full)
    assert cluster.submit("big", fn("big", spec, resources=TWO)).dispatched_ids == []
    # Nor when the 1-CPU node's agent frees, nor when one agent of the 3-CPU node does:
    # two free agents on two nodes are no gang
    assert cluster.finish(on_small).dispatched_ids == []
    assert cluster.finish(on_big[0]).dispatched_ids == []
    # Then when a second agent of the 3-CPU node frees, it runs there
    assert cluster.finish(on_big[1]).dispatched_ids == ["big"]
    assert cluster.node("big") != small_node
    # And its partner takes no other work: one 1-core task runs on the small node's
    # agent, the next waits, although one agent of the big node looks idle
    more = cluster.submit("more", fn("c", spec), fn("d", spec))
    assert more.dispatched_ids == ["c"]
    assert cluster.node("c") == small_node
    # Until the 2-core task ends: its two agents take d at once
    assert cluster.finish("big").dispatched_ids == ["d"]
    # And no agent was started or stopped to change shape
    assert (cluster.starts, cluster.stops) == (4, 0)


def test_mixed_1_and_2_core_functions_never_oversubscribe_nor_churn(spec: Any) -> None:
    # Given 4 CPUs and a chain of rounds alternating 1-core and 2-core tasks
    cluster = Cluster(Driver(), spec, 4)
    tasks = []
    previous: list[str] = []
    for round_index in range(6):
        cores = 2 if round_index % 2 else 1
        ids = [f"r{round_index}t{i}" for i in range(4 // cores + 1)]
        for task_id in ids:
            fields: dict[str, Any] = {"depends_on": previous}
            if cores == 2:
                fields["resources"] = TWO
            tasks.append(fn(task_id, spec, **fields))
        previous = ids
    cluster.submit("mix", *tasks)
    cores_of = {t.id: (t.resources.num_cpus if t.resources else 1.0) for t in tasks}
    running: set[str] = set(cluster.orders)
    done: set[str] = set()
    # When the tasks finish one at a time, oldest first
    while running:
        assert sum(cores_of[t] for t in running) <= 4  # never more cores than the node has
        oldest = min(running, key=lambda t: cluster.orders[t].attempt_id)
        before = set(cluster.orders)
        cluster.finish(oldest)
        done.add(oldest)
        running = (running - {oldest}) | (set(cluster.orders) - before)
    # Then everything ran, on the 4 agents started at first and no other
    assert len(done) == len(tasks)
    assert all(cluster.driver.state(t.id, "mix") is TaskState.SUCCEEDED for t in tasks)
    assert (cluster.starts, cluster.stops) == (4, 0)


def test_a_waiting_gang_holds_agents_as_they_free_so_1_core_work_cannot_starve_it(
    spec: Any,
) -> None:
    # Given 4 CPUs busy with 1-core tasks and a long queue of 1-core work behind them
    cluster = Cluster(Driver(), spec, 4)
    cluster.submit("stream", *(fn(f"s{i}", spec) for i in range(40)))
    # When an urgent 2-core task arrives
    cluster.submit("big", fn("big", spec, resources=TWO, priority=Priority.HIGH))
    # Then the first agent to free takes no 1-core task (held), the second starts the gang
    running = [t for t in cluster.orders if t.startswith("s")]
    assert cluster.finish(running[0]).dispatched_ids == []
    assert cluster.finish(running[1]).dispatched_ids == ["big"]
    assert cluster.starts == 4


def test_a_less_urgent_gang_does_not_idle_agents_that_more_urgent_work_can_use(
    spec: Any,
) -> None:
    # Given 4 CPUs busy with urgent 1-core tasks and more urgent ones queued
    cluster = Cluster(Driver(), spec, 4)
    urgent = [fn(f"u{i}", spec, priority=Priority.HIGH) for i in range(8)]
    cluster.submit("urgent", *urgent)
    # When a less urgent 2-core task waits, a freed agent goes to the next urgent task
    cluster.submit("big", fn("big", spec, resources=TWO, priority=Priority.LOW))
    assert cluster.finish("u0").dispatched_ids == ["u4"]
    # And the gang runs once the urgent work is done
    cluster.finish("u1", "u2", "u3")
    cluster.finish("u4", "u5", "u6")
    assert "big" in cluster.orders
    assert cluster.starts == 4


def test_a_lost_partner_keeps_its_cpu_held_until_the_gang_ends(spec: Any) -> None:
    # Given a 2-core task running on 2 agents of a 2-CPU node
    cluster = Cluster(Driver(), spec, 2)
    cluster.submit("big", fn("big", spec, resources=TWO))
    assert cluster.starts == 2
    runner = cluster.agent_of["big"]
    [partner] = [agent for agent in cluster.node_of if agent != runner]
    cluster.submit("small", fn("c", spec))
    # When the partner dies
    lost = cluster.send(AgentLost(agent_id=partner, cause="died", reason="oom"))
    # Then the 2-core task keeps running, and no agent takes the dead one's CPU meanwhile
    assert lost.started == []
    assert lost.dispatched_ids == []
    assert cluster.driver.state("big", "big") is TaskState.RUNNING
    # Until it ends: its runner takes the next task, and the CPU may host a new agent
    ended = cluster.finish("big")
    assert ended.dispatched_ids == ["c"]
    assert cluster.agent_of["c"] == runner


def test_a_lost_runner_frees_its_partners_and_the_task_runs_again(spec: Any) -> None:
    cluster = Cluster(Driver(), spec, 2)
    cluster.submit("big", fn("big", spec, resources=TWO))
    runner = cluster.agent_of["big"]
    [partner] = [agent for agent in cluster.node_of if agent != runner]
    # When the runner dies, the task is re-queued and forms a gang again: the partner
    # and one new agent (in the dead runner's CPU)
    lost = cluster.send(AgentLost(agent_id=runner, cause="killed", reason="ray.kill"))
    assert lost.started != []
    assert lost.dispatched_ids == ["big"]
    assert cluster.orders["big"].attempt == 2
    assert cluster.agent_of["big"] in {partner, *lost.started}


def test_a_gang_task_blamed_for_its_runner_s_death_runs_again_as_a_gang(spec: Any) -> None:
    # Given a 2-core task with a retry on a 2-CPU node
    cluster = Cluster(Driver(), spec, 2)
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.5)
    cluster.submit("big", fn("big", spec, resources=TWO, retry=retry))
    runner = cluster.agent_of["big"]
    # When its runner dies while running it alone, it is charged and becomes a suspect
    cluster.send(AgentLost(agent_id=runner, cause="died", reason="segfault"))
    assert cluster.driver.state("big", "big") is TaskState.RETRY_WAIT
    # Then after its backoff it runs again, ganged as before, on the partner and one new
    # agent (in the dead runner's CPU)
    cluster.driver.clock.advance(0.5)
    retried = cluster.send(Tick())
    assert retried.dispatched_ids == ["big"]
    assert cluster.orders["big"].attempt == 2
    assert cluster.starts == 3


def test_a_gang_task_held_back_by_a_concurrency_limit_reserves_nothing(spec: Any) -> None:
    # Given 4 CPUs and a workflow of two 2-core tasks that may run one at a time
    cluster = Cluster(Driver(), spec, 4)
    limited = spec.workflow(
        fn("big1", spec, resources=TWO),
        fn("big2", spec, resources=TWO),
        workflow_id="limited",
        name="limited",
    ).model_copy(update={"max_concurrency": 1})
    first = cluster.send(WorkflowSubmitted(workflow=limited))
    assert len(first.dispatched_ids) == 1
    # When 1-core work arrives, it gets the two agents the held-back gang does not take
    assert len(cluster.submit("small", fn("c", spec), fn("d", spec)).dispatched_ids) == 2
    # And the second gang runs when the first one ends
    [running] = first.dispatched_ids
    assert cluster.finish(running).dispatched_ids == [{"big1": "big2", "big2": "big1"}[running]]
    assert cluster.starts == 4


def test_a_timed_out_gang_releases_its_partner(spec: Any) -> None:
    # Given a 2-core task with a timeout on a 2-CPU node, and a 1-core task waiting
    cluster = Cluster(Driver(), spec, 2)
    cluster.submit("big", fn("big", spec, resources=TWO, timeout_s=5.0))
    runner = cluster.agent_of["big"]
    [partner] = [agent for agent in cluster.node_of if agent != runner]
    cluster.submit("small", fn("c", spec, priority=Priority.HIGH))
    assert "c" not in cluster.orders
    # When it times out, its agent is stopped and the partner takes the waiting task
    cluster.driver.clock.advance(6.0)
    timed_out = cluster.send(Tick())
    assert runner in timed_out.stopped
    assert cluster.agent_of.get("c") == partner


def test_a_cancelled_gang_keeps_its_agents_until_its_call_ends(spec: Any) -> None:
    cluster = Cluster(Driver(), spec, 2)
    cluster.submit("big", fn("big", spec, resources=TWO))
    cluster.submit("small", fn("c", spec))
    # A cancelled task's call still runs on its agent: the reservation holds
    cancelled = cluster.send(WorkflowCancelRequested(workflow_id="big"))
    assert cancelled.dispatched_ids == []
    # Its late outcome ends the call: both agents are free again
    assert cluster.finish("big").dispatched_ids == ["c"]


def test_a_gang_larger_than_max_function_replicas_keeps_a_pool_of_its_own(spec: Any) -> None:
    # With at most 3 function agents, a 4-core task can never gang: it keeps a pool of its
    # own; a 3-core one gangs on the 3.
    driver = Driver(SchedulerConfig(max_function_replicas=3))
    driver.send(spec.nodes(8))
    submitted = driver.submit(
        spec.workflow(
            spec.task("three", function="pkg.mod:w", resources={"num_cpus": 3}),
            spec.task("four", function="pkg.mod:w", resources={"num_cpus": 4}),
        )
    )
    keys = sorted(start.pool.key for start in submitted.of(StartAgent))
    assert keys == [BASE, BASE, BASE, "functions[cpu=4,gpu=0,mem=0]"]
    assert sorted(submitted.dispatched_ids) == ["four", "three"]


def test_with_gangs_off_a_2_core_function_gets_an_agent_of_its_own_size(spec: Any) -> None:
    # Given ganging turned off (numpy/BLAS tasks that want their threads)
    driver = Driver(SchedulerConfig(gang_functions=False))
    driver.send(spec.nodes(4))
    workflow = spec.workflow(fn("one", spec), fn("big", spec, resources=TWO), workflow_id="w")
    commands = driver.send(WorkflowSubmitted(workflow=workflow))
    # Then the 2-core task starts a 2-CPU agent of its own pool and runs there at once
    started = {start.pool.key: start for start in commands.of(StartAgent)}
    assert set(started) == {BASE, "functions[cpu=2,gpu=0,mem=0]"}
    assert started["functions[cpu=2,gpu=0,mem=0]"].pool.gang_host is None
    runs_on = {
        order.task_id: batch.agent_id for batch in commands.dispatches for order in batch.attempts
    }
    assert runs_on["big"] == started["functions[cpu=2,gpu=0,mem=0]"].agent_id
