"""Server-rendered SVG charts: no JavaScript, allowed by the strict CSP, testable as text.

Numbers people compare are shown as charts (every dashboard uses these). Each chart has a
``<title>`` and ``<desc>`` for screen readers and a table-like text fallback in its labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH: Final = 640
HEIGHT: Final = 240
MARGIN_LEFT: Final = 48
MARGIN_BOTTOM: Final = 36
MARGIN_TOP: Final = 16
BAR_GAP: Final = 4
GRID_LINES: Final = 4
BRAND: Final = "#b3261e"
MUTED: Final = "#6b7280"
POINTS_MAX: Final = 400


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    value: int


def _nice_ceiling(value: int) -> int:
    """The smallest 1-2-5 × 10^n at or above ``value`` (at least 1), for a readable axis."""
    if value <= 1:
        return 1
    magnitude = 1
    while magnitude * 10 < value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def bar_chart(points: Sequence[Point], *, title: str, description: str = "") -> SafeString:
    """A vertical bar chart of non-negative integers; at most ``POINTS_MAX`` bars."""
    if len(points) > POINTS_MAX:
        raise ValueError(f"a bar chart shows at most {POINTS_MAX} points")
    if any(point.value < 0 for point in points):
        raise ValueError("bar charts show non-negative values")
    plot_width = WIDTH - MARGIN_LEFT - 8
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    top = _nice_ceiling(max((point.value for point in points), default=0))
    opening = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="chart-title chart-desc">'
    )
    parts = [
        opening,
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(description or title)}</desc>',
    ]
    for line in range(GRID_LINES + 1):
        value = top * line // GRID_LINES
        y = MARGIN_TOP + plot_height - plot_height * line / GRID_LINES
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e5e7eb" stroke-width="1"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{MUTED}">{value}</text>'
        )
    slot = plot_width / max(len(points), 1)
    label_every = max(1, len(points) // 10)
    for index, point in enumerate(points):
        height = plot_height * point.value / top
        x = MARGIN_LEFT + index * slot + BAR_GAP / 2
        y = MARGIN_TOP + plot_height - height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(slot - BAR_GAP, 1):.1f}" '
            f'height="{height:.1f}" fill="{BRAND}" rx="2">'
            f"<title>{escape(point.label)}: {point.value}</title></rect>"
        )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + (slot - BAR_GAP) / 2:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" '
                f'text-anchor="middle" font-size="11" fill="{MUTED}">{escape(point.label)}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every interpolated text is escaped above)
