"""`CommandAgent`: run an allowlisted program with an argument vector, never a shell.

A subclass names the programs it may run; a task gives the argument vector::

    class GitTools(CommandAgent):
        allowed_executables = frozenset({"git"})
        num_cpus = 0.25

    # tasks:
    #   - id: log
    #     agent: GitTools
    #     kwargs: {argv: [git, log, --oneline, -n, "5"], cwd: /src/project, timeout_s: 10}

The argument vector goes straight to ``execve`` (``shell=False``), so quoting, globbing,
pipes and ``;`` have no meaning and cannot be injected. The executable is matched by its
base name (``os.path.basename(argv[0])``) against the allowlist, then resolved on the
``PATH`` the command will see and run from that resolved file. Matching by base name
means an allowlisted name given with a directory (``/opt/tools/wc``) runs that file: list
only programs whose every copy a task may run, or override `CommandAgent.resolve`.

Errors that retrying cannot fix (bad argv, program not allowed or not found, bad ``cwd``
or ``env``) raise `NonRetryableError`; a non-zero exit or a timeout raises
`CommandFailedError` (retryable, per the task's retry policy).
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from orchestrator.agent import Agent, NonRetryableError, TaskContext

#: How much of a failed command's stderr `CommandFailedError` keeps (the end of it).
STDERR_TAIL_CHARS = 2000

#: Keyword arguments a command task may give; anything else is refused, never ignored.
COMMAND_KWARGS = frozenset({"argv", "cwd", "env", "timeout_s", "stdin"})


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command that exited with status 0 produced.

    Attributes:
        argv: The argument vector as given (``argv[0]`` unresolved).
        returncode: The exit status (always 0 in a returned result).
        stdout: Standard output, decoded as UTF-8 (undecodable bytes replaced).
        stderr: Standard error, decoded likewise.
        duration_s: Wall-clock time from start to exit.
    """

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float


class CommandFailedError(RuntimeError):
    """A command exited with a non-zero status (retryable).

    Attributes:
        argv: The argument vector that failed.
        returncode: Its exit status; negative when a signal ended it, None when it was
            stopped for running too long.
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
    """A command ran longer than its ``timeout_s`` and was killed (retryable).

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


