"""Small pieces of SVG and HTML the pictures share: escaping, legend, page.

Everything written here is well-formed XML as well as HTML (attributes quoted, empty
elements closed), so the SVG parts can be read back with `xml.etree`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from orchestrator.core.states import TaskState
from orchestrator.pictures.model import STATE_COLOURS

#: The font of every text, as the SVG ``font-family`` attribute.
FONT = "Helvetica, Arial, sans-serif"
#: Height of the legend's row, in pixels.
LEGEND_H = 22


def esc(text: object) -> str:
    """Escape text for an XML/HTML text node or a double-quoted attribute."""
    return html.escape(str(text), quote=True)


def clip(text: str, width: int) -> str:
    """Return ``text`` cut to ``width`` characters, ending with an ellipsis when cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def text_px(text: str, size_px: float) -> float:
    """Estimate the width of ``text`` in pixels (about 0.6 em per character)."""
    return len(text) * size_px * 0.6


def svg_open(width: float, height: float, label: str, *, fit: bool = True) -> str:
    """Return the opening ``<svg>`` tag.

    Args:
        width: Its width in pixels.
        height: Its height in pixels.
        label: What it shows, for screen readers.
        fit: Scale down to the width of the page (never up); else keep the size.
    """
    style = ' style="max-width:100%;height:auto"' if fit else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{esc(label)}" '
        f'font-family="{FONT}"{style}>'
    )


def legend_svg(states: Sequence[TaskState], x: float, y: float) -> list[str]:
    """Return SVG elements of a one-row legend (a swatch and a name per state) at x, y."""
    parts = ['<g class="legend">']
    for state in states:
        fill, stroke = STATE_COLOURS[state]
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="14" height="14" rx="3" '
            f'fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{x + 19:.1f}" y="{y + 11:.1f}" font-size="12" fill="#374151">'
            f"{esc(state.value)}</text>"
        )
        x += 19 + text_px(state.value, 12) + 16
    parts.append("</g>")
    return parts


def legend_width(states: Sequence[TaskState]) -> float:
    """Return the width `legend_svg` takes for ``states``."""
    return sum(19 + text_px(state.value, 12) + 16 for state in states)


def page(title: str, body: str) -> str:
    """Return a self-contained HTML page (no script, no link, no network) around ``body``."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8"/>\n'
        f"<title>{esc(title)}</title>\n"
        "<style>body{margin:16px;font-family:Helvetica,Arial,sans-serif;color:#111827}"
        "figure{margin:0 0 24px 0}"
        "</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )


def figure(svg: str) -> str:
    """Return ``svg`` in a ``<figure>`` that scrolls sideways when the picture is wide."""
    return f'<figure class="orchestrator-picture" style="overflow-x:auto">{svg}</figure>'
