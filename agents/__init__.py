"""Agents shipped with the orchestrator: plain classes the runtime hosts on Ray.

- `agents.function.FunctionAgent` runs plain function tasks (the core refers to it as
  ``agents.function:FunctionAgent``).
- `agents.command.CommandAgent` runs allowlisted programs from an argument vector, never
  through a shell, with a minimal environment and limits on time and output.
- `agents.corpus` is the demo workflow: word, syntax and line statistics of Python's
  standard library.
"""

from agents.command import (
    CommandAgent,
    CommandFailedError,
    CommandOutputLimitError,
    CommandResult,
    CommandTimeoutError,
)
from agents.function import FunctionAgent

__all__ = [
    "CommandAgent",
    "CommandFailedError",
    "CommandOutputLimitError",
    "CommandResult",
    "CommandTimeoutError",
    "FunctionAgent",
]
