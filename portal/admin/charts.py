"""Bar charts as inline SVG, drawn on the server: no chart library, no script, nothing for the
Content-Security-Policy to refuse. Colours come from CSS classes (``static/css/admin.css``).

Each bar carries a ``<title>`` with its exact value (a tooltip, and what a screen reader reads);
the numbers are also in the table beside every chart, with its CSV.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 960, 250
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 28, 28


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def tick_count(top: float) -> int:
    """Gridlines at round values: 5 for a scale of 2.5 or 5 times a power of ten, else 4."""
    mantissa = top / 10 ** math.floor(math.log10(top))
    return 5 if mantissa in (2.5, 5) else 4


def compact(value: float) -> str:
    """An axis label that fits: 1,250,000 -> 1.25M, 12,500 -> 12.5k."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def _fmt(value: float) -> str:
    return f"{value:g}"


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    formatter: Callable[[float], str] = lambda v: f"{v:,.0f}",
    axis: Callable[[float], str] = compact,
) -> Markup:
    """Stacked bars, one per label; one colour per series (``s0``, ``s1``, ...). ``formatter``
    writes exact values (the bars' titles), ``axis`` the gridline labels."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = nice_ceiling(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    bar_w = slot * 0.62
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title" id="{chart_id}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
    ]
    ticks = tick_count(top)
    for tick in range(ticks + 1):
        value = top * tick / ticks
        y = TOP + plot_h - plot_h * tick / ticks
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_fmt(y)}" y2="{_fmt(y)}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{_fmt(y + 4)}" text-anchor="end">'
            f"{escape(axis(value))}</text>"
        )
    for i, label in enumerate(labels):
        x = LEFT + slot * i + (slot - bar_w) / 2
        base = float(TOP + plot_h)
        for n, one in enumerate(series):
            value = one.values[i]
            if value <= 0:
                continue
            height = plot_h * value / top
            base -= height
            tip = (
                f"{label}, {one.name}: {formatter(value)}"
                if len(series) > 1
                else (f"{label}: {formatter(value)}")
            )
            parts.append(
                f'<rect class="bar s{n}" x="{_fmt(x)}" y="{_fmt(base)}" width="{_fmt(bar_w)}" '
                f'height="{_fmt(height)}"><title>{escape(tip)}</title></rect>'
            )
        parts.append(
            f'<text class="axis" x="{_fmt(x + bar_w / 2)}" y="{HEIGHT - 8}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    if len(series) > 1:
        x = float(LEFT)
        for n, one in enumerate(series):
            parts.append(
                f'<rect class="bar s{n}" x="{_fmt(x)}" y="6" width="12" height="12"/>'
                f'<text class="legend" x="{_fmt(x + 17)}" y="16">{escape(one.name)}</text>'
            )
            x += 30 + 8 * len(one.name)
    parts.append("</svg>")
    return Markup("".join(parts))
