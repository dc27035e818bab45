"""CommandAgent hardening: what runs, with which environment, within which limits (no Ray).

Escape attempts a task could make through its input, each refused before anything runs,
and the containment of what does run: minimal environment, output and stdin caps, and a
time limit that kills the whole process group.
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, cast

import pytest

from agents.command import (
    CommandAgent,
    CommandFailedError,
    CommandOutputLimitError,
    CommandTimeoutError,
)
from orchestrator.agent import NonRetryableError, TaskContext

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


class Tools(CommandAgent):
    allowed_executables: ClassVar[frozenset[str]] = frozenset(
        {"echo", "wc", "cat", "touch", "printenv", "yes", "/usr/bin/env"}
    )


class ShellTools(CommandAgent):
    """Allows ``sh``: only for tests that need a program starting other programs."""

    allowed_executables: ClassVar[frozenset[str]] = frozenset({"sh"})


def _ctx(*args: Any, **kwargs: Any) -> TaskContext:
    return TaskContext(
        workflow_id="wf",
        task_id="cmd",
        attempt=1,
        agent_id="tools-0",
        args=args,
        kwargs=kwargs,
    )


def _agent(allowed: Iterable[str], search_path: Iterable[str | Path], **limits: Any) -> Any:
    """An instance of a CommandAgent subclass made for one test."""
    attributes: dict[str, Any] = {
        "allowed_executables": frozenset(allowed),
        "search_path": tuple(str(directory) for directory in search_path),
        **limits,
    }
    return cast(type[CommandAgent], type("Sandboxed", (CommandAgent,), attributes))()


# -- arguments are never interpreted ---------------------------------------------------------


@pytest.mark.parametrize(
    "argument",
    ["a;b", "$(id)", "`id`", "a | cat", "a && touch x", "*", "~", "${HOME}", "'quoted'", "a\nb"],
)
def test_shell_metacharacters_reach_the_program_literally(argument: str) -> None:
    result = Tools().handle(_ctx(argv=["echo", argument]))
    assert result.stdout == argument + "\n"


def test_argv0_is_passed_unchanged() -> None:
    # Multi-call programs (busybox, sh -> dash) read argv[0]; the resolved file is what runs.
    result = ShellTools().handle(_ctx(argv=["sh", "-c", "echo $0"]))
    assert result.stdout == "sh\n"


# -- which program runs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv0", "problem"),
    [
        ("./wc", "'./wc' is a relative path"),
        ("../wc", "'../wc' is a relative path"),
        ("bin/wc", "'bin/wc' is a relative path"),
        ("/usr/bin/wc", "'/usr/bin/wc' is not allowed .* allowlisted by that absolute path"),
        ("/bin/sh", "'/bin/sh' is not allowed"),
        ("/usr/bin/../bin/env", "not allowed"),
        ("//usr/bin/env", "not allowed"),
        ("sh", "'sh' is not allowed"),
        ("env", "'env' is not allowed"),  # allowlisted by path only, not by name
    ],
)
def test_programs_not_allowlisted_as_given_are_refused(argv0: str, problem: str) -> None:
    with pytest.raises(NonRetryableError, match=problem):
        Tools().handle(_ctx(argv=[argv0]))


def test_symlink_named_like_an_allowed_program_pointing_outside_is_refused(
    tmp_path: Path,
) -> None:
    # Given a search-path directory holding "wc", a link to a program elsewhere
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "wc").symlink_to("/usr/bin/cat")
    agent = _agent({"wc"}, [bin_dir])
    # Then running "wc" is refused: cat lives outside the search path
    with pytest.raises(NonRetryableError, match=r"'wc' resolves to '/usr/bin/cat', outside"):
        agent.handle(_ctx(argv=["wc"], stdin="secret"))


def test_symlink_to_a_file_in_another_search_path_directory_runs(tmp_path: Path) -> None:
    (tmp_path / "wc").symlink_to("/usr/bin/wc")
    agent = _agent({"wc"}, [tmp_path, "/usr/bin"])
    assert agent.resolve("wc") == "/usr/bin/wc"
    assert agent.handle(_ctx(argv=["wc", "-c"], stdin="abcd")).stdout.strip() == "4"


def test_allowlisted_path_linking_outside_the_search_path_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "tool"
    target.write_text("#!/bin/sh\necho hijacked\n")
    target.chmod(0o755)
    link = tmp_path / "tool"
    link.symlink_to(target)
    with pytest.raises(NonRetryableError, match="outside the search path"):
        _agent({str(link)}, ["/usr/bin"]).handle(_ctx(argv=[str(link)]))


def test_first_match_in_the_search_path_decides(tmp_path: Path) -> None:
    # A broken "wc" early in the search path is reported, not silently skipped for another.
    fake = tmp_path / "wc"
    fake.write_text("not a program\n")
    fake.chmod(0o644)
    with pytest.raises(NonRetryableError, match=r"'wc' \(.*/wc'\) is not executable"):
        _agent({"wc"}, [tmp_path, "/usr/bin"]).handle(_ctx(argv=["wc"]))


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda path: path.mkdir(), "is not a regular file"),
        (lambda path: path.symlink_to(path.parent / "missing"), "not found"),
        (lambda path: (path.write_text("#!/bin/sh\n"), path.chmod(0o644)), "is not executable"),
    ],
    ids=["directory", "dangling-symlink", "not-executable"],
)
def test_entries_that_are_not_executable_files_are_refused(
    tmp_path: Path, make: Any, problem: str
) -> None:
    make(tmp_path / "tool")
    with pytest.raises(NonRetryableError, match=problem):
        _agent({"tool"}, [tmp_path]).handle(_ctx(argv=["tool"]))


def test_path_from_the_agents_environment_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = tmp_path / "wc"
    decoy.write_text("#!/bin/sh\necho decoy\n")
    decoy.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    result = Tools().handle(_ctx(argv=["wc", "-c"], stdin="abc"))
    assert result.stdout.strip() == "3"


@pytest.mark.parametrize(
    ("attributes", "error", "problem"),
    [
        ({"allowed_executables": frozenset({"./wc"})}, ValueError, "'./wc' must be a bare"),
        ({"allowed_executables": frozenset({"bin/wc"})}, ValueError, "must be a bare name"),
        ({"allowed_executables": frozenset({"/usr/../bin/wc"})}, ValueError, "normalised"),
        ({"allowed_executables": frozenset({".."})}, ValueError, "not a program name"),
        ({"allowed_executables": frozenset({3})}, TypeError, "3 is not a string"),
        ({"search_path": ("bin",)}, ValueError, "'bin' must be an absolute"),
        ({"search_path": ("/usr/bin/",)}, ValueError, "normalised directory"),
        ({"max_output_bytes": 0}, ValueError, "max_output_bytes must be positive"),
        ({"max_timeout_s": float("inf")}, ValueError, "max_timeout_s must be positive"),
        ({"max_stdin_bytes": "1"}, TypeError, "max_stdin_bytes must be a number"),
    ],
)
def test_bad_class_settings_fail_when_the_class_is_defined(
    attributes: dict[str, Any], error: type[Exception], problem: str
) -> None:
    with pytest.raises(error, match=problem):
        type("Bad", (CommandAgent,), attributes)


# -- environment -----------------------------------------------------------------------------


def test_child_sees_only_the_minimal_environment_and_the_tasks_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_TEST_SECRET", "hunter2")
    result = Tools().handle(_ctx(argv=["/usr/bin/env"], env={"GREETING": "hello"}))

    seen = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert set(seen) == {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "GREETING"}
    assert "hunter2" not in result.stdout
    assert seen["PATH"] == DEFAULT_PATH
    assert seen["LANG"] == seen["LC_ALL"] == "C.UTF-8"
    assert seen["GREETING"] == "hello"
    # HOME and TMPDIR: one private directory, made for the command and removed after it.
    assert seen["HOME"] == seen["TMPDIR"]
    assert Path(seen["HOME"]).name.startswith("command-")
    assert not os.path.exists(seen["HOME"])


@pytest.mark.parametrize(
    "name",
    [
        "PATH",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "ld_preload",
        "DYLD_INSERT_LIBRARIES",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PERL5LIB",
        "RUBYLIB",
        "NODE_OPTIONS",
        "BASH_ENV",
        "ENV",
        "IFS",
        "HOME",
        "GIT_CONFIG_GLOBAL",
        "GCONV_PATH",
    ],
)
def test_dangerous_env_variables_are_refused_before_anything_runs(
    name: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(NonRetryableError, match=f"env variable '{name}' is refused"):
        Tools().handle(_ctx(argv=["touch", str(marker)], env={name: str(tmp_path)}))
    assert not marker.exists()


def test_subclass_may_allow_path_but_programs_are_still_found_on_the_search_path(
    tmp_path: Path,
) -> None:
    decoy = tmp_path / "printenv"
    decoy.write_text("#!/bin/sh\necho decoy\n")
    decoy.chmod(0o755)

    class PathSetter(CommandAgent):
        allowed_executables: ClassVar[frozenset[str]] = frozenset({"printenv"})
        env_denied_names: ClassVar[frozenset[str]] = CommandAgent.env_denied_names - {"PATH"}

    result = PathSetter().handle(_ctx(argv=["printenv", "PATH"], env={"PATH": str(tmp_path)}))
    assert result.stdout.strip() == str(tmp_path)  # the real printenv ran, with that PATH


def test_env_allowed_names_accepts_only_those_names() -> None:
    class Strict(CommandAgent):
        allowed_executables: ClassVar[frozenset[str]] = frozenset({"printenv"})
        env_allowed_names: ClassVar[frozenset[str] | None] = frozenset({"COLOR", "LD_DEBUG"})

    assert Strict().handle(_ctx(argv=["printenv", "COLOR"], env={"COLOR": "1"})).stdout == "1\n"
    with pytest.raises(NonRetryableError, match=r"'SIZE' is not allowed \(allowed env names"):
        Strict().handle(_ctx(argv=["printenv"], env={"SIZE": "1"}))
    # Listing a denied name does not let it through.
    with pytest.raises(NonRetryableError, match="'LD_DEBUG' is refused"):
        Strict().handle(_ctx(argv=["printenv"], env={"LD_DEBUG": "all"}))


# -- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "stream"),
    [(["yes"], "stdout"), (["sh", "-c", "yes >&2"], "stderr")],
)
def test_output_over_the_limit_kills_the_program(argv: list[str], stream: str) -> None:
    agent = _agent({"yes", "sh"}, CommandAgent.search_path, max_output_bytes=1000)
    started = time.perf_counter()
    with pytest.raises(CommandOutputLimitError) as caught:
        agent.handle(_ctx(argv=argv, timeout_s=60))
    error = caught.value
    assert time.perf_counter() - started < 30  # `yes` never ends by itself
    assert (error.stream, error.limit_bytes, error.returncode) == (stream, 1000, None)
    assert isinstance(error, NonRetryableError)
    assert isinstance(error, CommandFailedError)
    assert f"wrote more than 1000 bytes to {stream}" in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.stream, copy.limit_bytes, str(copy)) == (stream, 1000, str(error))


@pytest.mark.parametrize(("size", "accepted"), [(1000, True), (1001, False)])
def test_output_limit_is_inclusive(tmp_path: Path, size: int, accepted: bool) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"x" * size)
    agent = _agent({"cat"}, CommandAgent.search_path, max_output_bytes=1000)
    if accepted:
        assert len(agent.handle(_ctx(argv=["cat", str(data)])).stdout) == size
    else:
        with pytest.raises(CommandOutputLimitError):
            agent.handle(_ctx(argv=["cat", str(data)]))


def test_stdin_over_the_limit_is_refused_counting_bytes() -> None:
    agent = _agent({"wc"}, CommandAgent.search_path, max_stdin_bytes=10)
    assert agent.handle(_ctx(argv=["wc", "-c"], stdin="é" * 5)).stdout.strip() == "10"
    with pytest.raises(NonRetryableError, match=r"stdin is 12 bytes, over .* max_stdin_bytes 10"):
        agent.handle(_ctx(argv=["wc", "-c"], stdin="é" * 6))


def test_large_stdin_is_fed_while_output_is_read() -> None:
    text = "line\n" * 150_000  # 750 kB: more than any pipe buffer
    assert Tools().handle(_ctx(argv=["cat"], stdin=text)).stdout == text


def test_stdin_a_program_does_not_read_is_dropped_quietly() -> None:
    assert Tools().handle(_ctx(argv=["echo", "hi"], stdin="x" * 500_000)).stdout == "hi\n"


def test_timeout_defaults_to_and_is_capped_by_the_class_maximum() -> None:
    agent = _agent({"yes"}, CommandAgent.search_path, max_timeout_s=0.3, max_output_bytes=2**40)
    with pytest.raises(CommandTimeoutError) as caught:
        agent.handle(_ctx(argv=["yes"]))
    assert caught.value.timeout_s == 0.3
    with pytest.raises(NonRetryableError, match=r"timeout_s 5 is over .* max_timeout_s 0\.3"):
        agent.handle(_ctx(argv=["yes"], timeout_s=5))


# -- process group ---------------------------------------------------------------------------

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()  # state, ppid, pgrp, ...


def _living(pids: Iterable[int], pgid: int) -> set[int]:
    """Which of ``pids``, or of the members of group ``pgid``, are alive (not zombies)."""
    candidates = set(pids) | {
        int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()
    }
    alive = set()
    for pid in candidates:
        fields = _stat_fields(pid)
        if fields is None or fields[0] == "Z":
            continue
        if pid in pids or int(fields[2]) == pgid:
            alive.add(pid)
    return alive


def _wait_all_dead(pids: set[int], pgid: int, within_s: float = 5.0) -> set[int]:
    deadline = time.monotonic() + within_s
    while (alive := _living(pids, pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


@needs_proc
def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    # Given a shell that starts a background sleep, then sleeps itself
    script = f"echo $$ > {tmp_path}/shell; sleep 60 & echo $! > {tmp_path}/child; sleep 60"
    # When it runs past its time limit
    with pytest.raises(CommandTimeoutError):
        ShellTools().handle(_ctx(argv=["sh", "-c", script], timeout_s=1))
    # Then the shell, its background child and anything else in its group are gone
    shell = int((tmp_path / "shell").read_text())
    child = int((tmp_path / "child").read_text())
    assert _wait_all_dead({shell, child}, pgid=shell) == set()


@needs_proc
def test_background_processes_end_with_the_program(tmp_path: Path) -> None:
    # The background sleep holds stdout open: without killing the group this would wait 60 s.
    script = f"echo $$ > {tmp_path}/shell; sleep 60 & echo $!"
    started = time.perf_counter()
    result = ShellTools().handle(_ctx(argv=["sh", "-c", script], timeout_s=30))
    assert time.perf_counter() - started < 20
    shell = int((tmp_path / "shell").read_text())
    child = int(result.stdout)
    assert _wait_all_dead({shell, child}, pgid=shell) == set()
