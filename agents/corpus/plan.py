"""Plan the corpus: the running interpreter's standard library, split into shards.

`plan_shards` lists the top-level ``*.py`` files of the stdlib directory and spreads them
over shards of similar byte size, so that shard tasks running side by side finish at
about the same time. `shard_paths` is how every shard task picks its files from the plan.
"""

from __future__ import annotations

import glob
import heapq
import os
import sysconfig
from collections.abc import Mapping, Sequence

from orchestrator.agent import NonRetryableError


class CorpusInputError(NonRetryableError, ValueError):
    """A corpus function or agent got input it cannot use; retrying would not help."""


def stdlib_dir() -> str:
    """Return the running interpreter's standard library directory."""
    return sysconfig.get_paths()["stdlib"]


def plan_shards(
    shards: int = 8, limit: int | None = None, root: str | None = None
) -> list[list[str]]:
    """Split the top-level ``*.py`` files of ``root`` into ``shards`` shards of similar size.

    Files are taken in sorted order (the first ``limit`` of them when given); files that
    cannot be read are skipped. Each file goes to the shard with the fewest bytes so far,
    largest files first, which keeps the shards within one file's size of each other.

    Args:
        shards: Number of shards, at least 1. Shards stay empty when there are fewer
            files than shards.
        limit: Use only the first ``limit`` files (sorted by path); all when None.
        root: Directory to list; the running interpreter's stdlib when None.

    Returns:
        ``shards`` lists of file paths, each sorted.

    Raises:
        CorpusInputError: ``shards`` or ``limit`` is not a positive integer (``limit`` may
            also be 0), or ``root`` is not a directory.
    """
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise CorpusInputError(f"shards must be a positive integer, got {shards!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise CorpusInputError(f"limit must be a non-negative integer or None, got {limit!r}")
    directory = stdlib_dir() if root is None else root
    if not os.path.isdir(directory):
        raise CorpusInputError(f"corpus root {directory!r} is not a directory")

    paths = sorted(glob.glob(os.path.join(glob.escape(directory), "*.py")))
    if limit is not None:
        paths = paths[:limit]
    sized = [(size, path) for path in paths if (size := _readable_size(path)) is not None]

    # Greedy "largest first into the lightest shard" (LPT): heap of (bytes, shard index).
    plan: list[list[str]] = [[] for _ in range(shards)]
    heap = [(0, index) for index in range(shards)]
    for size, path in sorted(sized, key=lambda item: (-item[0], item[1])):
        total, index = heapq.heappop(heap)
        plan[index].append(path)
        heapq.heappush(heap, (total + size, index))
    return [sorted(shard) for shard in plan]


def shard_paths(shards: object, index: object) -> list[str]:
    """Return the file paths of shard ``index`` of a plan made by `plan_shards`.

    Raises:
        CorpusInputError: ``shards`` is not a list of lists of path strings, or ``index``
            is not an integer within it.
    """
    if not isinstance(shards, Sequence) or isinstance(shards, str | bytes):
        raise CorpusInputError(
            f"shards must be the plan (a list of lists of paths), got {type(shards).__name__}"
        )
    if isinstance(index, bool) or not isinstance(index, int):
        raise CorpusInputError(f"shard index must be an integer, got {index!r}")
    if not 0 <= index < len(shards):
        raise CorpusInputError(f"shard index {index} is out of range: the plan has {len(shards)}")
    shard = shards[index]
    if not isinstance(shard, Sequence) or isinstance(shard, str | bytes):
        raise CorpusInputError(f"shard {index} must be a list of paths, got {shard!r}")
    for path in shard:
        if not isinstance(path, str):
            raise CorpusInputError(f"shard {index} holds a non-string path {path!r}")
    return list(shard)


def all_paths(shards: object) -> list[str]:
    """Return the paths of every shard of a plan, in shard order.

    Raises:
        CorpusInputError: ``shards`` is not a valid plan (see `shard_paths`).
    """
    if not isinstance(shards, Sequence) or isinstance(shards, str | bytes):
        raise CorpusInputError(
            f"shards must be the plan (a list of lists of paths), got {type(shards).__name__}"
        )
    return [path for index in range(len(shards)) for path in shard_paths(shards, index)]


def _readable_size(path: str) -> int | None:
    # Opening (not just stat-ing) the file weeds out broken links and unreadable files
    # here, once, rather than in every shard task.
    try:
        with open(path, "rb") as handle:
            return os.fstat(handle.fileno()).st_size
    except OSError:
        return None


def shard_task_paths(
    task_id: str, args: Sequence[object], kwargs: Mapping[str, object], accepted: frozenset[str]
) -> list[str]:
    """Return the files of a shard task written ``args: [{output_of: plan}, INDEX]``.

    Args:
        task_id: The task, for error messages.
        args: The task's positional arguments: the plan and the shard index.
        kwargs: The task's keyword arguments, checked against ``accepted``.
        accepted: Keyword arguments the agent understands.

    Raises:
        CorpusInputError: The arguments do not have that shape, or a keyword argument is
            not accepted (it would otherwise be silently ignored).
    """
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        expected = ", ".join(sorted(accepted)) or "none"
        raise CorpusInputError(
            f"task {task_id!r}: unknown keyword argument(s) {', '.join(unknown)} "
            f"(accepted: {expected})"
        )
    if len(args) != 2:
        raise CorpusInputError(
            f"task {task_id!r}: expected args [plan, shard index], got {len(args)} argument(s)"
        )
    return shard_paths(args[0], args[1])
