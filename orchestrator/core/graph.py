"""`TaskGraph`: the dependency DAG of one workflow, in the spirit of `graphlib.TopologicalSorter`.

A networkx ``DiGraph`` with an edge ``dependency -> dependent`` holds the structure. On top
of it the graph counts unfinished dependencies per node so that ``mark_done`` releases
dependents in O(out-degree).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx


@dataclass(frozen=True, slots=True)
class GraphProblem:
    """One thing wrong with a graph.

    Attributes:
        kind: ``duplicate``, ``missing_dependency``, ``self_dependency`` or ``cycle``.
        node: The node the problem is attached to.
        message: A sentence naming the node(s) and the problem.
        path: For cycles, the nodes of the cycle in order, first node repeated at the end.
    """

    kind: str
    node: str
    message: str
    path: tuple[str, ...] = ()


class GraphValidationError(ValueError):
    """A graph has one or more problems; all of them are in ``problems``."""

    def __init__(self, problems: list[GraphProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem.message}" for problem in problems)
        super().__init__(f"{len(problems)} problem(s) in the task graph:\n{lines}")


@dataclass(frozen=True, slots=True)
class CriticalPath:
    """The longest weighted chain of the graph.

    Attributes:
        nodes: The chain, first node first.
        length_s: Sum of the weights along it.
    """

    nodes: tuple[str, ...]
    length_s: float


class TaskGraph:
    """Dependencies between the tasks of one workflow.

    Use: ``add`` every node, ``validate``, ``prepare``; then alternate ``ready`` (take the
    nodes whose dependencies are all done) and ``mark_done`` / ``mark_failed``.
    """

    def __init__(self) -> None:
        self._graph: nx.DiGraph[str] = nx.DiGraph()
        self._declared: dict[str, tuple[str, ...]] = {}
        self._problems: list[GraphProblem] = []
        self._remaining: dict[str, int] = {}
        self._ready: list[str] = []
        self._prepared = False
        self._validated = False
        self._order: list[str] | None = None
        self._successors: dict[str, dict[str, dict[str, Any]]] = {}

    # -- building ------------------------------------------------------------------------

    def add(self, node: str, depends_on: Iterable[str] = ()) -> None:
        """Add ``node`` with the nodes it depends on. Problems are recorded, not raised."""
        if self._prepared:
            raise RuntimeError("cannot add nodes after prepare()")
        deps = tuple(depends_on)
        self._order = None
        self._validated = False
        if node in self._declared:
            self._problems.append(
                GraphProblem("duplicate", node, f"task id {node!r} is used more than once")
            )
            return
        self._declared[node] = deps
        self._graph.add_node(node)
        for dep in deps:
            if dep == node:
                self._problems.append(
                    GraphProblem("self_dependency", node, f"task {node!r} depends on itself")
                )
                continue
            self._graph.add_edge(dep, node)

    def problems(self) -> list[GraphProblem]:
        """Return every problem: duplicates, self-dependencies, missing nodes and cycles."""
        found = list(self._problems)
        for node, deps in self._declared.items():
            for dep in deps:
                if dep not in self._declared:
                    found.append(
                        GraphProblem(
                            "missing_dependency",
                            node,
                            f"task {node!r} depends on {dep!r}, which is not in the workflow",
                        )
                    )
        if not found and self._kahn_order() is not None:
            return found
        found.extend(self._cycles())
        return found

    def _kahn_order(self) -> list[str] | None:
        """Return a topological order (cached), or None when the graph has a cycle.

        A plain Kahn pass over networkx's adjacency dicts: a fraction of the cost of
        strongly connected components, which are computed only when a cycle exists.
        """
        if self._order is not None:
            return self._order
        successors = dict(self._graph.adjacency())
        remaining = dict(self._graph.in_degree())
        order = [node for node, count in remaining.items() if count == 0]
        for node in order:  # the list grows while it is walked
            for child in successors[node]:
                left = remaining[child] - 1
                remaining[child] = left
                if left == 0:
                    order.append(child)
        if len(order) != len(remaining):
            return None
        self._order = order
        self._successors = successors
        return order

    def _cycles(self) -> list[GraphProblem]:
        cycles = []
        for component in nx.strongly_connected_components(self._graph):
            if len(component) < 2:
                continue
            sub = self._graph.subgraph(component)
            start = min(component)
            edges = nx.find_cycle(sub, source=start)
            path = (*(edge[0] for edge in edges), edges[0][0])
            cycles.append(
                GraphProblem(
                    "cycle",
                    path[0],
                    "dependency cycle: " + " -> ".join(path),
                    path,
                )
            )
        return cycles

    def validate(self) -> None:
        """Raise `GraphValidationError` listing every problem, if there is any."""
        if self._validated:
            return
        problems = self.problems()
        if problems:
            raise GraphValidationError(problems)
        self._validated = True

    def prepare(self) -> None:
        """Freeze the graph and queue the nodes without dependencies as ready.

        Raises:
            GraphValidationError: the graph has problems.
        """
        if self._prepared:
            raise RuntimeError("prepare() called twice")
        self.validate()
        self._prepared = True
        self._remaining = remaining = dict(self._graph.in_degree())
        self._ready = [node for node, count in remaining.items() if count == 0]

    # -- running -------------------------------------------------------------------------

    def ready(self) -> list[str]:
        """Return the nodes that became ready since the last call (each once)."""
        if not self._prepared:
            raise RuntimeError("call prepare() before ready()")
        nodes, self._ready = self._ready, []
        return nodes

    def mark_done(self, node: str) -> None:
        """Record that ``node`` succeeded; dependents whose last dependency it was get ready.

        Raises:
            ValueError: ``node`` is unknown, not ready yet, or already done (as graphlib).
        """
        remaining = self._remaining
        if remaining.get(node) != 0:
            state = "unknown" if node not in remaining else "not ready or already done"
            raise ValueError(f"cannot mark {node!r} done: {state}")
        remaining[node] = -1  # done
        ready = self._ready
        for dependent in self._successors[node]:
            left = remaining[dependent] - 1
            remaining[dependent] = left
            if left == 0:
                ready.append(dependent)

    def descendants(self, node: str) -> set[str]:
        """Return every node that depends on ``node``, directly or not."""
        return nx.descendants(self._graph, node)

    def mark_failed(self, node: str) -> set[str]:
        """Record that ``node`` failed; return the nodes that can now never run.

        Those are its descendants not yet done; none of them will become ready.
        """
        if self._remaining.get(node) != 0:
            raise ValueError(f"cannot mark {node!r} failed: unknown, not ready or already done")
        self._remaining[node] = -1
        doomed = {n for n in self.descendants(node) if self._remaining[n] > 0}
        for dependent in doomed:
            self._remaining[dependent] = -1
        return doomed

    # -- queries -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._declared)

    def __contains__(self, node: object) -> bool:
        return node in self._declared

    def nodes(self) -> list[str]:
        """Return every node in insertion order."""
        return list(self._declared)

    def dependencies(self, node: str) -> list[str]:
        """Return the nodes ``node`` depends on."""
        return list(self._graph.predecessors(node))

    def dependents(self, node: str) -> list[str]:
        """Return the nodes that depend directly on ``node``."""
        return list(self._graph.successors(node))

    def topological_order(self) -> list[str]:
        """Return the nodes so that every node comes after its dependencies.

        Raises:
            GraphValidationError: the graph has problems (cycles, missing nodes...).
        """
        self.validate()
        order = self._kahn_order()
        assert order is not None  # validated: no cycle
        return list(order)

    def upward_ranks(self, weight_s: Callable[[str], float]) -> dict[str, float]:
        """Return, for each node, the longest weighted path from it to any sink (itself included).

        Schedulers favour high ranks: they sit on long chains that bound the makespan.
        """
        order = self.topological_order()
        successors = self._successors
        ranks: dict[str, float] = {}
        for node in reversed(order):
            children = successors[node]
            if children:
                ranks[node] = weight_s(node) + max([ranks[child] for child in children])
            else:
                ranks[node] = weight_s(node)
        return ranks

    def critical_path(self, weights_s: Mapping[str, float]) -> CriticalPath:
        """Return the longest chain, weighting each node by ``weights_s`` (missing = 0)."""
        if not self._declared:
            return CriticalPath((), 0.0)
        ranks = self.upward_ranks(lambda node: weights_s.get(node, 0.0))
        roots = [node for node in self._declared if self._graph.in_degree(node) == 0]
        node = max(roots, key=lambda candidate: ranks[candidate])
        path = [node]
        while True:
            children = list(self._graph.successors(node))
            if not children:
                break
            node = max(children, key=lambda child: ranks[child])
            path.append(node)
        return CriticalPath(tuple(path), ranks[path[0]])
