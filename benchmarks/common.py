"""What every benchmark shares: results, statistics, timing and the environment record.

A benchmark returns a `BenchmarkResult`: one or more `Table`s (what the markdown shows),
`TargetCheck`s (where each target of the issue stands), notes (how it was measured) and
the raw samples (``data``, kept in the JSON file so anyone can recompute the medians).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Repository root (``benchmarks/`` sits directly under it).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Where results are written by default.
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Options every benchmark receives from the command line.

    Attributes:
        quick: Small sizes, for a smoke test (whole suite in about two minutes).
        repeats: Timed repetitions per measurement (after a warm-up).
        time_scale: For the workflows benchmark: one factor applied to every recorded task
            runtime, instead of a factor per instance chosen to make its run last a few
            seconds.
        instances: For the workflows benchmark: run only the instances of these labels
            (e.g. ``genome-100-2core``); empty: every instance.
    """

    quick: bool = False
    repeats: int = 3
    time_scale: float | None = None
    instances: tuple[str, ...] = ()


@dataclass(slots=True)
class Table:
    """A table of the report: a title, column headers and rows of cells."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        """Append one row; it must have one cell per column."""
        if len(cells) != len(self.columns):
            raise ValueError(
                f"a row of {len(cells)} cell(s) for table {self.title!r}, "
                f"which has {len(self.columns)} columns ({', '.join(self.columns)})"
            )
        self.rows.append(list(cells))


@dataclass(frozen=True, slots=True)
class TargetCheck:
    """One target of the issue and where the measurement leaves it.

    Attributes:
        name: What is measured, e.g. ``dispatch ratio orchestrator / Ray tasks``.
        target: The target in words, e.g. ``>= 1.0``.
        measured: The measured value in words.
        met: Whether the target is met (None when it could not be measured).
    """

    name: str
    target: str
    measured: str
    met: bool | None


@dataclass(slots=True)
class BenchmarkResult:
    """Everything one benchmark produced."""

    name: str
    title: str
    tables: list[Table] = field(default_factory=list)
    targets: list[TargetCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    #: Timed repeats it actually ran, when not ``--repeats`` (e.g. capped for its length).
    repeats: int | None = None


# -- statistics --------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    """Return the median of ``values`` (NaN when empty, so a missing run stays visible)."""
    return float(statistics.median(values)) if values else math.nan


def ratio(numerator: float, denominator: float) -> float:
    """Return ``numerator / denominator``; NaN when either is missing or the divisor is 0."""
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return math.nan
    return numerator / denominator


def growth_exponent(n1: float, t1: float, n2: float, t2: float) -> float:
    """Return ``k`` such that ``t`` grows like ``n**k`` between two sizes.

    ``log(t2 / t1) / log(n2 / n1)``: 1.0 is linear; n log n gives a bit more than 1
    (see `nlogn_exponent`).
    """
    if n1 <= 0 or n2 <= 0 or n1 == n2 or t1 <= 0 or t2 <= 0:
        return math.nan
    return math.log(t2 / t1) / math.log(n2 / n1)


def nlogn_exponent(n1: float, n2: float) -> float:
    """Return the `growth_exponent` a cost of exactly ``n log n`` shows between two sizes."""
    return growth_exponent(n1, n1 * math.log(n1), n2, n2 * math.log(n2))


def fitted_exponent(sizes: Sequence[float], times: Sequence[float]) -> float:
    """Return the least-squares slope of log(time) against log(size) over every point.

    Less sensitive to one noisy size than `growth_exponent` between neighbours; NaN with
    fewer than two usable points.
    """
    pairs = zip(sizes, times, strict=True)
    points = [(math.log(n), math.log(t)) for n, t in pairs if n > 0 and t > 0]
    if len({x for x, _ in points}) < 2:
        return math.nan
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in points)
    variance = sum((x - mean_x) ** 2 for x, _ in points)
    return covariance / variance


def rate(count: float, seconds: float) -> float:
    """Return ``count / seconds`` (NaN for a zero or missing time)."""
    return ratio(count, seconds)


# -- formatting --------------------------------------------------------------------------


def fmt(value: Any, digits: int = 2) -> str:
    """Format a cell for a table; NaN (a missing measurement) shows as ``-``.

    Integers get thousands separators; floats keep about three significant digits
    (``12,345``, ``123``, ``12.3``, ``1.23`` with ``digits=2``, ``0.123``).
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _fmt_float(value, digits)
    return str(value)


