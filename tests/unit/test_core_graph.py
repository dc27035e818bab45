"""`TaskGraph`: validation names every problem; running order follows graphlib."""

from __future__ import annotations

import graphlib
import itertools
import random
from collections.abc import Iterable, Mapping

import pytest

from orchestrator.core import CriticalPath, GraphValidationError, TaskGraph


def graph_of(edges: Mapping[str, Iterable[str]]) -> TaskGraph:
    """Return a graph built from ``{node: dependencies}`` in dict order."""
    graph = TaskGraph()
    for node, deps in edges.items():
        graph.add(node, deps)
    return graph


def random_dag(rng: random.Random, size: int, max_deps: int = 3) -> dict[str, list[str]]:
    """Return a random DAG: each node depends on up to ``max_deps`` earlier nodes."""
    edges: dict[str, list[str]] = {}
    for index in range(size):
        earlier = [f"n{j}" for j in range(index)]
        edges[f"n{index}"] = rng.sample(earlier, min(len(earlier), rng.randint(0, max_deps)))
    return edges


# A diamond with a tail:  a -> b -> d -> e
#                          \-> c -/
DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["d"]}


# -- validation -----------------------------------------------------------------------------


def test_valid_graph_has_no_problems() -> None:
    graph = graph_of(DIAMOND)
    assert graph.problems() == []
    graph.validate()
    assert len(graph) == 5
    assert "d" in graph
    assert "z" not in graph
    assert graph.nodes() == list(DIAMOND)
    assert sorted(graph.dependencies("d")) == ["b", "c"]
    assert sorted(graph.dependents("a")) == ["b", "c"]


def test_every_problem_is_reported_at_once() -> None:
    # Given a graph with a duplicate id, a missing dependency, a self-dependency and two
    # separate cycles
    graph = graph_of(
        {
            "ok": [],
            "needs-ghost": ["ghost"],
            "narcissus": ["narcissus"],
            "x": ["z"],
            "y": ["x"],
            "z": ["y"],
            "p": ["q"],
            "q": ["p"],
        }
    )
    graph.add("ok", [])
    # When it is validated
    with pytest.raises(GraphValidationError) as exc:
        graph.validate()
    # Then every problem is listed, each attached to its node
    problems = exc.value.problems
    kinds = sorted((p.kind, p.node) for p in problems)
    assert kinds == [
        ("cycle", "p"),
        ("cycle", "x"),
        ("duplicate", "ok"),
        ("missing_dependency", "needs-ghost"),
        ("self_dependency", "narcissus"),
    ]
    message = str(exc.value)
    assert "5 problem(s)" in message
    assert "'ghost'" in message
    assert "'narcissus' depends on itself" in message
    assert "'ok' is used more than once" in message


def _cycle_edges(path: tuple[str, ...]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(path))


def test_cycles_come_with_their_path() -> None:
    graph = graph_of({"x": ["z"], "y": ["x"], "z": ["y"], "p": ["q"], "q": ["p"], "free": []})
    cycles = {p.node: p for p in graph.problems()}
    assert set(cycles) == {"x", "p"}
    for problem in cycles.values():
        assert problem.kind == "cycle"
        assert problem.path[0] == problem.path[-1]
        assert problem.message == "dependency cycle: " + " -> ".join(problem.path)
    # Edges go dependency -> dependent: x -> y -> z -> x and p -> q -> p.
    assert _cycle_edges(cycles["x"].path) == {("x", "y"), ("y", "z"), ("z", "x")}
    assert _cycle_edges(cycles["p"].path) == {("p", "q"), ("q", "p")}


def test_topological_order_of_a_cyclic_graph_raises() -> None:
    graph = graph_of({"a": ["b"], "b": ["a"]})
    with pytest.raises(GraphValidationError, match="dependency cycle"):
        graph.topological_order()
    with pytest.raises(GraphValidationError):
        graph.prepare()


def test_prepare_validates() -> None:
    graph = graph_of({"a": ["missing"]})
    with pytest.raises(GraphValidationError, match="'missing'"):
        graph.prepare()


