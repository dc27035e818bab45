"""Property tests: random DAGs with trigger rules, failures, priorities, limits, locks and
preemption.

Whatever hypothesis draws, the scheduler must: end every workflow; start a task only
after each task it depends on has ended; never run more attempts at once than a limit
allows; never run two tasks at once that touch one resource, one of them writing it;
run a task at most as often as its retry policy says (preempted runs apart); never ask a
CRITICAL or non-preemptible attempt to stop; skip exactly the tasks
whose trigger rule is not met (an oracle written here, apart from the scheduler's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.core import RetryPolicy, SchedulerConfig, TaskState
from orchestrator.testing import Behaviour, SimRuntime, SpecBuilder

S = TaskState
RULES = ("all_success", "all_done", "all_failed", "one_failed", "one_success", "none_failed")

#: The oracle: does a task run, given its upstream tasks' final states?
ORACLE: dict[str, Callable[[list[TaskState]], bool]] = {
    "all_success": lambda states: all(s is S.SUCCEEDED for s in states),
    "all_done": lambda states: True,
    "all_failed": lambda states: all(s is S.FAILED for s in states),
    "one_failed": lambda states: any(s is S.FAILED for s in states),
    "one_success": lambda states: any(s is S.SUCCEEDED for s in states),
    "none_failed": lambda states: not any(s is S.FAILED for s in states),
}


@st.composite
def workflows(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(min_value=2, max_value=24))
    tasks = []
    for i in range(n):
        deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else []
        tasks.append(
            {
                "id": f"t{i}",
                "deps": [f"t{d}" for d in deps],
                "rule": draw(st.sampled_from(RULES)),
                "fails": draw(st.booleans()),
                "attempts": draw(st.integers(1, 2)),
                "priority": draw(st.sampled_from(["critical", "high", "medium", "low"])),
                "duration": draw(st.sampled_from([0.01, 0.5, 2.0])),
                "reads": sorted(draw(st.sets(st.sampled_from(["db", "file"]), max_size=2))),
                "writes": sorted(draw(st.sets(st.sampled_from(["db", "file"]), max_size=1))),
                "preemptible": draw(st.booleans()),
                "cooperative": draw(st.booleans()),
            }
        )
    return {
        "tasks": tasks,
        "max_concurrency": draw(st.one_of(st.none(), st.integers(1, 3))),
        "global_limit": draw(st.one_of(st.none(), st.integers(1, 4))),
        "replicas": draw(st.integers(1, 4)),
    }


def _most_at_once(sim: SimRuntime) -> int:
    edges = []
    for spans in sim.ledger.effect_times.values():
        for start, end in spans:
            edges += [(start, 1), (end, -1)]
    running = most = 0
    for _, step in sorted(edges):
        running += step
        most = max(most, running)
    return most


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflows())
def test_random_workflows_keep_every_promise(drawn: dict[str, Any]) -> None:
    spec = SpecBuilder()
    by_id = {task["id"]: task for task in drawn["tasks"]}
    tasks = [
        spec.task(
            t["id"],
            depends_on=t["deps"],
            trigger_rule=t["rule"],
            priority=t["priority"],
            retry=RetryPolicy(max_attempts=t["attempts"], initial_backoff_s=0.1),
            reads=tuple(t["reads"]),
            writes=tuple(t["writes"]),
            preemptible=t["preemptible"],
        )
        for t in drawn["tasks"]
    ]
    workflow = spec.workflow(*tasks, agents=[spec.agent(replicas=drawn["replicas"])])
    workflow = workflow.model_copy(update={"max_concurrency": drawn["max_concurrency"]})

    def behaviour(order: Any) -> Behaviour:
        task = by_id[order.task_id]
        return Behaviour(
            task["duration"], ok=not task["fails"], stops_when_asked=task["cooperative"]
        )

    config = SchedulerConfig(max_running_attempts=drawn["global_limit"], preemption_grace_s=0.3)
    sim = SimRuntime(config, behaviour)
    sim.submit(workflow)
    sim.run()
    # Every workflow ends, with no broken invariant seen on the way
    assert sim.all_workflows_ended()
    assert sim.ledger.violations == []
    states = {info.task_id: info.state for info in sim.scheduler.task_infos("wf")}
    for t in drawn["tasks"]:
        runs = sim.ledger.effect_times.get(("wf", t["id"]), [])
        # At most as often as its retry policy allows, apart from preempted runs
        preempted = sum(1 for p in sim.ledger.preempted if p[:2] == ("wf", t["id"]))
        assert len(runs) - preempted <= t["attempts"]
        if preempted:
            assert t["preemptible"] and t["priority"] != "critical"
        # Never before every task it depends on has ended
        for dep in t["deps"]:
            dep_ends = [end for _, end in sim.ledger.effect_times.get(("wf", dep), [])]
            for start, _ in runs:
                assert all(start >= end for end in dep_ends), (t["id"], dep)
        # It ran exactly when its trigger rule was met by its upstream's final states
        upstream = [states[dep] for dep in t["deps"]]
        should_run = ORACLE[t["rule"]](upstream) if upstream else True
        if should_run:
            assert runs, (t["id"], t["rule"], upstream)
            assert states[t["id"]] is (S.FAILED if t["fails"] else S.SUCCEEDED)
        else:
            assert not runs and states[t["id"]] is S.SKIPPED, (t["id"], t["rule"], upstream)
    # Never two tasks at once that touch one resource, one of them writing it
    for a in drawn["tasks"]:
        for b in drawn["tasks"]:
            if a["id"] >= b["id"]:
                continue
            shared = (set(a["writes"]) & (set(b["writes"]) | set(b["reads"]))) | (
                set(b["writes"]) & set(a["reads"])
            )
            if shared:
                spans_a = sim.ledger.effect_times.get(("wf", a["id"]), [])
                spans_b = sim.ledger.effect_times.get(("wf", b["id"]), [])
                assert not any(s1 < e2 and s2 < e1 for s1, e1 in spans_a for s2, e2 in spans_b), (
                    a["id"],
                    b["id"],
                    shared,
                )
    # Never more at once than a limit allows
    limits = [drawn["max_concurrency"], drawn["global_limit"], drawn["replicas"]]
    assert _most_at_once(sim) <= min(limit for limit in limits if limit is not None)
