"""`CacheKeeper`: the supervisor's side of result caching (`orchestrator.durable.result_cache`).

At submit, it makes the keys of the tasks that ask for caching and looks them up: the
hits succeed at admission without running, their stored results handed to their
dependents. When a cached task succeeds by running, its result is stored under its key
(after the batch of outcomes that brought it). The cache lives in the checkpoint storage
when one is set (it then outlives the supervisor and the cluster), else in the
supervisor's memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from structlog.typing import FilteringBoundLogger

from orchestrator.core.clock import Clock
from orchestrator.core.commands import TaskEvent
from orchestrator.core.errors import Problem
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.states import TaskState
from orchestrator.durable.result_cache import ResultCache, cache_keys
from orchestrator.runtime.durability import FetchResults
from orchestrator.storage import CheckpointStore, MemoryStore

_SUCCEEDED = TaskState.SUCCEEDED
#: The message of a task event for a result taken from the cache (see the scheduler).
FROM_CACHE = "from the cache"


def _wants_cache(spec: PackedWorkflow) -> bool:
    return any(row.extras is not None and row.extras.cache is not False for row in spec.rows)


class CacheKeeper:
    """Looks cached results up at submit and stores new ones (see the module docstring).

    Args:
        store: The checkpoint storage, which holds the cache; None: keep it in memory.
        scope: Key prefix of this supervisor.
        clock: When results were stored, and how old they are.
        log: Where failures to store are told.
    """

    def __init__(
        self,
        store: CheckpointStore | None,
        scope: str,
        clock: Clock,
        log: FilteringBoundLogger,
    ) -> None:
        where = store if store is not None else MemoryStore(f"cache:{scope}")
        self._cache = ResultCache(where, scope + "cache/")
        self._clock = clock
        self._log = log
        self._keys: dict[str, dict[str, str]] = {}
        self._to_store: dict[str, list[str]] = {}

    def look_up(self, spec: PackedWorkflow) -> tuple[dict[str, Any], list[Problem]]:
        """Return the cached results of ``spec``'s tasks ``{task: value}``, and the problems.

        A problem (a key that cannot be made) refuses the workflow; nothing is kept then.
        """
        if not _wants_cache(spec):
            return {}, []
        keys, problems = cache_keys(spec)
        if problems:
            return {}, problems
        ttls = {row.id: row.extras.cache_ttl_s for row in spec.rows if row.extras is not None}
        now_s = self._clock.now_s()
        hits = {}
        for task_id, key in keys.items():
            found, value = self._cache.get(key, now_s, ttls.get(task_id))
            if found:
                hits[task_id] = value
        self._keys[spec.id or ""] = keys
        return hits, []

    def restored(self, spec: PackedWorkflow) -> None:
        """Know the keys of a workflow restored from a checkpoint (to store its results)."""
        if _wants_cache(spec):
            self._keys[spec.id or ""] = cache_keys(spec)[0]

    def tasks_changed(self, events: Iterable[TaskEvent]) -> None:
        """Note the cached tasks that succeeded by running: their results are to store."""
        keys = self._keys
        if not keys:  # no workflow asks for caching: the common case, on the hot path
            return
        for event in events:
            if (
                event.state is _SUCCEEDED
                and event.workflow_id in keys
                and event.task_id in keys[event.workflow_id]
                and event.message != FROM_CACHE
            ):
                self._to_store.setdefault(event.workflow_id, []).append(event.task_id)

    def released(self, workflow_id: str) -> None:
        """Forget a released workflow's keys."""
        self._keys.pop(workflow_id, None)
        self._to_store.pop(workflow_id, None)

    def store_new(self, fetch_results: FetchResults) -> int:
        """Store the results noted since the last call; return how many were stored."""
        to_store, self._to_store = self._to_store, {}
        stored = 0
        now_s = self._clock.now_s()
        for workflow_id, task_ids in to_store.items():
            keys = self._keys.get(workflow_id, {})
            for task_id, value in fetch_results(workflow_id, task_ids).items():
                try:
                    self._cache.put(keys[task_id], value, now_s)
                    stored += 1
                except Exception as exc:  # storage down, or a value that does not pickle
                    self._log.warning(
                        "cache.not_stored",
                        workflow_id=workflow_id,
                        task_id=task_id,
                        reason=f"{type(exc).__name__}: {exc}",
                    )
        return stored