@pytest.mark.parametrize(
    "adds",
    [
        [("a", ["a"])],  # self-dependency
        [("a", []), ("b", ["a"]), ("a", [])],  # duplicate id
    ],
    ids=["self_dependency", "duplicate"],
)
def test_orders_and_prepare_refuse_an_invalid_graph(adds: list[tuple[str, list[str]]]) -> None:
    # A self-dependency (not an edge) or a duplicate id leaves an acyclic graph: a
    # topological order alone would not notice, so both validate first.
    graph = TaskGraph()
    for node, deps in adds:
        graph.add(node, deps)
    assert graph.problems()
    with pytest.raises(GraphValidationError):
        graph.topological_order()
    with pytest.raises(GraphValidationError):
        graph.prepare()


def test_orders_refuse_a_missing_dependency_instead_of_inventing_the_node() -> None:
    # Was a bug: the undeclared node "ghost" came back in `topological_order()` and
    # `upward_ranks()` as if it were a task. Both now validate first and name it.
    graph = graph_of({"b": ["ghost"], "c": ["b"]})
    with pytest.raises(GraphValidationError, match="'ghost', which is not in the workflow"):
        graph.topological_order()
    with pytest.raises(GraphValidationError, match="'ghost'"):
        graph.upward_ranks(lambda node: 1.0)
    # Only declared nodes are the graph's, and only declared dependencies are listed.
    assert graph.nodes() == ["b", "c"]
    assert "ghost" not in graph
    assert graph.dependencies("b") == []


def test_cannot_add_after_prepare_or_prepare_twice() -> None:
    graph = graph_of({"a": []})
    graph.prepare()
    with pytest.raises(RuntimeError, match="after prepare"):
        graph.add("b")
    with pytest.raises(RuntimeError, match="twice"):
        graph.prepare()


# -- running --------------------------------------------------------------------------------


def test_ready_and_mark_done_release_dependents_once_all_are_done() -> None:
    graph = graph_of(DIAMOND)
    graph.prepare()
    assert graph.ready() == ["a"]
    assert graph.ready() == []  # each node is handed out once
    graph.mark_done("a")
    assert sorted(graph.ready()) == ["b", "c"]
    graph.mark_done("b")
    assert graph.ready() == []  # d still waits for c
    graph.mark_done("c")
    assert graph.ready() == ["d"]
    graph.mark_done("d")
    assert graph.ready() == ["e"]
    graph.mark_done("e")
    assert graph.ready() == []


@pytest.mark.parametrize("seed", range(5))
def test_ready_batches_match_graphlib(seed: int) -> None:
    # Given the same random DAG in a TaskGraph and a graphlib.TopologicalSorter
    rng = random.Random(seed)
    edges = random_dag(rng, 60)
    graph = graph_of(edges)
    graph.prepare()
    sorter = graphlib.TopologicalSorter(edges)
    sorter.prepare()
    # When both are driven by marking ready nodes done in the same random order
    pending: list[str] = []
    finished = 0
    while sorter.is_active():
        expected = sorted(sorter.get_ready())
        assert sorted(graph.ready()) == expected
        pending.extend(expected)
        rng.shuffle(pending)
        node = pending.pop()
        sorter.done(node)
        graph.mark_done(node)
        finished += 1
    # Then every batch of ready nodes was the same, and every node finished
    assert finished == len(edges)
    assert graph.ready() == []


def test_mark_done_twice_is_refused_like_graphlib() -> None:
    # Was a bug: `mark_done` does not check that the node was handed out and not yet done;
    # marking "a" done twice releases "c" although "b" never finished (graphlib raises
    # ValueError here). The scheduler itself only marks a node once (RUNNING -> SUCCEEDED
    # goes through the transition table), but the graph's own contract is broken. Fix:
    # keep a set of done nodes and raise ValueError for a repeat or an unknown node.
    graph = graph_of({"a": [], "b": [], "c": ["a", "b"]})
    graph.prepare()
    assert sorted(graph.ready()) == ["a", "b"]
    graph.mark_done("a")
    with pytest.raises(ValueError):
        graph.mark_done("a")
    assert graph.ready() == []


def test_an_ended_node_leaves_its_dependents_to_the_caller() -> None:
    # Given a diamond with a tail and a lone node, "a" done and "b", "c", "lone" ready
    graph = graph_of({**DIAMOND, "lone": []})
    graph.prepare()
    assert graph.ready() == ["a", "lone"]
    graph.mark_done("a")
    assert sorted(graph.ready()) == ["b", "c"]
    # When "b" ends without success (failed or skipped), then "c" succeeds
    graph.end("b")
    graph.mark_done("c")
    # Then "d" still waits for "b": the caller decides (trigger rules), counting it ended
    assert graph.ready() == []
    assert graph.upstream_ended("d") == 0
    assert graph.ready() == []  # the caller releases it itself
    with pytest.raises(ValueError, match="cannot end"):
        graph.end("b")


