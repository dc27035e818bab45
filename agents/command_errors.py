"""Errors of `agents.command.CommandAgent`: a program that failed, ran too long or said too much.

`CommandFailedError` and `CommandTimeoutError` are retryable (per the task's retry policy);
`CommandOutputLimitError` is also a `NonRetryableError`: the same command would print as
much again. All three keep their fields when pickled, as errors cross process boundaries.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from orchestrator.agent import NonRetryableError

#: How much of a failed command's stderr `CommandFailedError` keeps (the end of it).
STDERR_TAIL_CHARS = 2000


def stderr_tail(text: str) -> str:
    """Return the end of ``text`` that an error keeps (`STDERR_TAIL_CHARS` characters)."""
    return text[-STDERR_TAIL_CHARS:]


class CommandFailedError(RuntimeError):
    """A command exited with a non-zero status (retryable).

    Attributes:
        argv: The argument vector that failed.
        returncode: Its exit status; negative when a signal ended it, None when it was
            stopped by the agent (too long, too much output).
        stderr_tail: The last `STDERR_TAIL_CHARS` characters of its standard error.
    """

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stderr_tail: str,
        message: str | None = None,
    ) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        if message is None:
            message = f"command {shlex.join(self.argv)!r} exited with status {returncode}"
            message += f"; stderr ends with:\n{stderr_tail}" if stderr_tail else " (no stderr)"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Results and errors cross process boundaries pickled; the default reduction would
        # call __init__ with the message alone.
        return (type(self), (self.argv, self.returncode, self.stderr_tail, str(self)))


class CommandTimeoutError(CommandFailedError, TimeoutError):
    """A command ran longer than its ``timeout_s``; its process group was killed (retryable).

    Attributes:
        timeout_s: The limit it exceeded.
    """

    def __init__(
        self,
        argv: Sequence[str],
        timeout_s: float,
        stderr_tail: str,
        message: str | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        if message is None:
            message = f"command {shlex.join(tuple(argv))!r} timed out after {timeout_s:g} s"
            message += "; it was killed"
            message += f"; stderr ends with:\n{stderr_tail}" if stderr_tail else ""
        super().__init__(argv, None, stderr_tail, message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.argv, self.timeout_s, self.stderr_tail, str(self)))


class CommandOutputLimitError(CommandFailedError, NonRetryableError):
    """A command wrote more than the agent's limit to one stream; it was killed.

    Not retryable: the same command would print as much again. Nothing it wrote is
    returned, so a truncated output is never mistaken for a complete one.

    Attributes:
        stream: ``"stdout"`` or ``"stderr"``, the stream that went over.
        limit_bytes: The most bytes the agent accepts on that stream.
    """

    def __init__(
        self,
        argv: Sequence[str],
        stream: str,
        limit_bytes: int,
        stderr_tail: str,
        message: str | None = None,
    ) -> None:
        self.stream = stream
        self.limit_bytes = limit_bytes
        if message is None:
            message = (
                f"command {shlex.join(tuple(argv))!r} wrote more than {limit_bytes} bytes "
                f"to {stream}; it was killed and its output discarded"
            )
        super().__init__(argv, None, stderr_tail, message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.argv, self.stream, self.limit_bytes, self.stderr_tail, str(self)),
        )
