"""Which file runs for a command's ``argv[0]``: a fixed search path, never ``$PATH``.

Rules (`resolve_executable`):

- A bare name (``wc``) must be in the allowlist; it is looked up in the agent's
  ``search_path`` directories in order, and the first entry found decides.
- A name with a ``/`` runs only when it is absolute and listed verbatim in the allowlist
  (``/usr/bin/env``); relative paths (``./wc``, ``../wc``, ``bin/wc``) are always refused.
- Symlinks are followed (`os.path.realpath`); the file they lead to must lie directly in
  a search-path directory (itself resolved: ``/bin`` may be ``/usr/bin``) or be itself an
  allowlisted absolute path, and must be a regular file the agent may execute.

The resolved file is what gets executed, so a symlink swapped after the check cannot
redirect the run; ``argv[0]`` is passed unchanged (multi-call binaries read it).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence

from orchestrator.agent import NonRetryableError


def check_allowlist(owner: str, allowed: Iterable[object], search_path: Iterable[object]) -> None:
    """Check an agent class's ``allowed_executables`` and ``search_path`` when it is defined.

    Args:
        owner: The class's name, for messages.
        allowed: Bare program names, or absolute normalised paths.
        search_path: Absolute directories.

    Raises:
        TypeError: An entry is not a string.
        ValueError: An entry is empty, relative where it must be absolute, or not
            normalised (``..``, ``//``, a trailing ``/``).
    """
    for entry in allowed:
        if not isinstance(entry, str):
            raise TypeError(f"{owner}.allowed_executables: {entry!r} is not a string")
        if not entry or "\0" in entry or entry in {".", ".."}:
            raise ValueError(f"{owner}.allowed_executables: {entry!r} is not a program name")
        if "/" in entry and not _is_clean_absolute(entry):
            raise ValueError(
                f"{owner}.allowed_executables: {entry!r} must be a bare name or an absolute, "
                "normalised path"
            )
    for directory in search_path:
        if not isinstance(directory, str):
            raise TypeError(f"{owner}.search_path: {directory!r} is not a string")
        if not _is_clean_absolute(directory) or directory == "/":
            raise ValueError(
                f"{owner}.search_path: {directory!r} must be an absolute, normalised directory"
            )


def resolve_executable(
    program: str, *, owner: str, allowed: frozenset[str], search_path: Sequence[str]
) -> str:
    """Return the real path of the file to execute for ``program`` (``argv[0]``).

    Args:
        program: ``argv[0]`` as the task gave it (non-empty, no NUL byte).
        owner: The agent class's name, for messages.
        allowed: The agent's ``allowed_executables``.
        search_path: The agent's ``search_path``.

    Raises:
        NonRetryableError: The program is not allowed, not found, resolves outside the
            search path, or is not a regular executable file; the message says which.
    """
    if "/" in program:
        if not os.path.isabs(program):
            raise NonRetryableError(
                f"executable {program!r} is a relative path, which {owner} never runs; give "
                f"a bare name (looked up in {_dirs(search_path)}) or an allowlisted "
                "absolute path"
            )
        if program not in allowed:
            raise NonRetryableError(
                f"executable {program!r} is not allowed for {owner}: a program given with a "
                "directory must be allowlisted by that absolute path "
                f"(allowed executables: {_listed(allowed)})"
            )
        candidate = program
    else:
        if program not in allowed:
            raise NonRetryableError(
                f"executable {program!r} is not allowed for {owner} "
                f"(allowed executables: {_listed(allowed)})"
            )
        found = next(
            (
                os.path.join(directory, program)
                for directory in search_path
                if os.path.lexists(os.path.join(directory, program))
            ),
            None,
        )
        if found is None:
            raise NonRetryableError(
                f"executable {program!r} not found in the search path {_dirs(search_path)}"
            )
        candidate = found
    real = os.path.realpath(candidate)
    trusted_dirs = {os.path.realpath(directory) for directory in search_path}
    if os.path.dirname(real) not in trusted_dirs and real not in allowed:
        raise NonRetryableError(
            f"executable {program!r} resolves to {real!r}, outside the search path "
            f"{_dirs(search_path)}; refused"
        )
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        raise NonRetryableError(f"executable {program!r} ({real!r}) not found: {exc}") from None
    if not stat.S_ISREG(mode):
        raise NonRetryableError(f"executable {program!r} ({real!r}) is not a regular file")
    if not os.access(real, os.X_OK):
        raise NonRetryableError(f"executable {program!r} ({real!r}) is not executable")
    return real


def _is_clean_absolute(path: str) -> bool:
    return os.path.isabs(path) and os.path.normpath(path) == path and not path.startswith("//")


def _listed(allowed: frozenset[str]) -> str:
    return ", ".join(sorted(allowed)) or "none"


def _dirs(search_path: Sequence[str]) -> str:
    return ":".join(search_path) or "(empty)"
