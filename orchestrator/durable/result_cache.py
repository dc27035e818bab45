"""Result caching: a task's key, and the stored results a later task with that key reuses.

A task with ``cache=True`` gets a key made, like a build system's, from what decides its
result: its function (by import path, or its module and name) or its agent (by class),
and its arguments, where each placeholder for an upstream result stands for that
upstream task's own key, computed the same way. Two tasks of any workflows with the same
function, the same literal arguments and inputs made the same way share a key; change
anything upstream and the key changes. A task with ``cache="..."`` uses that text as its
key (the user says what makes results equal). Functions are assumed deterministic.

Stored results live in a `CheckpointStore` under ``cache/``, each with the time it was
stored; a lookup with a ``ttl_s`` ignores older ones.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Mapping
from typing import Any

import cloudpickle

from orchestrator.core.errors import Problem
from orchestrator.core.packed import PackedWorkflow, TaskRow
from orchestrator.core.specs import OutputOf
from orchestrator.durable.spec_codec import import_path_of
from orchestrator.storage.base import CheckpointStore, ObjectMissingError
from orchestrator.storage.blobs import Blobs

#: Changes when the way keys are made changes (old entries then stop matching).
KEY_VERSION = b"orchestrator-cache-1"


class _KeyOfInput:
    """Stands for an upstream result inside the arguments while they are hashed."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __reduce__(self) -> tuple[Any, ...]:
        return (_KeyOfInput, (self.key,))


def cache_keys(spec: PackedWorkflow) -> tuple[dict[str, str], list[Problem]]:
    """Return the key of each task of ``spec`` that asks for caching, and the problems.

    A problem is a task whose key cannot be made (arguments that cannot be pickled).
    """
    rows = {row.id: row for row in spec.rows}
    agents = {agent.name: agent for agent in spec.agents}
    lineage: dict[str, str] = {}
    keys: dict[str, str] = {}
    problems: list[Problem] = []

    def lineage_of(task_id: str) -> str:
        known = lineage.get(task_id)
        if known is not None:
            return known
        row = rows[task_id]
        inputs = {upstream: _KeyOfInput(lineage_of(upstream)) for upstream in row.inputs}
        digest = hashlib.sha256(KEY_VERSION)
        digest.update(_identity(row, agents).encode())
        digest.update(pickle.dumps(_with_inputs((row.args, row.kwargs), inputs), protocol=5))
        digest.update(repr(sorted(key.key for key in inputs.values())).encode())
        lineage[task_id] = key = digest.hexdigest()
        return key

    for row in spec.rows:
        wanted = row.extras.cache if row.extras is not None else False
        if wanted is False:
            continue
        if isinstance(wanted, str):
            keys[row.id] = hashlib.sha256(KEY_VERSION + b"\x00" + wanted.encode()).hexdigest()
            continue
        try:
            keys[row.id] = lineage_of(row.id)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as exc:
            problems.append(
                Problem(
                    f"tasks[{row.id!r}].cache",
                    f"a cache key needs arguments that pickle can hash: {exc}",
                )
            )
    return keys, problems


def _identity(row: TaskRow, agents: Mapping[str, Any]) -> str:
    if row.function is not None:
        path = import_path_of(row.function)
        if path is not None:
            return f"function:{path}"
        module = getattr(row.function, "__module__", "?")
        name = getattr(row.function, "__qualname__", repr(row.function))
        return f"function:{module}:{name}"
    agent = agents.get(row.agent or "")
    agent_class = getattr(agent, "agent_class", None)
    path = import_path_of(agent_class) if agent_class is not None else None
    return f"agent:{row.agent}:{path or getattr(agent_class, '__qualname__', '?')}"


def _with_inputs(value: Any, inputs: Mapping[str, _KeyOfInput], depth: int = 0) -> Any:
    """Return ``value`` with each placeholder replaced by its upstream's key."""
    if isinstance(value, OutputOf):
        return inputs[value.output_of]
    if depth < 8 and isinstance(value, list | tuple):
        return type(value)(_with_inputs(item, inputs, depth + 1) for item in value)
    if depth < 8 and isinstance(value, dict):
        return {key: _with_inputs(item, inputs, depth + 1) for key, item in value.items()}
    return value


class ResultCache:
    """Stored results by key, each with the time it was stored."""

    def __init__(self, store: CheckpointStore, prefix: str = "cache/") -> None:
        """Keep entries under ``prefix`` of ``store``."""
        self._blobs = Blobs(store, prefix)

    def put(self, key: str, value: Any, stored_s: float) -> None:
        """Store ``value`` under ``key`` (replacing an older one)."""
        self._blobs.put("results", key, cloudpickle.dumps((stored_s, value)))

    def get(self, key: str, now_s: float, ttl_s: float | None) -> tuple[bool, Any]:
        """Return ``(True, value)`` for a stored result young enough, else ``(False, None)``.

        A damaged entry counts as a miss (the task then runs, and stores a new one).
        """
        try:
            stored_s, value = cloudpickle.loads(self._blobs.get("results", key))
        except ObjectMissingError:
            return False, None
        except Exception:  # damaged, or a class that no longer imports: run the task
            return False, None
        if ttl_s is not None and now_s - float(stored_s) > ttl_s:
            return False, None
        return True, value
