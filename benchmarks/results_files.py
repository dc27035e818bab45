"""Writing results: one JSON and one markdown file per benchmark, and a combined README.

``benchmarks/results/<name>.json`` holds everything (tables, targets, notes, raw samples,
environment); ``<name>.md`` is its readable form. ``README.md`` is rebuilt from every JSON
file present, so running a subset refreshes its part and keeps the others.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.common import BenchmarkResult, Table, TargetCheck, fmt

#: The order benchmarks appear in the combined README.
ORDER = ("dispatch", "core", "workflows", "memory")


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Return a GitHub markdown table; numbers are right-aligned and formatted by `fmt`."""
    body = [list(row) for row in rows]
    numeric = [
        bool(body) and all(isinstance(row[i], int | float) or row[i] is None for row in body)
        for i in range(len(columns))
    ]
    cells = [[fmt(value) for value in row] for row in body]
    lines = ["| " + " | ".join(columns) + " |"]
    lines.append("|" + "|".join("---:" if num else "---" for num in numeric) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in cells)
    return "\n".join(lines)


def targets_table(checks: Iterable[tuple[str, TargetCheck]]) -> str:
    """Return the table of targets: benchmark, what, target, measured, status."""
    rows = [
        [bench, check.name, check.target, check.measured, status(check.met)]
        for bench, check in checks
    ]
    return markdown_table(["benchmark", "measure", "target", "measured", "status"], rows)


def status(met: bool | None) -> str:
    """Return ``met``, ``NOT met`` or ``not measured``."""
    if met is None:
        return "not measured"
    return "met" if met else "NOT met"


def render(result: BenchmarkResult, heading: str = "#") -> str:
    """Return the markdown of one benchmark: tables, targets, notes, environment."""
    env = result.environment
    parts = [f"{heading} {result.title}", ""]
    repeats = result.repeats if result.repeats is not None else env.get("repeats", "?")
    parts.append(
        f"Run {env.get('when', '?')} on {env.get('cpus', '?')} CPUs "
        f"(load {env.get('load_avg_1m', '?')}), commit {env.get('commit', '?')}, "
        f"{'quick sizes' if env.get('quick') else 'default sizes'}, "
        f"{repeats} repeats; took {result.duration_s:.0f} s."
    )
    changed = env.get("changed_files") or []
    if changed:
        parts.append("")
        parts.append(f"Uncommitted changes to: {', '.join(f'`{name}`' for name in changed)}.")
    parts.append("")
    for table in result.tables:
        parts.extend([f"{heading}# {table.title}", "", markdown_table(table.columns, table.rows)])
        parts.append("")
    if result.targets:
        parts.extend([f"{heading}# Targets", ""])
        parts.append(targets_table((result.name, check) for check in result.targets))
        parts.append("")
    if result.notes:
        parts.extend([f"{heading}# How it was measured", ""])
        parts.extend(f"- {note}" for note in result.notes)
        parts.append("")
    return "\n".join(parts)


def _clean(value: Any) -> Any:
    """Return ``value`` with NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def write_result(result: BenchmarkResult, directory: Path) -> tuple[Path, Path]:
    """Write ``<name>.json`` and ``<name>.md`` under ``directory``; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{result.name}.json"
    md_path = directory / f"{result.name}.md"
    json_path.write_text(json.dumps(_clean(asdict(result)), indent=2) + "\n", encoding="utf-8")
    md_path.write_text(render(result) + "\n", encoding="utf-8")
    return json_path, md_path


def load_result(path: Path) -> BenchmarkResult:
    """Read a result written by `write_result`."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return BenchmarkResult(
        name=raw["name"],
        title=raw["title"],
        tables=[Table(t["title"], t["columns"], t["rows"]) for t in raw.get("tables", [])],
        targets=[TargetCheck(**t) for t in raw.get("targets", [])],
        notes=list(raw.get("notes", [])),
        data=raw.get("data", {}),
        environment=raw.get("environment", {}),
        duration_s=raw.get("duration_s", 0.0),
        repeats=raw.get("repeats"),
    )


def _sort_key(result: BenchmarkResult) -> tuple[int, str]:
    index = ORDER.index(result.name) if result.name in ORDER else len(ORDER)
    return index, result.name


def summary(results: Iterable[BenchmarkResult]) -> str:
    """Return the combined markdown: every target first, then each benchmark in full."""
    ordered = sorted(results, key=_sort_key)
    parts = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m benchmarks`); each benchmark also has its own",
        "`<name>.md` and `<name>.json` (raw samples) here. Contenders of one benchmark run",
        "in the same process on the same machine, alternating across repeats; compare the",
        "ratios, as absolute times on these shared machines are noisy.",
        "",
        "## Targets",
        "",
        targets_table((r.name, check) for r in ordered for check in r.targets),
        "",
    ]
    parts.extend(render(result, heading="##") for result in ordered)
    return "\n".join(parts)


def write_summary(directory: Path) -> str:
    """Rebuild ``README.md`` from every result JSON in ``directory``; return its text."""
    results = [load_result(path) for path in sorted(directory.glob("*.json"))]
    text = summary(results)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "README.md").write_text(text + "\n", encoding="utf-8")
    return text