class CommandAgent(Agent):
    """Runs argument vectors whose program is in `allowed_executables`.

    Task input: the argument vector as ``kwargs["argv"]`` or as the positional ``args``;
    optional keyword arguments ``cwd`` (directory), ``env`` (mapping merged over the
    agent's environment), ``timeout_s`` (seconds) and ``stdin`` (text fed to the program;
    without it the program reads an empty standard input).

    Attributes:
        allowed_executables: Base names of the programs this agent may run; the base
            class allows none.
    """

    allowed_executables: ClassVar[frozenset[str]] = frozenset()

    def handle(self, ctx: TaskContext) -> CommandResult:
        """Run the command the task describes.

        Args:
            ctx: The attempt's context.

        Returns:
            The result of a command that exited with status 0.

        Raises:
            NonRetryableError: The input is malformed, the program is not allowed or not
                found, or ``cwd``/``env`` are invalid.
            CommandFailedError: The program exited with a non-zero status.
            CommandTimeoutError: The program ran past ``timeout_s``.
        """
        unknown = sorted(set(ctx.kwargs) - COMMAND_KWARGS)
        if unknown:
            raise NonRetryableError(
                f"task {ctx.task_id!r}: unknown command option(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(sorted(COMMAND_KWARGS))}"
            )
        if "argv" in ctx.kwargs and ctx.args:
            raise NonRetryableError(
                f"task {ctx.task_id!r}: give the argument vector either as kwargs 'argv' "
                "or as args, not both"
            )
        argv = ctx.kwargs["argv"] if "argv" in ctx.kwargs else list(ctx.args)
        result = self.run_command(
            argv,
            cwd=ctx.kwargs.get("cwd"),
            env=ctx.kwargs.get("env"),
            timeout_s=ctx.kwargs.get("timeout_s"),
            stdin=ctx.kwargs.get("stdin"),
        )
        ctx.log.info(
            "command finished",
            executable=result.argv[0],
            returncode=result.returncode,
            duration_s=round(result.duration_s, 4),
        )
        return result

    def run_command(
        self,
        argv: object,
        *,
        cwd: object = None,
        env: object = None,
        timeout_s: object = None,
        stdin: object = None,
    ) -> CommandResult:
        """Check and run one argument vector; the building block of `handle`.

        Parameters are typed ``object`` because they usually come from workflow files;
        each is checked here and a wrong one is refused with a message naming it.

        Args:
            argv: Non-empty list (or tuple) of strings; ``argv[0]`` names the program.
            cwd: Directory to run in; defaults to the agent's.
            env: Mapping of strings merged over ``os.environ``.
            timeout_s: Seconds before the program is killed; no limit when None.
            stdin: Text written to the program's standard input.

        Returns:
            The result of a command that exited with status 0.

        Raises:
            NonRetryableError: An argument is invalid, or the program is not allowed or
                cannot be started.
            CommandFailedError: The program exited with a non-zero status.
            CommandTimeoutError: The program ran past ``timeout_s``.
        """
        checked_argv = _check_argv(argv)
        name = os.path.basename(checked_argv[0])
        if name not in self.allowed_executables:
            allowed = ", ".join(sorted(self.allowed_executables)) or "none"
            raise NonRetryableError(
                f"executable {name!r} is not allowed for {type(self).__name__} "
                f"(allowed executables: {allowed})"
            )
        checked_cwd = _check_cwd(cwd)
        full_env = _merged_env(env)
        limit_s = _check_timeout(timeout_s)
        if stdin is not None and not isinstance(stdin, str):
            raise NonRetryableError(f"stdin must be a string, got {type(stdin).__name__}")
        executable = self.resolve(checked_argv[0], full_env)

        started = time.perf_counter()
        try:
            # The checked argv goes straight to execve: no shell ever parses it.
            completed = subprocess.run(
                list(checked_argv),
                executable=executable,
                shell=False,
                cwd=checked_cwd,
                env=full_env,
                input=stdin,
                stdin=subprocess.DEVNULL if stdin is None else None,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=limit_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CommandTimeoutError(checked_argv, exc.timeout, _tail(_text(exc.stderr))) from None
        except OSError as exc:
            # Resolved a moment ago: the file vanished, or it is not executable after all.
            raise NonRetryableError(f"cannot start {checked_argv[0]!r}: {exc}") from exc
        duration_s = time.perf_counter() - started
        if completed.returncode != 0:
            raise CommandFailedError(checked_argv, completed.returncode, _tail(completed.stderr))
        return CommandResult(
            argv=checked_argv,
            returncode=completed.returncode,
            stdout=completed.stdout,
            stderr=completed.stderr,
            duration_s=duration_s,
        )

    def resolve(self, program: str, env: Mapping[str, str]) -> str:
        """Return the file that runs for ``program`` (already allowed by name).

        A name without a directory is looked up on ``env["PATH"]``, as ``execvpe`` would;
        a path must be an executable file.

        Raises:
            NonRetryableError: Nothing executable is found.
        """
        if os.sep in program or (os.altsep is not None and os.altsep in program):
            if os.path.isfile(program) and os.access(program, os.X_OK):
                return program
            raise NonRetryableError(f"executable {program!r} not found or not executable")
        found = shutil.which(program, path=env.get("PATH", os.defpath))
        if found is None:
            raise NonRetryableError(f"executable {program!r} not found on PATH")
        return found


def _check_argv(argv: object) -> tuple[str, ...]:
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


def _check_cwd(cwd: object) -> str | None:
    if cwd is None:
        return None
    if not isinstance(cwd, str | os.PathLike):
        raise NonRetryableError(f"cwd must be a path string, got {type(cwd).__name__}")
    path = os.fspath(cwd)
    if not isinstance(path, str) or not os.path.isdir(path):
        raise NonRetryableError(f"cwd {path!r} is not an existing directory")
    return path


def _merged_env(env: object) -> dict[str, str]:
    merged = dict(os.environ)
    if env is None:
        return merged
    if not isinstance(env, Mapping):
        raise NonRetryableError(f"env must be a mapping of strings, got {type(env).__name__}")
    for key, value in env.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise NonRetryableError(
                f"env entries must be strings, got {key!r}: {value!r} "
                f"({type(key).__name__}: {type(value).__name__})"
            )
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise NonRetryableError(f"env entry {key!r} has an invalid name or a NUL byte")
        merged[key] = value
    return merged


def _check_timeout(timeout_s: object) -> float | None:
    if timeout_s is None:
        return None
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float):
        raise NonRetryableError(f"timeout_s must be a number, got {type(timeout_s).__name__}")
    if not math.isfinite(timeout_s) or timeout_s <= 0:
        raise NonRetryableError(f"timeout_s must be positive and finite, got {timeout_s!r}")
    return float(timeout_s)


def _text(output: str | bytes | None) -> str:
    # TimeoutExpired carries the raw bytes read so far even in text mode.
    if output is None:
        return ""
    if isinstance(output, bytes):
        return output.decode("utf-8", errors="replace")
    return output


def _tail(text: str) -> str:
    return text[-STDERR_TAIL_CHARS:]
