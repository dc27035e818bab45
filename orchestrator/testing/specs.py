"""`SpecBuilder`: deterministic tasks, agents, workflows and clusters for tests.

Times are on a fake clock that starts at `START_S` (not zero, like an epoch clock);
deadlines are minutes after the fixed instant `EPOCH`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.core import AgentSpec, ClusterObserved, NodeCapacity, TaskSpec, WorkflowSpec

#: Where every fake clock of the test support starts: an arbitrary instant, not zero.
START_S = 1_000.0
#: A fixed instant for deadlines.
EPOCH = datetime(2030, 1, 1, tzinfo=UTC)


class SpecBuilder:
    """Deterministic builders of tasks, agents, workflows and clusters."""

    epoch = EPOCH

    @staticmethod
    def task(task_id: str, agent: str | None = "worker", **fields: Any) -> TaskSpec:
        """Return a task run by ``agent`` (or by ``function=`` when given)."""
        if "function" in fields:
            agent = None
        return TaskSpec(id=task_id, agent=agent, **fields)

    @staticmethod
    def agent(name: str = "worker", **fields: Any) -> AgentSpec:
        """Return an agent of 1 CPU (by default) with a fake import path."""
        fields.setdefault("agent_class", f"tests.fake:{name.replace('-', '_')}")
        return AgentSpec(name=name, **fields)

    def workflow(
        self,
        *tasks: TaskSpec,
        agents: Iterable[AgentSpec] | None = None,
        workflow_id: str = "wf",
        name: str = "wf",
    ) -> WorkflowSpec:
        """Return a workflow; by default it declares every agent its tasks name (replicas=1)."""
        if agents is None:
            names = dict.fromkeys(t.agent for t in tasks if t.agent is not None)
            agents = [self.agent(n) for n in names]
        return WorkflowSpec(name=name, id=workflow_id, tasks=tuple(tasks), agents=tuple(agents))

    @staticmethod
    def chain(*ids: str, **fields: Any) -> list[TaskSpec]:
        """Return tasks ``ids[0] -> ids[1] -> ...`` (each depends on the previous one)."""
        tasks = []
        for index, task_id in enumerate(ids):
            deps = (ids[index - 1],) if index else ()
            tasks.append(SpecBuilder.task(task_id, depends_on=deps, **fields))
        return tasks

    @staticmethod
    def nodes(*cpus: float, num_gpus: float = 0.0, memory_bytes: int = 0) -> ClusterObserved:
        """Return a cluster observation with one node per entry of ``cpus``."""
        return ClusterObserved(
            nodes=tuple(
                NodeCapacity(
                    node_id=f"node-{i}",
                    num_cpus=n,
                    num_gpus=num_gpus,
                    memory_bytes=memory_bytes,
                )
                for i, n in enumerate(cpus)
            )
        )

    @staticmethod
    def deadline(minutes: float) -> datetime:
        """Return a time-zone aware deadline ``minutes`` after the fixed epoch."""
        return EPOCH + timedelta(minutes=minutes)
