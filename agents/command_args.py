"""Checks of a command task's inputs: ``argv``, ``cwd``, ``timeout_s`` and ``stdin``.

They usually come from workflow files, so each is typed ``object`` here and a wrong one is
refused with a `NonRetryableError` naming it and the problem.
"""

from __future__ import annotations

import math
import os

from orchestrator.agent import NonRetryableError


def check_argv(argv: object) -> tuple[str, ...]:
    """Return ``argv`` as a tuple: a non-empty list or tuple of strings, no NUL bytes."""
    if isinstance(argv, str | bytes):
        raise NonRetryableError(
            "argv must be a list of strings, not a single string (commands never go "
            f"through a shell; split it yourself): {argv!r}"
        )
    if not isinstance(argv, list | tuple):
        raise NonRetryableError(f"argv must be a list of strings, got {type(argv).__name__}")
    if not argv:
        raise NonRetryableError("argv is empty; it needs at least the program to run")
    for index, item in enumerate(argv):
        if not isinstance(item, str):
            raise NonRetryableError(
                f"argv[{index}] must be a string, got {type(item).__name__} {item!r}"
            )
        if "\0" in item:
            raise NonRetryableError(f"argv[{index}] contains a NUL byte: {item!r}")
    if not argv[0]:
        raise NonRetryableError("argv[0] is empty; it must name the program to run")
    return tuple(argv)


def check_cwd(cwd: object) -> str | None:
    """Return ``cwd`` as a path string (None: the agent's); it must be a directory."""
    if cwd is None:
        return None
    if not isinstance(cwd, str | os.PathLike):
        raise NonRetryableError(f"cwd must be a path string, got {type(cwd).__name__}")
    path = os.fspath(cwd)
    if not isinstance(path, str) or not os.path.isdir(path):
        raise NonRetryableError(f"cwd {path!r} is not an existing directory")
    return path


def check_timeout(timeout_s: object, max_timeout_s: float) -> float:
    """Return the run-time limit: ``timeout_s``, at most ``max_timeout_s`` (its default)."""
    if timeout_s is None:
        return float(max_timeout_s)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float):
        raise NonRetryableError(f"timeout_s must be a number, got {type(timeout_s).__name__}")
    if not math.isfinite(timeout_s) or timeout_s <= 0:
        raise NonRetryableError(f"timeout_s must be positive and finite, got {timeout_s!r}")
    if timeout_s > max_timeout_s:
        raise NonRetryableError(
            f"timeout_s {timeout_s:g} is over this agent's max_timeout_s {max_timeout_s:g}"
        )
    return float(timeout_s)


def check_stdin(stdin: object, max_stdin_bytes: int) -> bytes | None:
    """Return ``stdin`` encoded as UTF-8, at most ``max_stdin_bytes`` long (or None)."""
    if stdin is None:
        return None
    if not isinstance(stdin, str):
        raise NonRetryableError(f"stdin must be a string, got {type(stdin).__name__}")
    try:
        data = stdin.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NonRetryableError(f"stdin cannot be encoded as UTF-8: {exc}") from None
    if len(data) > max_stdin_bytes:
        raise NonRetryableError(
            f"stdin is {len(data)} bytes, over this agent's max_stdin_bytes {max_stdin_bytes}"
        )
    return data
