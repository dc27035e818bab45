"""`SupervisorUpkeep`: what the supervisor's loop does besides handling outcomes.

Saving checkpoints (prepared on the loop, written by one worker thread, one at a time),
re-reading the cluster's nodes, and resyncing the heartbeat actor. A mixin of
`Supervisor`, which sets the fields.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from orchestrator.core.clock import Clock
from orchestrator.core.events import ClusterObserved, Event
from orchestrator.core.scheduler import Scheduler
from orchestrator.runtime.agent_registry import AgentRegistry
from orchestrator.runtime.bus.lifecycle import LifecyclePublisher
from orchestrator.runtime.cluster import observe_nodes
from orchestrator.runtime.durability import Durability
from orchestrator.runtime.results import ResultStore
from orchestrator.settings import Settings

#: Re-read the cluster's nodes at least this often (new or lost nodes change capacity).
CLUSTER_REFRESH_S = 10.0
#: A submission re-reads the nodes when the last reading is older than this (reading them
#: is a GCS round trip that blocks the loop; many small submissions would pay it each).
#: One refused for resources by an older reading is checked again with fresh nodes.
SUBMIT_CLUSTER_REFRESH_S = 1.0


class SupervisorUpkeep:
    """Checkpoint saves, cluster refresh and heartbeat resync; mixed into `Supervisor`."""

    _settings: Settings
    _clock: Clock
    _scheduler: Scheduler
    _results: ResultStore
    _agents: AgentRegistry
    _durability: Durability
    _events: LifecyclePublisher
    _writer: ThreadPoolExecutor
    _save_lock: asyncio.Lock
    _save_task: asyncio.Task[str | None] | None
    _cluster_seen_s: float
    _heartbeat_synced_s: float

    # The supervisor's own: hand an event to the scheduler, and wake its loop.
    _handle: Callable[[Event], None]
    _wake_loop: Callable[[], None]

    def _save_soon(self) -> None:
        """Start writing a checkpoint in the background, unless one is being written.

        Writes go one at a time, off the loop (a worker thread); what changes meanwhile
        goes into the next, which the loop starts when it sees it due.
        """
        if self._durability.enabled and not self._save_lock.locked():
            self._save_task = asyncio.get_running_loop().create_task(self._save_now())

    async def _save_now(self) -> str | None:
        """Save what changed, wait until it is written; return its key (None: no storage)."""
        if not self._durability.enabled:
            return None
        async with self._save_lock:
            scheduler = self._scheduler
            save = self._durability.prepare(
                scheduler.workflow_ids(),
                scheduler.checkpoint_entry,
                self._results.refs,
                scheduler.schedule_entries,
                scheduler.running_tasks(),
            )
            if save is None:
                return None
            loop = asyncio.get_running_loop()
            key, error = await loop.run_in_executor(
                self._writer, self._durability.write, save, ResultStore.resolve
            )
            self._durability.finish(save, key, error)
            self._events.checkpoint(key, error)
        self._wake_loop()  # what changed while writing may be due now
        return key

    def _observe_cluster(self, *, force: bool, max_age_s: float = CLUSTER_REFRESH_S) -> bool:
        """Re-read the nodes unless the last reading is younger than ``max_age_s``.

        Returns:
            Whether the nodes were read now (``force`` always reads them).
        """
        now = self._clock.now_s()
        if not force and now - self._cluster_seen_s < max_age_s:
            return False
        self._cluster_seen_s = now
        self._handle(ClusterObserved(nodes=observe_nodes()))
        return True

    def _resync_heartbeat(self) -> None:
        now = self._clock.now_s()
        if now - self._heartbeat_synced_s < self._settings.heartbeat.resync_interval_s:
            return
        self._heartbeat_synced_s = now
        self._agents.resync()
