"""Syntax statistics of Python sources, from their `ast`.

For each file: lines, functions (methods and nested functions included), async functions,
classes, how many of those carry a docstring, and the longest function. Files that cannot
be read or parsed are listed, not silently skipped.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import ClassVar, TypedDict

from agents.corpus.checks import count_field, positive_int, sequence_field
from agents.corpus.plan import CorpusInputError, shard_task_paths
from orchestrator.agent import Agent, TaskContext


class LongestFunction(TypedDict):
    """Where the longest function is.

    Attributes:
        file: Path of its file.
        name: Qualified name as ``__qualname__`` spells it, e.g. ``Class.method``.
        lines: Lines from ``def`` to its last line.
    """

    file: str
    name: str
    lines: int


class SyntaxStats(TypedDict):
    """Syntax counts of some files.

    Attributes:
        files: Files parsed.
        lines: Newline characters in them (what ``wc -l`` counts).
        functions: ``def`` and ``async def`` statements (methods and nested ones too).
        async_functions: The ``async def`` among them.
        classes: ``class`` statements.
        documented: Functions and classes that have a docstring.
        docstring_coverage: ``documented / (functions + classes)``; 0.0 when there are none.
        longest_function: The function with the most lines; None when there are none.
        failed_files: ``"path: reason"`` for each file that could not be read or parsed.
    """

    files: int
    lines: int
    functions: int
    async_functions: int
    classes: int
    documented: int
    docstring_coverage: float
    longest_function: LongestFunction | None
    failed_files: list[str]


_COUNTS = ("files", "lines", "functions", "async_functions", "classes", "documented")


def syntax_stats(paths: Iterable[str]) -> SyntaxStats:
    """Parse the Python files ``paths`` and count what they define.

    Returns:
        The counts; files that could not be read or parsed are in ``failed_files`` and
        count nowhere else.
    """
    totals = dict.fromkeys(_COUNTS, 0)
    longest: LongestFunction | None = None
    failed: list[str] = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                source = handle.read()
            tree = ast.parse(source, filename=path)
        except OSError as exc:
            failed.append(f"{path}: {exc.strerror or exc}")
            continue
        except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes in the source
            failed.append(f"{path}: {type(exc).__name__}: {exc}")
            continue
        totals["files"] += 1
        totals["lines"] += source.count(b"\n")
        for name, node in _definitions(tree):
            documented = ast.get_docstring(node, clean=False) is not None
            totals["documented"] += documented
            if isinstance(node, ast.ClassDef):
                totals["classes"] += 1
                continue
            totals["functions"] += 1
            totals["async_functions"] += isinstance(node, ast.AsyncFunctionDef)
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if longest is None or lines > longest["lines"]:
                longest = LongestFunction(file=path, name=name, lines=lines)
    return _stats(totals, longest, failed)


def merge_syntax_stats(*parts: Mapping[str, object]) -> SyntaxStats:
    """Combine the results of several shards into one (all totals exact).

    Args:
        *parts: Results of `syntax_stats` (or `SyntaxStatsAgent`).

    Raises:
        CorpusInputError: A part is not such a result; the message names it and the field.
    """
    totals = dict.fromkeys(_COUNTS, 0)
    longest: LongestFunction | None = None
    failed: list[str] = []
    for index, part in enumerate(parts):
        where = f"merge_syntax_stats part {index}"
        for key in _COUNTS:
            totals[key] += count_field(part, key, where)
        candidate = _longest_field(part, where)
        if candidate is not None and (longest is None or candidate["lines"] > longest["lines"]):
            longest = candidate
        failed.extend(str(item) for item in sequence_field(part, "failed_files", where))
    return _stats(totals, longest, failed)


class SyntaxStatsAgent(Agent):
    """Parses the files of one shard of the corpus plan and counts what they define.

    Task: ``args: [{output_of: plan}, INDEX]``; returns `SyntaxStats`.
    """

    num_cpus: ClassVar[float] = 0.25
    replicas: ClassVar[int] = 2

    def handle(self, ctx: TaskContext) -> SyntaxStats:
        """Compute the syntax statistics of the shard named by the task's arguments.

        Raises:
            CorpusInputError: The arguments are not ``[plan, index]``.
        """
        paths = shard_task_paths(ctx.task_id, ctx.args, ctx.kwargs, frozenset())
        stats = syntax_stats(paths)
        ctx.log.info(
            "shard parsed",
            files=stats["files"],
            functions=stats["functions"],
            failed=len(stats["failed_files"]),
        )
        return stats


def _definitions(
    tree: ast.AST,
) -> Iterable[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]]:
    # Iterative walk (deeply nested code must not hit the recursion limit) that keeps the
    # qualified name of the enclosing definitions, as __qualname__ spells it.
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        parent, prefix = stack.pop()
        for node in ast.iter_child_nodes(parent):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = prefix + node.name
                yield name, node
                inner = "." if isinstance(node, ast.ClassDef) else ".<locals>."
                stack.append((node, name + inner))
            else:
                stack.append((node, prefix))


def _longest_field(part: object, where: str) -> LongestFunction | None:
    if not isinstance(part, Mapping) or "longest_function" not in part:
        raise CorpusInputError(f"{where}: missing field 'longest_function'")
    value = part["longest_function"]
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("file"), str):
        raise CorpusInputError(f"{where}: field 'longest_function' is malformed: {value!r}")
    name = value.get("name")
    if not isinstance(name, str):
        raise CorpusInputError(f"{where}: field 'longest_function' has no name: {value!r}")
    lines = positive_int(f"{where}: longest_function lines", value.get("lines"))
    return LongestFunction(file=str(value["file"]), name=name, lines=lines)


def _stats(
    totals: dict[str, int], longest: LongestFunction | None, failed: list[str]
) -> SyntaxStats:
    definitions = totals["functions"] + totals["classes"]
    return SyntaxStats(
        files=totals["files"],
        lines=totals["lines"],
        functions=totals["functions"],
        async_functions=totals["async_functions"],
        classes=totals["classes"],
        documented=totals["documented"],
        docstring_coverage=totals["documented"] / definitions if definitions else 0.0,
        longest_function=longest,
        failed_files=failed,
    )