def test_a_node_still_waiting_can_end() -> None:
    # A task failed or skipped before it was ready (its deadline passed, say)
    graph = graph_of({"a": [], "b": ["a"], "c": ["b"], "d": []})
    graph.prepare()
    assert sorted(graph.ready()) == ["a", "d"]
    graph.end("b")
    graph.mark_done("a")
    assert graph.ready() == []  # b ended; c waits for b until the caller says otherwise
    assert graph.upstream_ended("c") == 0
    assert graph.upstream_ended("c") == 0  # not below zero


@pytest.mark.parametrize("node", ["nope", "a"], ids=["unknown", "already_done"])
def test_end_refuses_a_node_unknown_or_done(node: str) -> None:
    graph = graph_of({"a": [], "b": ["a"]})
    graph.prepare()
    graph.ready()
    graph.mark_done("a")
    with pytest.raises(ValueError, match="cannot end"):
        graph.end(node)


def test_descendants() -> None:
    graph = graph_of({**DIAMOND, "lone": []})
    assert graph.descendants("a") == {"b", "c", "d", "e"}
    assert graph.descendants("b") == {"d", "e"}
    assert graph.descendants("e") == set()
    assert graph.descendants("lone") == set()


@pytest.mark.parametrize("seed", range(3))
def test_topological_order_puts_every_node_after_its_dependencies(seed: int) -> None:
    edges = random_dag(random.Random(seed), 200)
    order = graph_of(edges).topological_order()
    position = {node: index for index, node in enumerate(order)}
    assert sorted(order) == sorted(edges)
    for node, deps in edges.items():
        assert all(position[dep] < position[node] for dep in deps)


# -- ranks and critical path ---------------------------------------------------------------


def test_upward_ranks_hand_computed() -> None:
    # weights: a=1 b=5 c=2 d=1 e=3 ; rank = own weight + longest rank below
    weights = {"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0, "e": 3.0}
    ranks = graph_of(DIAMOND).upward_ranks(weights.__getitem__)
    assert ranks == {"e": 3.0, "d": 4.0, "b": 9.0, "c": 6.0, "a": 10.0}


def test_critical_path_hand_computed() -> None:
    weights = {"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0, "e": 3.0}
    assert graph_of(DIAMOND).critical_path(weights) == CriticalPath(("a", "b", "d", "e"), 10.0)
    # Making c the heavy branch moves the path.
    weights["c"] = 7.0
    assert graph_of(DIAMOND).critical_path(weights) == CriticalPath(("a", "c", "d", "e"), 12.0)


def test_critical_path_picks_the_heaviest_of_several_roots_and_defaults_to_zero() -> None:
    # Two chains: x -> y (3 + 4) and p -> q -> r (1 + 1 + 1); s alone weighs 6.5.
    graph = graph_of({"x": [], "y": ["x"], "p": [], "q": ["p"], "r": ["q"], "s": []})
    assert graph.critical_path({"x": 3, "y": 4, "p": 1, "q": 1, "r": 1, "s": 6.5}) == (
        CriticalPath(("x", "y"), 7.0)
    )
    # Missing weights count as zero: only the chain's nodes with weight matter.
    path = graph.critical_path({"r": 2.0})
    assert path == CriticalPath(("p", "q", "r"), 2.0)


def test_critical_path_of_an_empty_graph() -> None:
    assert TaskGraph().critical_path({}) == CriticalPath((), 0.0)


@pytest.mark.parametrize("seed", range(3))
def test_critical_path_is_the_longest_chain(seed: int) -> None:
    # Brute force: longest path by dynamic programming over graphlib's static order.
    rng = random.Random(seed)
    edges = random_dag(rng, 40)
    weights = {node: float(rng.randint(1, 9)) for node in edges}
    best: dict[str, float] = {}
    for node in graphlib.TopologicalSorter(edges).static_order():
        best[node] = weights[node] + max((best[dep] for dep in edges[node]), default=0.0)
    path = graph_of(edges).critical_path(weights)
    assert path.length_s == max(best.values())
    assert sum(weights[node] for node in path.nodes) == path.length_s
    for earlier, later in zip(path.nodes, path.nodes[1:], strict=False):
        assert earlier in edges[later]
