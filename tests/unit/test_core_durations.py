"""Learned durations per kind of task, the ranks they give, and prefetching with them."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator.core import Priority, RetryPolicy, SchedulerConfig, TaskGraph
from orchestrator.core import durations as durations_module
from orchestrator.core.durations import DurationBook, expected_duration_s, kind_of
from orchestrator.testing.sim_agents import Behaviour

# -- kinds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("mProject_00000012", "mProject_00000013", True),  # one WfCommons category
        ("fetch-3", "fetch-17", True),
        ("fetch-3", "parse-3", False),
        ("shard.2", "shard", True),
        ("t1", "t2", True),
    ],
)
def test_a_kind_is_the_handler_and_the_id_without_its_number(
    first: str, second: str, same: bool
) -> None:
    assert (kind_of("pkg.mod:work", first) == kind_of("pkg.mod:work", second)) is same


def test_the_same_ids_under_other_handlers_are_other_kinds() -> None:
    assert kind_of("pkg.mod:work", "t1") != kind_of("pkg.mod:other", "t1")
    assert kind_of(test_the_same_ids_under_other_handlers_are_other_kinds, "t1").startswith(
        f"{__name__}.test_the_same_ids_under_other_handlers_are_other_kinds|"
    )


@pytest.mark.parametrize(
    "handler", ["pkg.mod:work", test_the_same_ids_under_other_handlers_are_other_kinds, None]
)
def test_a_task_kind_is_its_handler_kind(handler: Any) -> None:
    # `task_kind` inlines `kind_of` (once per task): both must agree, agent tasks included.
    from orchestrator.core.durations import task_kind
    from orchestrator.core.records import TaskRecord, WorkflowRecord
    from orchestrator.core.records import task_record as make_record
    from tests.unit.test_core_records import make_pool

    workflow = WorkflowRecord(name="wf", workflow_id="wf", graph=TaskGraph(), submitted_s=0.0)
    pool = make_pool()  # its key, "p", names the agent of an agent task
    task: TaskRecord = make_record(
        workflow=workflow,
        task_id="fetch-12",
        function=handler,
        args=(),
        kwargs={},
        retry=RetryPolicy(),
        timeout_s=None,
        pool=pool,
        inputs=(),
        priority=2,
        deadline_s=math.inf,
        rank=0.0,
        estimate_s=None,
    )
    expected = kind_of("p" if handler is None else handler, "fetch-12")
    assert task_kind(task) == expected
    assert task.kind == expected


# -- the book ----------------------------------------------------------------------------


def test_first_samples_are_averaged_then_smoothed() -> None:
    book = DurationBook(smoothing=0.2)
    for duration_s in (1.0, 2.0, 3.0):
        book.learn("k", duration_s)
    assert book.estimate_s("k") == pytest.approx(2.0)  # plain mean of the first three
    for _ in range(50):
        book.learn("k", 10.0)
    assert book.estimate_s("k") == pytest.approx(10.0, rel=1e-3)
    assert book.estimate_s("unknown") is None


def test_changes_are_reported_when_first_learnt_and_when_they_move_a_quarter() -> None:
    book = DurationBook(smoothing=0.5)
    book.learn("k", 1.0)
    assert book.changed == {"k"}
    book.changed.clear()
    book.learn("k", 1.1)  # the mean moves by 5%: no change reported
    assert book.changed == set()
    for _ in range(5):
        book.learn("k", 3.0)
    assert book.changed == {"k"}


def test_the_book_forgets_its_oldest_kind_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durations_module, "MAX_KINDS", 3)
    book = DurationBook()
    for name in ("a", "b", "c", "d"):
        book.learn(name, 1.0)
    assert len(book) == 3
    assert book.estimate_s("a") is None
    assert book.estimate_s("d") == 1.0


# -- estimates checked against what the attempts took -------------------------------------


def _task(kind_id: str, estimate_s: float | None, pool_ewma_s: float | None = None) -> Any:
    """A stand-in task record: what `DurationBook.expected_s` reads."""
    pool = SimpleNamespace(ewma_task_s=pool_ewma_s, spec=SimpleNamespace(key="worker"))
    return SimpleNamespace(
        task_id=kind_id, function="pkg:work", kind=None, estimate_s=estimate_s, pool=pool
    )


def _kind(task_id: str) -> str:
    return kind_of("pkg:work", task_id)


def test_exact_estimates_keep_their_say_however_the_kind_varies() -> None:
    book = DurationBook()
    for i, duration_s in enumerate((0.1, 5.0, 0.7, 2.0, 9.0, 0.3)):
        book.learn(_kind(f"t{i}"), duration_s, estimate_s=duration_s)
    assert book.expected_s(_task("t99", 4.2)) == 4.2
    assert expected_duration_s(_task("t99", 4.2), book) == 4.2


def test_noisy_estimates_give_way_to_a_kind_whose_tasks_take_alike() -> None:
    # Given tasks that all take about 1 s, with estimates off by a log-normal factor
    rng = random.Random(7)
    book = DurationBook()
    for i in range(40):
        duration_s = rng.uniform(0.95, 1.05)
        book.learn(_kind(f"t{i}"), duration_s, estimate_s=duration_s * rng.lognormvariate(0, 0.5))
    # Then an estimate of 3 s is taken for about the kind's 1 s
    expected_s = book.expected_s(_task("t99", 3.0))
    assert expected_s is not None and 0.9 < expected_s < 1.2


def test_biased_estimates_are_corrected() -> None:
    # Given estimates always half of what tasks of widely varying lengths took
    book = DurationBook()
    for i, duration_s in enumerate((0.1, 8.0, 0.5, 3.0, 1.0, 20.0, 0.2)):
        book.learn(_kind(f"t{i}"), duration_s, estimate_s=duration_s / 2)
    assert book.expected_s(_task("t99", 2.0)) == pytest.approx(4.0)


def test_estimates_are_trusted_until_a_few_were_checked() -> None:
    book = DurationBook()
    for i in range(durations_module.MIN_ERRORS - 1):
        book.learn(_kind(f"t{i}"), 1.0, estimate_s=10.0)
    assert book.expected_s(_task("t99", 10.0)) == 10.0
    book.learn(_kind("t98"), 1.0, estimate_s=10.0)
    assert book.expected_s(_task("t99", 10.0)) == pytest.approx(1.0)


def test_without_an_estimate_the_kind_then_the_pool_says() -> None:
    book = DurationBook()
    assert book.expected_s(_task("t1", None, pool_ewma_s=0.5)) == 0.5
    book.learn(_kind("t1"), 2.0)
    assert book.expected_s(_task("t2", None, pool_ewma_s=0.5)) == 2.0
    assert book.expected_s(_task("other", None, pool_ewma_s=0.5)) == 0.5
    # Without a book (durations not learnt): the estimate, else the pool's average
    assert expected_duration_s(_task("t2", None, pool_ewma_s=0.5), None) == 0.5
    assert expected_duration_s(_task("t2", 3.0, pool_ewma_s=0.5), None) == 3.0


@pytest.mark.parametrize("learn", [True, False])
def test_short_estimates_of_long_tasks_stop_batching_once_checked(
    spec: Any, make_sim: Any, learn: bool
) -> None:
    # Given 60 tasks after a first one, estimated at 1 ms (short: batched), that take
    # 0.2 s each
    sim = make_sim(SchedulerConfig(learn_durations=learn), duration_s=0.2)
    sim.send(spec.nodes(2))
    tasks = [spec.task("t0", estimated_duration_s=0.001)] + [
        spec.task(f"t{i}", estimated_duration_s=0.001, depends_on=["t0"]) for i in range(1, 61)
    ]
    sim.submit(spec.workflow(*tasks, agents=[spec.agent("worker", replicas=2)]))
    sim.run()
    # Then, learning, the last calls carry one attempt each; not learning, batches of 5
    last = sim.ledger.batch_sizes[-10:]
    assert (max(last) == 1) is learn
    assert sim.ledger.violations == []


# -- ranks from learned durations ---------------------------------------------------------


def _by_kind(order: Any) -> Behaviour:
    return Behaviour(1.0 if order.task_id.startswith("slow") else 0.01)


def _chains(spec: Any, workflow_id: str, *, teachers: bool, fast_chains: int = 1) -> Any:
    """A chain of 3 slow tasks (1 s) and ``fast_chains`` of 4 fast ones (0.01 s).

    No estimates. Counted in tasks a fast chain is the longer; in seconds the slow one.
    With ``teachers``, one HIGH task of each kind runs first (so both kinds are learnt).
    """
    slow = [spec.task(f"slow_{i}", depends_on=[f"slow_{i - 1}"] if i else []) for i in range(3)]
    fast = [  # fast_0 to fast_3, fast_10 to fast_13, ...: one kind
        spec.task(f"fast_{c}{i}", depends_on=[f"fast_{c}{i - 1}"] if i else [])
        for c in ("", "1", "2")[:fast_chains]
        for i in range(4)
    ]
    extra = (
        [spec.task(f"{kind}_9", priority=Priority.HIGH) for kind in ("slow", "fast")]
        if teachers
        else []
    )
    return spec.workflow(*extra, *slow, *fast, workflow_id=workflow_id)


#: One task at a time, sent when the agent is free: the order shows the ranks alone.
_PLAIN = {"prefetch_window_s": 0.0, "pipeline_below_s": 0.0}


@pytest.mark.parametrize(("learn", "first"), [(True, "slow_0"), (False, "fast_0")])
def test_running_workflows_are_re_ranked_once_their_kinds_are_learnt(
    spec: Any, make_sim: Any, learn: bool, first: str
) -> None:
    # Given a workflow without estimates whose two HIGH tasks teach both kinds
    sim = make_sim(SchedulerConfig(learn_durations=learn, **_PLAIN), behaviour=_by_kind)
    sim.submit(_chains(spec, "wf", teachers=True))
    sim.run()
    # Then, learning, the slow chain (3 s) goes before the fast one (4 tasks, 0.04 s)
    order = sim.ledger.execution_order()
    assert order[:2] == ["slow_9", "fast_9"]
    assert order[2] == first
    assert sim.ledger.violations == []


@pytest.mark.parametrize(("learn", "first"), [(True, "slow_0"), (False, "fast_0")])
def test_a_new_workflow_is_ranked_with_what_earlier_ones_taught(
    spec: Any, make_sim: Any, learn: bool, first: str
) -> None:
    # Given a first workflow of both kinds that ran to the end
    sim = make_sim(SchedulerConfig(learn_durations=learn, **_PLAIN), behaviour=_by_kind)
    sim.submit(_chains(spec, "first", teachers=False))
    sim.run()
    # When a second one of the same kinds comes
    sim.submit(_chains(spec, "second", teachers=False))
    sim.run()
    # Then its slow chain starts first (learning), or its longer chain in tasks (not)
    second = [o.task_id for _, _, o in sim.ledger.attempts if o.workflow_id == "second"]
    assert second[0] == first


def test_learning_shortens_a_workflow_without_estimates(spec: Any, make_sim: Any) -> None:
    # Two slots, three fast chains: the slow chain should start at once; counted in
    # tasks (what is known of a kind never seen) it waits for two rounds of fast tasks
    def makespan(learn: bool) -> float:
        sim = make_sim(SchedulerConfig(learn_durations=learn, **_PLAIN), behaviour=_by_kind)
        sim.send(spec.nodes(2))
        agents = [spec.agent("worker", replicas=2)]
        for run in range(2):  # the second run knows the kinds (learning)
            workflow = _chains(spec, f"w{run}", teachers=False, fast_chains=3).model_copy(
                update={"agents": tuple(agents)}
            )
            start_s = sim.clock.now_s()
            sim.submit(workflow)
            sim.run()
        return float(sim.clock.now_s() - start_s)

    assert makespan(True) < makespan(False)


# -- prefetching --------------------------------------------------------------------------


def test_an_agent_is_not_prefetched_for_when_its_own_task_readies_a_more_urgent_one(
    spec: Any, make_sim: Any
) -> None:
    # Given two slots, a chain of four 1 s tasks and four independent 1 s tasks, with
    # estimates: prefetching must not give the chain's agent a short task just before
    # the chain's next link becomes ready (the makespan would grow to 5 s)
    chain = [
        spec.task(f"c{i}", depends_on=[f"c{i - 1}"] if i else [], estimated_duration_s=1.0)
        for i in range(4)
    ]
    shorts = [spec.task(f"s{i}", estimated_duration_s=1.0) for i in range(4)]
    sim = make_sim(duration_s=1.0)
    sim.send(spec.nodes(2))
    start_s = sim.clock.now_s()
    sim.submit(spec.workflow(*shorts, *chain, agents=[spec.agent("worker", replicas=2)]))
    sim.run()
    assert sim.clock.now_s() - start_s == pytest.approx(4.0)
    assert sim.ledger.max_calls_seen == 2  # the other agent was prefetched for
    assert sim.ledger.violations == []


def test_re_rankings_are_rationed_however_often_durations_move(spec: Any, make_sim: Any) -> None:
    # Given 1,000 tasks of one kind whose durations swing 10x at random (the learned mean
    # moves by a quarter again and again), with no estimates
    rng = random.Random(3)
    sim = make_sim(behaviour=lambda order: Behaviour(rng.choice((0.1, 1.0))))
    tasks = [spec.task(f"t{i}", depends_on=[f"t{i - 1}"] if i % 10 else []) for i in range(1000)]
    sim.submit(spec.workflow(*tasks, agents=[spec.agent("worker", replicas=4)]))
    sim.send(spec.nodes(4))
    sim.run()
    # Then it was re-ranked about 8 ln(n) times at most, not once per change
    learner = sim.scheduler._rank_learner
    assert 1 <= learner.reranks <= 4 + 8 * math.log(1000)
    assert sim.ledger.violations == []
