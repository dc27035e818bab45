"""`StagedSubmissions`: large workflows sent in chunks, assembled before they are submitted.

A driver submitting a large workflow (`Orchestrator.submit`) sends its header first (a
`PackedWorkflow` without rows), then its rows in numbered chunks, each packed just before
it is sent, then asks for the submission. Each chunk travels as a `StoredRows`: its rows
put in Ray's object store by the driver, fetched (unpickled) by the supervisor in a worker
thread, so that its event loop keeps dispatching meanwhile (unpickling 100,000 rows as a
call's argument would hold the loop for half a second or more).

The supervisor keeps the chunks here, apart from everything it runs: nothing of the
workflow reaches the scheduler until the last chunk is in and the whole is submitted
(validated as any other submission). A chunk out of order, or anything but a tuple of
`TaskRow`, drops the staged submission at once with an error that says so; so does the
driver's abort; one left idle longer than `STAGED_IDLE_S` (its driver gone) is dropped
when the next begins. A bad chunk never leaves half a workflow.

Pure bookkeeping: the supervisor's door (`orchestrator.runtime.supervisor_door`) admits
the principal and makes the calls.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from orchestrator.core.packed import PackedWorkflow, TaskRow

#: A staged submission that received nothing for this long is dropped (its driver is gone).
STAGED_IDLE_S = 600.0


class StoredRows(NamedTuple):
    """A chunk of rows in Ray's object store: ``ref`` holds a tuple of `TaskRow`.

    Boxed so that Ray hands the supervisor the reference, not the rows: it fetches them
    off its event loop (`orchestrator.runtime.supervisor_door`).
    """

    ref: Any


@dataclass(slots=True)
class _Staged:
    header: PackedWorkflow
    principal: str
    touched_s: float
    chunks: list[tuple[TaskRow, ...]] = field(default_factory=list)
    rows: int = 0


class StagedSubmissions:
    """Submissions under way, by token (see the module docstring)."""

    def __init__(self, idle_s: float = STAGED_IDLE_S) -> None:
        """Start with none; drop those idle for longer than ``idle_s``."""
        self._idle_s = idle_s
        self._staged: dict[str, _Staged] = {}

    def __len__(self) -> int:
        return len(self._staged)

    def begin(self, header: PackedWorkflow, principal: str, now_s: float) -> str:
        """Stage a submission of ``header``'s workflow; return its token.

        Raises:
            ValueError: ``header`` is not a `PackedWorkflow` without rows.
        """
        self._drop_idle(now_s)
        if not isinstance(header, PackedWorkflow) or header.rows:
            raise ValueError("a chunked submission starts with a PackedWorkflow without rows")
        token = uuid.uuid4().hex
        self._staged[token] = _Staged(header, principal, now_s)
        return token

    def add(self, token: str, index: int, rows: tuple[TaskRow, ...], now_s: float) -> int:
        """Add chunk ``index`` (0, 1, 2... in order); return the rows staged so far.

        Raises:
            KeyError: no submission under way has this token (never begun, dropped, or
                already submitted).
            ValueError: the chunk is out of order or not a tuple of `TaskRow`; the staged
                submission is dropped.
        """
        staged = self._get(token)
        expected = len(staged.chunks)
        problem = None
        if index != expected:
            problem = f"chunk {index} arrived where chunk {expected} was expected"
        elif not isinstance(rows, tuple):
            problem = f"chunk {index} is a {type(rows).__name__}, not a tuple of TaskRow"
        else:
            bad = next((i for i, row in enumerate(rows) if not isinstance(row, TaskRow)), None)
            if bad is not None:
                problem = (
                    f"row {bad} of chunk {index} is a {type(rows[bad]).__name__}, not a TaskRow"
                )
        if problem is not None:
            del self._staged[token]
            name = staged.header.id or staged.header.name
            raise ValueError(
                f"chunked submission of workflow {name!r} dropped: {problem}; nothing of it "
                "was kept"
            )
        staged.chunks.append(rows)
        staged.rows += len(rows)
        staged.touched_s = now_s
        return staged.rows

    def take(self, token: str) -> tuple[PackedWorkflow, str]:
        """Remove a staged submission; return its whole workflow and its principal.

        Raises:
            KeyError: no submission under way has this token.
        """
        staged = self._get(token)
        del self._staged[token]
        rows = tuple(row for chunk in staged.chunks for row in chunk)
        staged.chunks.clear()  # the assembled tuple holds the rows now
        return staged.header.with_rows(rows), staged.principal

    def drop(self, token: str) -> bool:
        """Drop a staged submission; return whether there was one."""
        return self._staged.pop(token, None) is not None

    def principal_of(self, token: str) -> str:
        """Return who began a staged submission.

        Raises:
            KeyError: no submission under way has this token.
        """
        return self._get(token).principal

    def _get(self, token: str) -> _Staged:
        staged = self._staged.get(token)
        if staged is None:
            raise KeyError(
                f"no chunked submission {token!r} under way (never begun, dropped after a bad "
                "chunk or a long silence, or already submitted)"
            )
        return staged

    def _drop_idle(self, now_s: float) -> None:
        idle = [t for t, s in self._staged.items() if now_s - s.touched_s > self._idle_s]
        for token in idle:
            del self._staged[token]
