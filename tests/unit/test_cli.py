"""The CLI refuses bad input before starting Ray, with exit status 2."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import EXIT_REJECTED, main

DATA = Path(__file__).resolve().parent.parent / "data"


def test_validate_accepts_a_good_file() -> None:
    result = CliRunner().invoke(main, ["validate", str(DATA / "tiny.yaml")])
    assert result.exit_code == 0, result.output
    assert "ok: workflow 'tiny', 3 tasks, 0 agents" in result.output


def test_validate_refuses_a_bad_file_with_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ntasks:\n"
        "  - {id: a, function: 'tests.integration.workloads:add', depends_on: [b]}\n"
        "  - {id: b, function: 'tests.integration.workloads:add', depends_on: [a]}\n"
        "  - {id: c, agent: Nobody}\n"
    )
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == EXIT_REJECTED
    assert "dependency cycle: a -> b -> a" in result.output
    assert "agent 'Nobody' is not declared" in result.output


def test_run_refuses_a_bad_file_before_starting_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntasks:\n  - {id: a, function: 'x:y', resources: {num_cpus: -2}}\n")
    result = CliRunner().invoke(main, ["run", str(bad), "--no-progress"])
    assert result.exit_code == EXIT_REJECTED
    assert "resources.num_cpus: Input should be greater than or equal to 0" in result.output
    assert "module 'x' is not an allowed handler module" in result.output


def test_validate_refuses_os_system_naming_the_field_and_the_module(tmp_path: Path) -> None:
    # The file of issue 11: today's `os:system` with a shell command must not validate.
    bad = tmp_path / "pwned.yaml"
    bad.write_text(
        "name: pwned\ntasks:\n"
        "  - {id: a, function: 'os:system', args: ['echo pwned']}\n"
        "  - {id: b, function: 'subprocess:run', args: [['id']], priority: urgent}\n"
        "  - {id: c, function: 'builtins:eval', args: ['1']}\n"
    )
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == EXIT_REJECTED
    assert "tasks[0] (id 'a').function: module 'os' is never allowed" in result.output
    assert "tasks[1] (id 'b').function: module 'subprocess' is never allowed" in result.output
    assert "tasks[2] (id 'c').function: module 'builtins' is never allowed" in result.output
    assert "unknown priority 'urgent'" in result.output  # reported with the other problems


def test_run_rejects_options_out_of_range() -> None:
    result = CliRunner().invoke(main, ["run", str(DATA / "tiny.yaml"), "--time-scale", "0"])
    assert result.exit_code == 2
    assert "--time-scale" in result.output


def test_validate_lists_the_resource_conflicts_the_graph_does_not_order(tmp_path: Path) -> None:
    path = tmp_path / "conflicts.yaml"
    path.write_text(
        "name: c\n"
        "tasks:\n"
        '  - {id: load, function: "math:floor", args: [1.5], writes: [db]}\n'
        '  - {id: migrate, function: "math:floor", args: [2.5], writes: [db]}\n'
        '  - {id: read, function: "math:floor", args: [2.5], reads: [db],'
        " depends_on: [load, migrate]}\n"
    )
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 resource conflict(s), ordered at run time by locks:" in result.output
    assert "load and migrate: write/write on 'db'" in result.output
