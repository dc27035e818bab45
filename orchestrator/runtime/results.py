"""`ResultStore`: the ObjectRefs of the results the supervisor holds, by workflow then task.

The results themselves stay in Ray's object store; holding a ref keeps its object alive,
so releasing a workflow drops all of its refs at once and lets Ray free the objects.
`fetch` reads values, for the checkpoints and the result cache. `read_page` reads them for
a driver's ``run.results()``: the supervisor owns every result, so it reads the small ones
itself and sends them in one reply, instead of passing thousands of refs out (each ref
that leaves its owner costs borrower bookkeeping on both sides).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import ray
from ray.experimental import get_local_object_locations

from orchestrator.core.commands import TaskEvent
from orchestrator.core.states import TaskState

#: A result of at most this many bytes (serialised) travels inside a `ResultPage`; a
#: larger one as its ref, which the driver reads from the object store itself (no copy
#: through the supervisor).
MAX_INLINE_RESULT_BYTES = 1 << 20
#: The inline values of one `ResultPage` stop at about this many bytes...
MAX_PAGE_BYTES = 64 << 20
#: ... and at this many results; the others are left for the next page.
MAX_PAGE_RESULTS = 50_000


class ResultPage(NamedTuple):
    """Part of a workflow's results, as `read_page` returns them to a driver.

    Attributes:
        task_ids: The tasks of this page, in the order they were asked for (the order
            their results were stored in, for a whole workflow).
        values: Their values, read by the supervisor, for the small results.
        refs: Their ObjectRefs, for the results too large to carry (or that could not be
            read here: the driver's ``ray.get`` then raises what Ray raises).
        rest: The tasks asked for that did not fit in this page, in order: ask again.
    """

    task_ids: tuple[str, ...]
    values: dict[str, Any]
    refs: dict[str, Any]
    rest: tuple[str, ...]


def split_page(
    sizes: Sequence[int | None],
    max_inline_bytes: int = MAX_INLINE_RESULT_BYTES,
    max_page_bytes: int = MAX_PAGE_BYTES,
    max_results: int = MAX_PAGE_RESULTS,
) -> tuple[list[int], list[int], int]:
    """Choose which results of a page travel as values and which as refs.

    Args:
        sizes: Each result's size in bytes, in order (None: unknown, sent as a ref).
        max_inline_bytes: Larger results are sent as refs.
        max_page_bytes: The page ends before its inline values pass this many bytes.
        max_results: The page holds at most this many results.

    Returns:
        (indices sent as values, indices sent as refs, how many results the page holds:
        the first ones; at least one when ``sizes`` is not empty).
    """
    inline: list[int] = []
    as_refs: list[int] = []
    page_bytes = 0
    count = 0
    for index, size in enumerate(sizes[:max_results]):
        if size is None or size > max_inline_bytes:
            as_refs.append(index)
        elif page_bytes + size > max_page_bytes and count > 0:
            break
        else:
            page_bytes += size
            inline.append(index)
        count += 1
    return inline, as_refs, count


def read_page(refs: Mapping[str, Any]) -> ResultPage:
    """Read the results ``refs`` point to (objects this process owns) into a `ResultPage`.

    Blocks (run it off the event loop): one size lookup for every ref, one ``ray.get``
    of the small ones. When reading them fails (an object lost with its node...), they go
    out as refs, so the driver's ``ray.get`` raises what it raised before.
    """
    task_ids = list(refs)
    ordered = [refs[task_id] for task_id in task_ids]
    locations = get_local_object_locations(ordered) if ordered else {}
    sizes = [locations.get(ref, {}).get("object_size") for ref in ordered]
    inline, as_refs, count = split_page(sizes)
    values: dict[str, Any] = {}
    try:
        read = ray.get([ordered[index] for index in inline])
        values = {task_ids[index]: value for index, value in zip(inline, read, strict=True)}
    except Exception:  # a lost or unreadable object: the driver's ray.get will say why
        as_refs = sorted([*as_refs, *inline])
    return ResultPage(
        task_ids=tuple(task_ids[:count]),
        values=values,
        refs={task_ids[index]: ordered[index] for index in as_refs},
        rest=tuple(task_ids[count:]),
    )


class ResultStore:
    """Result refs of the workflows not yet released (a ref is an opaque ``Any`` here)."""

    def __init__(self) -> None:
        self._by_workflow: dict[str, dict[str, Any]] = {}

    def open(self, workflow_id: str) -> None:
        """Start holding results for a newly submitted workflow."""
        self._by_workflow[workflow_id] = {}

    def put(self, workflow_id: str, task_id: str, ref: Any) -> None:
        """Hold ``ref`` as the result of a task; ignored once its workflow is released.

        An attempt may finish after its workflow was released (e.g. cancelled, then
        released while a call was still running): its result is then not wanted.
        """
        results = self._by_workflow.get(workflow_id)
        if results is not None:
            results[task_id] = ref

    def accept(
        self,
        events: Iterable[TaskEvent],
        candidates: Mapping[tuple[str, str, int], Any],
    ) -> None:
        """Keep the results the scheduler accepted; drop those it declared void.

        A SUCCEEDED event names the attempt that counts: its candidate ref (if it came in
        this round) is kept. A PENDING event of a task means its result is void (it was
        lost and will be computed again): its ref is dropped. Candidates of attempts the
        scheduler did not accept (late, stale, repeated) are never kept.
        """
        for event in events:
            if event.state is TaskState.SUCCEEDED:
                ref = candidates.get((event.workflow_id, event.task_id, event.attempt))
                if ref is not None:
                    self.put(event.workflow_id, event.task_id, ref)
            elif event.state is TaskState.PENDING:
                self._by_workflow.get(event.workflow_id, {}).pop(event.task_id, None)

    def get(self, workflow_id: str, task_id: str) -> Any | None:
        """Return a task's result ref, or None if it has none (or the workflow is gone)."""
        return self._by_workflow.get(workflow_id, {}).get(task_id)

    def refs(self, workflow_id: str, task_ids: list[str]) -> dict[str, Any]:
        """Return the refs held for ``task_ids`` (those held), by task id."""
        held = self._by_workflow.get(workflow_id, {})
        return {task_id: held[task_id] for task_id in task_ids if task_id in held}

    @staticmethod
    def resolve(refs: dict[str, Any]) -> dict[str, Any]:
        """Return the values of ``refs`` by the same keys (blocks; any thread)."""
        return dict(zip(refs, ray.get(list(refs.values())), strict=True))

    def fetch(self, workflow_id: str, task_ids: list[str]) -> dict[str, Any]:
        """Return the values of the results held for ``task_ids`` (from Ray's object store).

        Blocks until they are read: they are results of finished calls, already stored.
        """
        refs = {task_id: self.get(workflow_id, task_id) for task_id in task_ids}
        held = {task_id: ref for task_id, ref in refs.items() if ref is not None}
        return dict(zip(held, ray.get(list(held.values())), strict=True))

    def of(self, workflow_id: str) -> Mapping[str, Any]:
        """Return the refs of one workflow by task id (hot path: no copy).

        Raises:
            KeyError: the workflow is unknown or released.
        """
        return self._by_workflow[workflow_id]

    def release(self, workflow_id: str) -> None:
        """Drop every ref of a workflow (unknown ids are ignored)."""
        self._by_workflow.pop(workflow_id, None)

    def __len__(self) -> int:
        """Return how many results are held, over all workflows."""
        return sum(len(results) for results in self._by_workflow.values())
