"""A run as a timeline: one row per agent, one bar per task, coloured by its state.

Bars go from a task's ``started_s`` to its ``finished_s`` (a task still running reaches
the right edge). `TaskInfo` keeps the timings of a task's last attempt only, so each task
is one bar, its last attempt; the tooltip says how many attempts it took. Bars of one
agent that overlap in time (pipelined calls, ``max_concurrency`` above 1) are stacked in
lanes of its row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from orchestrator.core.status import TaskInfo
from orchestrator.pictures.markup import (
    LEGEND_H,
    clip,
    esc,
    figure,
    legend_svg,
    legend_width,
    page,
    svg_open,
    text_px,
)
from orchestrator.pictures.model import STATE_COLOURS

#: Most bars drawn (the earliest started); the picture says how many were left out.
DEFAULT_MAX_BARS = 2000
PLOT_W, LANE_H, BAR_H, MARGIN, AXIS_H = 720, 20, 14, 16, 24
NO_AGENT = "(no agent)"


def _step(span_s: float) -> float:
    """Return a tick step of 1, 2 or 5 times a power of ten giving at most 8 ticks."""
    magnitude = 10.0 ** math.floor(math.log10(span_s / 8))
    return next(m * magnitude for m in (1, 2, 5, 10) if span_s / (m * magnitude) <= 8)


def _seconds(value_s: float, step_s: float) -> str:
    decimals = max(0, -math.floor(math.log10(step_s)))
    return f"{value_s:.{decimals}f} s"


def _lanes(bars: list[TaskInfo], end_s: float) -> list[list[TaskInfo]]:
    """Split one agent's bars (by start) into lanes in which none overlap."""
    lanes: list[list[TaskInfo]] = []
    ends: list[float] = []
    for info in bars:
        assert info.started_s is not None
        for index, lane_end in enumerate(ends):
            if lane_end <= info.started_s:
                lanes[index].append(info)
                ends[index] = info.finished_s or end_s
                break
        else:
            lanes.append([info])
            ends.append(info.finished_s or end_s)
    return lanes


def _bar(info: TaskInfo, agent: str, x: float, y: float, w: float, end_s: float) -> str:
    fill, stroke = STATE_COLOURS[info.state]
    assert info.started_s is not None
    duration = (info.finished_s or end_s) - info.started_s
    tip = (
        f"{info.task_id}: {info.state.value}, {duration:.3f} s on {agent}"
        f" (last of {info.attempts} attempts)"
    )
    label = clip(info.task_id, int((w - 6) / 6.6))
    text = (
        f'<text x="{x + 3:.1f}" y="{y + BAR_H - 3.5:.1f}" font-size="11" fill="#111827">'
        f"{esc(label)}</text>"
        if len(label) >= 2
        else ""
    )
    return (
        f'<g class="bar" data-task="{esc(info.task_id)}" data-agent="{esc(agent)}">'
        f"<title>{esc(tip)}</title>"
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{BAR_H}" rx="2" '
        f'fill="{fill}" stroke="{stroke}"/>{text}</g>'
    )


def timeline_svg(
    task_infos: Iterable[TaskInfo], *, title: str = "timeline", max_bars: int = DEFAULT_MAX_BARS
) -> str:
    """Return a Gantt-style SVG of a run: rows are agents, bars are tasks.

    Args:
        task_infos: The run's tasks (``run.tasks()``); those never started are counted
            in a note, not drawn.
        title: Shown above the chart.
        max_bars: Most bars drawn, the earliest started first.
    """
    infos = list(task_infos)
    started = sorted((i for i in infos if i.started_s is not None), key=lambda i: i.started_s or 0)
    notes = []
    if len(started) > max_bars:
        notes.append(f"showing the first {max_bars:,} of {len(started):,} started tasks")
        started = started[:max_bars]
    never = sum(1 for i in infos if i.started_s is None)
    if never:
        notes.append(f"{never:,} task(s) never started")
    start_s = min((i.started_s or 0.0 for i in started), default=0.0)
    end_s = max((i.finished_s or i.started_s or 0.0 for i in started), default=start_s)
    span_s = max(end_s - start_s, 1e-3)
    rows: dict[str, list[TaskInfo]] = {}
    for info in started:
        rows.setdefault(info.agent_id or NO_AGENT, []).append(info)
    lanes = {agent: _lanes(bars, end_s) for agent, bars in rows.items()}
    label_w = max((text_px(clip(a, 28), 12) for a in rows), default=0.0) + 12
    legend = sorted({i.state for i in started}, key=list(STATE_COLOURS).index)
    header = 20 * (1 + len(notes)) + (LEGEND_H if legend else 0)
    top = MARGIN + header + AXIS_H
    lane_count = sum(len(lane) for lane in lanes.values())
    height = top + max(lane_count, 1) * LANE_H + MARGIN
    width = max(MARGIN * 2 + label_w + PLOT_W, MARGIN * 2 + legend_width(legend))
    x0 = MARGIN + label_w
    parts = [svg_open(width, height, title)]
    parts.append(
        f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="15" font-weight="bold" '
        f'fill="#111827">{esc(title)}</text>'
    )
    for index, note in enumerate(notes):
        parts.append(
            f'<text class="note" x="{MARGIN}" y="{MARGIN + 32 + 20 * index}" font-size="12" '
            f'fill="#b45309">{esc(note)}</text>'
        )
    if legend:
        parts.extend(legend_svg(legend, MARGIN, MARGIN + 20 * (1 + len(notes))))
    step_s = _step(span_s)
    for tick in range(math.floor(span_s / step_s) + 1):
        x = x0 + tick * step_s / span_s * PLOT_W
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - MARGIN}" '
            f'stroke="#e5e7eb"/><text x="{x:.1f}" y="{top - 10}" font-size="10" '
            f'text-anchor="middle" fill="#6b7280">{_seconds(tick * step_s, step_s)}</text>'
        )
    y = float(top)
    for agent, agent_lanes in lanes.items():
        parts.append(
            f'<text class="agent" x="{MARGIN}" y="{y + BAR_H - 2:.1f}" font-size="12" '
            f'fill="#111827">{esc(clip(agent, 28))}<title>{esc(agent)}</title></text>'
        )
        for lane in agent_lanes:
            for info in lane:
                assert info.started_s is not None
                x = x0 + (info.started_s - start_s) / span_s * PLOT_W
                w = max(((info.finished_s or end_s) - info.started_s) / span_s * PLOT_W, 2.0)
                parts.append(_bar(info, agent, x, y + (LANE_H - BAR_H) / 2, w, end_s))
            y += LANE_H
        parts.append(
            f'<line x1="{MARGIN}" y1="{y:.1f}" x2="{width - MARGIN:.1f}" y2="{y:.1f}" '
            f'stroke="#d1d5db"/>'
        )
    if not started:
        parts.append(
            f'<text x="{x0:.1f}" y="{top + 14}" font-size="12" fill="#6b7280">'
            "no task has started</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def timeline_html(
    task_infos: Iterable[TaskInfo], *, title: str = "timeline", max_bars: int = DEFAULT_MAX_BARS
) -> str:
    """Return a self-contained HTML page with `timeline_svg` (nothing fetched)."""
    return page(title, figure(timeline_svg(task_infos, title=title, max_bars=max_bars)))
