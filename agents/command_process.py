"""Run one checked command in its own process group, with caps on time and output.

`run_process` starts the program in a new session (``start_new_session=True``), so the
program and everything it starts share one process group, and feeds stdin while reading
stdout and stderr incrementally (no deadlock whatever the program does first). It kills
the whole group (`os.killpg`, ``SIGKILL``):

- when the time limit passes (`ProcessOutcome.timed_out`);
- when stdout or stderr goes over the byte limit (`ProcessOutcome.overflowed`);
- when the program itself has exited: background processes it left behind end with it,
  and cannot keep its pipes open.

The group is killed before the program is reaped: until then its pid (the group's id)
cannot be reused, so the signal never reaches an unrelated process. A process that left
the group (``setsid``) is beyond reach; that is the limit of this containment.
"""

from __future__ import annotations

import contextlib
import os
import select
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, cast

#: Seconds between checks that the program is still running while its pipes stay open.
POLL_INTERVAL_S = 0.05

_READ_CHUNK_BYTES = 65536


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    """What happened to one program run by `run_process`.

    Attributes:
        returncode: Exit status (negative: killed by that signal); None when the agent
            stopped it (``timed_out`` or ``overflowed``).
        stdout: Bytes read from standard output (at most the limit).
        stderr: Bytes read from standard error (at most the limit).
        timed_out: The time limit passed and the group was killed.
        overflowed: ``"stdout"`` or ``"stderr"`` when that stream went over the limit and
            the group was killed; None otherwise.
        duration_s: Wall-clock seconds from start to end.
    """

    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    overflowed: str | None
    duration_s: float


def run_process(
    argv: Sequence[str],
    *,
    executable: str,
    cwd: str | None,
    env: dict[str, str],
    stdin: bytes | None,
    timeout_s: float,
    max_output_bytes: int,
) -> ProcessOutcome:
    """Run ``argv`` (executing ``executable``) and collect its output within the limits.

    Raises:
        OSError: The program could not be started (not found, not executable, bad format).
    """
    started = time.monotonic()
    deadline = started + timeout_s
    process = subprocess.Popen(
        list(argv),
        executable=executable,
        shell=False,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        close_fds=True,
        start_new_session=True,
    )
    try:
        collected = _collect(process, stdin, deadline, max_output_bytes)
        timed_out = collected.overflowed is None and not collected.finished
        if not timed_out and collected.overflowed is None:
            timed_out = not _wait_exited(process, deadline)
    finally:
        _kill_group(process.pid)
        returncode = process.wait()
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    stopped = timed_out or collected.overflowed is not None
    return ProcessOutcome(
        returncode=None if stopped else returncode,
        stdout=bytes(collected.stdout),
        stderr=bytes(collected.stderr),
        timed_out=timed_out,
        overflowed=collected.overflowed,
        duration_s=time.monotonic() - started,
    )


@dataclass(slots=True)
class _Collected:
    stdout: bytearray
    stderr: bytearray
    finished: bool = False  # every pipe done: outputs at end of file, stdin fed or refused
    overflowed: str | None = None


def _collect(
    process: subprocess.Popen[bytes], stdin: bytes | None, deadline: float, limit: int
) -> _Collected:
    """Feed stdin and read both outputs until all pipes close, the deadline, or an overflow."""
    assert process.stdout is not None and process.stderr is not None
    collected = _Collected(bytearray(), bytearray())
    buffers = {process.stdout: ("stdout", collected.stdout)}
    buffers[process.stderr] = ("stderr", collected.stderr)
    written = 0
    with selectors.DefaultSelector() as selector:
        for pipe in buffers:
            selector.register(pipe, selectors.EVENT_READ)
        if process.stdin is not None:
            if stdin:
                selector.register(process.stdin, selectors.EVENT_WRITE)
            else:
                process.stdin.close()
        while selector.get_map():
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return collected
            for key, _ in selector.select(min(remaining_s, POLL_INTERVAL_S)):
                pipe = cast(IO[bytes], key.fileobj)
                if pipe is process.stdin:
                    assert stdin is not None
                    written += _write_some(selector, pipe, memoryview(stdin)[written:])
                    continue
                name, buffer = buffers[pipe]
                data = os.read(pipe.fileno(), _READ_CHUNK_BYTES)
                if not data:
                    selector.unregister(pipe)
                    continue
                buffer += data
                if len(buffer) > limit:
                    del buffer[limit:]
                    collected.overflowed = name
                    return collected
            if _exited(process):
                # Whatever still holds the pipes open was started by the program: end it
                # so the pipes close, then read what is left in them.
                _kill_group(process.pid)
    collected.finished = True
    return collected


def _write_some(selector: selectors.BaseSelector, pipe: IO[bytes], rest: memoryview) -> int:
    """Write one pipe-buffer's worth of stdin; close stdin when done or unwanted."""
    try:
        count = os.write(pipe.fileno(), rest[: select.PIPE_BUF])
    except BrokenPipeError:
        count = len(rest)  # the program stopped reading: the rest is not wanted
    if count >= len(rest):
        selector.unregister(pipe)
        pipe.close()
    return count


def _exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether the program has exited, without reaping it (its group id stays reserved)."""
    if not hasattr(os, "waitid"):  # macOS before Python 3.13: reap, a tiny reuse window
        return process.poll() is not None
    try:
        status = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True  # reaped elsewhere (SIGCHLD ignored): gone either way
    return status is not None


def _wait_exited(process: subprocess.Popen[bytes], deadline: float) -> bool:
    """Wait until the program exits (True) or the deadline passes (False), not reaping it."""
    while not _exited(process):
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            return False
        time.sleep(min(remaining_s, POLL_INTERVAL_S))
    return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