def _fmt_float(value: float, digits: int) -> str:
    if math.isnan(value):
        return "-"
    magnitude = abs(value)
    if math.isinf(value):
        text = "inf"
    elif magnitude >= 100:
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1 or value == 0:
        text = f"{value:.{digits}f}"
    else:
        text = f"{value:.3f}"
    return text


def fmt_mb(num_bytes: float) -> str:
    """Format a byte count in MB (10**6 bytes, as the targets are stated)."""
    return "-" if math.isnan(num_bytes) else f"{num_bytes / 1e6:.1f} MB"


# -- timing ------------------------------------------------------------------------------


class Stopwatch:
    """Measures elapsed wall time with `time.perf_counter`."""

    __slots__ = ("_start",)

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def elapsed_s(self) -> float:
        """Return the seconds since the stopwatch was made."""
        return time.perf_counter() - self._start


def rotated(items: Sequence[str], shift: int) -> list[str]:
    """Return ``items`` rotated left by ``shift`` (alternates contenders across repeats)."""
    if not items:
        return []
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def log(message: str) -> None:
    """Print a progress line (stderr, so the final table on stdout stays clean)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_until(
    condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.1, what: str = "condition"
) -> float:
    """Poll ``condition`` until it holds; return the seconds waited.

    Raises:
        TimeoutError: it did not hold within ``timeout_s``.
    """
    watch = Stopwatch()
    while not condition():
        if watch.elapsed_s() > timeout_s:
            raise TimeoutError(f"{what} did not happen within {timeout_s:g}s")
        time.sleep(poll_s)
    return watch.elapsed_s()


# -- environment -------------------------------------------------------------------------


def use_ray_environment() -> None:
    """Set what every Ray started here needs, before it starts.

    No usage statistics (there is no network), and token authentication off, as the
    orchestrator's ``auth_mode="disabled"`` does, so that every Ray of the suite (the
    orchestrator's and the baselines') runs the same way. An explicit environment wins.
    """
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def orchestrator_settings(
    num_cpus: int | None = None,
    *,
    log_level: str = "WARNING",
    ray: dict[str, Any] | None = None,
    **sections: Any,
) -> Any:
    """Return the `Settings` of an orchestrator a benchmark starts.

    An embedded local Ray (no dashboard: the defaults) of ``num_cpus`` CPUs (None: Ray
    counts them, or a joined cluster has its own), auth disabled, workers' logs kept out of
    the driver, orchestrator logging at ``log_level``.

    Args:
        num_cpus: CPUs of the embedded Ray.
        log_level: The orchestrator's log level.
        ray: More `RaySettings` fields (``address``, ``supervisor_name``, ...).
        **sections: Other sections of `Settings` (``scheduler=SchedulerConfig(...)``, ...).
    """
    from orchestrator.settings import LoggingSettings, RaySettings, Settings

    ray_fields: dict[str, Any] = {"auth_mode": "disabled", "log_to_driver": False}
    if num_cpus is not None:
        ray_fields["num_cpus"] = num_cpus
    ray_fields.update(ray or {})
    return Settings(
        ray=RaySettings(**ray_fields), logging=LoggingSettings(level=log_level), **sections
    )


@contextmanager
def gc_threshold(threshold: tuple[int, int, int]) -> Iterator[None]:
    """Apply ``gc.set_threshold(*threshold)`` for the block, then restore the previous one."""
    import gc

    previous = gc.get_threshold()
    gc.set_threshold(*threshold)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def environment(options: RunOptions) -> dict[str, Any]:
    """Return where and how the benchmark ran (machine, versions, commit, options)."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str] = {}
    for module in ("ray", "pydantic", "networkx", "dask", "distributed", "wfcommons"):
        try:
            versions[module] = version(module)
        except PackageNotFoundError:  # an optional package that is not installed
            continue
    commit = _git("rev-parse", "--short", "HEAD")
    changed = _git("status", "--porcelain", "--untracked-files=no").splitlines()
    dirty = bool(changed)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "commit": commit + ("+dirty" if dirty else ""),
        # Which tracked files differed from the commit (a dirty tree says which).
        "changed_files": [line.split(None, 1)[-1] for line in changed],
        "versions": versions,
        "quick": options.quick,
        "repeats": options.repeats,
    }
