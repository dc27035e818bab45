"""Pure helpers of the benchmark suite: statistics, formatting, reports, arguments."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.__main__ import parse_args
from benchmarks.common import (
    BenchmarkResult,
    Table,
    TargetCheck,
    fitted_exponent,
    fmt,
    fmt_mb,
    growth_exponent,
    median,
    nlogn_exponent,
    rate,
    ratio,
    rotated,
)
from benchmarks.results_files import (
    load_result,
    markdown_table,
    render,
    status,
    summary,
    write_result,
    write_summary,
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [([3.0, 1.0, 2.0], 2.0), ([4.0, 1.0, 3.0, 2.0], 2.5), ([7.0], 7.0)],
)
def test_median(values: list[float], expected: float) -> None:
    assert median(values) == expected


def test_median_of_nothing_is_nan_so_a_missing_run_shows() -> None:
    assert math.isnan(median([]))


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(6.0, 3.0, 2.0), (1.0, 4.0, 0.25), (0.0, 2.0, 0.0)],
)
def test_ratio(numerator: float, denominator: float, expected: float) -> None:
    assert ratio(numerator, denominator) == expected


@pytest.mark.parametrize(
    ("numerator", "denominator"), [(1.0, 0.0), (math.nan, 1.0), (1.0, math.nan)]
)
def test_ratio_without_a_meaningful_value_is_nan(numerator: float, denominator: float) -> None:
    assert math.isnan(ratio(numerator, denominator))


def test_rate_is_count_per_second() -> None:
    assert rate(10_000, 2.0) == 5_000
    assert math.isnan(rate(10, 0.0))


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0])
def test_growth_exponent_recovers_a_power_law(power: float) -> None:
    assert growth_exponent(1_000, 1_000**power, 100_000, 100_000**power) == pytest.approx(power)


def test_growth_exponent_of_unusable_points_is_nan() -> None:
    assert math.isnan(growth_exponent(10, 1.0, 10, 2.0))
    assert math.isnan(growth_exponent(10, 0.0, 100, 2.0))


def test_nlogn_exponent_is_a_little_above_linear_and_shrinks_with_size() -> None:
    small = nlogn_exponent(1_000, 10_000)
    large = nlogn_exponent(10_000, 100_000)
    # 10 * log(10^4) / log(10^3) = 13.33 -> log10(13.33) = 1.125
    assert small == pytest.approx(1 + math.log10(4 / 3))
    assert 1.0 < large < small


def test_rotated_alternates_the_order_of_contenders() -> None:
    names = ["a", "b", "c"]
    assert [rotated(names, shift) for shift in range(4)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]
    assert rotated([], 3) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12_345, "12,345"),
        (12_345.6, "12,346"),
        (123.4, "123"),
        (12.34, "12.3"),
        (1.234, "1.23"),
        (0.1234, "0.123"),
        (0.0, "0.00"),
        (math.nan, "-"),
        (math.inf, "inf"),
        (None, "-"),
        (True, "yes"),
        ("text", "text"),
    ],
)
def test_fmt(value: object, expected: str) -> None:
    assert fmt(value) == expected


def test_fmt_mb_uses_decimal_megabytes() -> None:
    assert fmt_mb(380_000_000) == "380.0 MB"
    assert fmt_mb(math.nan) == "-"


def test_table_rejects_a_row_of_the_wrong_width() -> None:
    table = Table("t", ["a", "b"])
    table.add(1, 2)
    with pytest.raises(ValueError, match=r"1 cell.*has 2 columns"):
        table.add(1)


def test_markdown_table_right_aligns_numeric_columns_only() -> None:
    text = markdown_table(["name", "tasks/s", "note"], [["x", 1500.0, "ok"], ["y", None, "-"]])
    assert text.splitlines() == [
        "| name | tasks/s | note |",
        "|---|---:|---|",
        "| x | 1,500 | ok |",
        "| y | - | - |",
    ]


@pytest.mark.parametrize(
    ("met", "expected"), [(True, "met"), (False, "NOT met"), (None, "not measured")]
)
def test_status(met: bool | None, expected: str) -> None:
    assert status(met) == expected


def _result(name: str, value: float) -> BenchmarkResult:
    table = Table("Numbers", ["what", "value"])
    table.add("x", value)
    return BenchmarkResult(
        name=name,
        title=f"Title of {name}",
        tables=[table],
        targets=[TargetCheck(f"{name} target", "< 1", fmt(value), value < 1)],
        notes=["a note"],
        data={"samples": [value, math.nan]},
        environment={"when": "now", "cpus": 2, "quick": True, "repeats": 1},
        duration_s=1.5,
    )


def test_write_result_round_trips_and_writes_json_without_nan(tmp_path: Path) -> None:
    json_path, md_path = write_result(_result("core", 0.5), tmp_path)
    raw = json.loads(json_path.read_text())  # strict JSON: NaN became null
    assert raw["data"]["samples"] == [0.5, None]
    loaded = load_result(json_path)
    assert loaded.name == "core"
    assert loaded.tables[0].rows == [["x", 0.5]]
    assert loaded.targets[0].met is True
    text = md_path.read_text()
    assert "# Title of core" in text
    assert "| core | core target | < 1 | 0.500 | met |" in text
    assert "- a note" in text


def test_render_names_the_run_conditions() -> None:
    text = render(_result("memory", 2.0))
    assert "quick sizes, 1 repeats" in text
    assert "NOT met" in text


def test_render_says_the_repeats_run_and_the_files_changed(tmp_path: Path) -> None:
    result = _result("memory", 2.0)
    result.repeats = 2
    result.environment["changed_files"] = ["benchmarks/memory.py"]
    text = render(result)
    assert "quick sizes, 2 repeats" in text
    assert "Uncommitted changes to: `benchmarks/memory.py`." in text
    json_path, _ = write_result(result, tmp_path)
    assert load_result(json_path).repeats == 2


def test_summary_orders_benchmarks_and_lists_every_target_first() -> None:
    text = summary([_result("memory", 2.0), _result("dispatch", 0.1)])
    targets_at = text.index("## Targets")
    assert targets_at < text.index("dispatch target") < text.index("memory target")
    assert text.index("## Title of dispatch") < text.index("## Title of memory")


def test_write_summary_keeps_results_of_benchmarks_not_rerun(tmp_path: Path) -> None:
    write_result(_result("workflows", 0.9), tmp_path)
    write_result(_result("core", 0.2), tmp_path)
    text = write_summary(tmp_path)
    assert (tmp_path / "README.md").read_text() == text + "\n"
    assert "Title of workflows" in text and "Title of core" in text


def test_parse_args_defaults_and_subsets() -> None:
    args = parse_args([])
    assert args.names == [] and not args.quick and args.repeats is None
    args = parse_args(["core", "memory", "--quick", "--repeats", "4", "--time-scale", "0.01"])
    assert args.names == ["core", "memory"]
    assert (args.quick, args.repeats, args.time_scale) == (True, 4, 0.01)


@pytest.mark.parametrize("argv", [["nonsense"], ["--repeats", "0"], ["--time-scale", "-1"]])
def test_parse_args_refuses_bad_input(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


@pytest.mark.parametrize("power", [1.0, 1.5])
def test_fitted_exponent_recovers_a_power_law_over_several_sizes(power: float) -> None:
    sizes = [1_000, 10_000, 100_000]
    assert fitted_exponent(sizes, [n**power for n in sizes]) == pytest.approx(power)


def test_fitted_exponent_of_n_log_n_lies_between_the_steps() -> None:
    sizes = [1_000, 10_000, 100_000]
    fit = fitted_exponent(sizes, [n * math.log(n) for n in sizes])
    assert nlogn_exponent(10_000, 100_000) < fit < nlogn_exponent(1_000, 10_000)


def test_fitted_exponent_needs_two_distinct_sizes() -> None:
    assert math.isnan(fitted_exponent([10], [1.0]))
    assert math.isnan(fitted_exponent([10, 10], [1.0, 2.0]))
