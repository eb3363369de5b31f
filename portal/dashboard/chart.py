"""The dashboard's 30-day chart: one bar per UTC day, its overage calls stacked on top, the
daily limit as a line. Geometry only; ``templates/dashboard/_chart.html`` draws it as SVG."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from portal.dashboard.usage import DayCount
from portal.web.formatting import format_date

#: The chart's smallest scale, so a few calls do not get axis labels like 2.5.
MIN_CHART_SCALE = 10
#: The days' labels ("29 Nov 2026"): the same 30 days come back every poll.
_day_label = lru_cache(maxsize=64)(format_date)


@dataclass(frozen=True)
class ChartBar:
    """One day's bar; its top ``overage_height`` is the overage part, stacked on the rest."""

    day: date
    calls: int
    x: float
    y: float
    width: float
    height: float
    overage: int = 0
    overage_height: float = 0.0
    #: The day as people read it ("29 Nov 2026"), made once for the tooltip and the table.
    label: str = ""

    @property
    def quota_y(self) -> float:
        """Where the within-quota part starts, under the overage part."""
        return round(self.y + self.overage_height, 2)

    @property
    def quota_height(self) -> float:
        return round(self.height - self.overage_height, 2)

    @property
    def tip(self) -> str:
        """The bar's tooltip: "29 Nov 2026: 1,200 calls, 200 of them overage"."""
        overage = f", {self.overage:,} of them overage" if self.overage else ""
        return f"{self.label}: {self.calls:,} calls{overage}"


@dataclass(frozen=True)
class Chart:
    """Geometry of the 30-day bar chart; the template draws it as SVG."""

    width: int
    height: int
    plot_left: float
    plot_right: float
    scale_max: int
    bars: list[ChartBar]
    limit_y: float | None
    ticks: list[tuple[float, str]]
    #: The x-axis labels: (x, text-anchor, text) for every seventh day back from today.
    day_labels: tuple[tuple[float, str, str], ...] = ()
    #: The busiest day's calls.
    peak: int = 0
    #: Whether any day had overage calls (the chart then shows them, with a legend). A field,
    #: not a property: the template asks once per bar.
    has_overage: bool = False


def chart_key(series: Sequence[DayCount], daily_limit: int) -> str:
    """A short fingerprint of everything the chart draws (its days, their calls and overage
    calls, the daily limit). The polled fragment sends the chart only when the key differs
    from the one the page already shows, so a quiet day costs no SVG per poll."""
    numbers = [daily_limit]
    for point in series:
        numbers += (point.day.toordinal(), point.calls, point.overage)
    return hashlib.blake2b(repr(numbers).encode(), digest_size=8).hexdigest()


def usage_chart(
    series: Sequence[DayCount], daily_limit: int, width: int = 960, height: int = 300
) -> Chart:
    """Lay out one bar per day; the daily limit is drawn as a line when it fits on the scale."""
    # Labels are drawn up to 34 units tall on phones (where the chart is scaled to about a
    # third, so they stay at least 11 px): the margins leave room for "2.5k" and "29 Nov".
    left, right, top, bottom = 92.0, 8.0, 40.0, 40.0
    plot_height = height - top - bottom
    peak = max((point.calls for point in series), default=0)
    # Scale to the limit when usage comes near it; otherwise to the usage, so small bars show.
    near_limit = peak == 0 or peak * 4 >= daily_limit
    scale_max = _nice_ceiling(max(peak, daily_limit) if near_limit else max(peak, MIN_CHART_SCALE))
    slot = (width - left - right) / max(len(series), 1)
    bars = []
    for index, point in enumerate(series):
        bar_height = round(plot_height * min(point.calls, scale_max) / scale_max, 2)
        # Overage calls are counted in ``calls`` too: they are the top of the bar.
        share = min(point.overage, point.calls) / point.calls if point.calls else 0
        bars.append(
            ChartBar(
                point.day,
                point.calls,
                x=round(left + index * slot + slot * 0.15, 2),
                y=round(top + plot_height - bar_height, 2),
                width=round(slot * 0.7, 2),
                height=bar_height,
                overage=point.overage,
                overage_height=round(bar_height * share, 2),
                label=_day_label(point.day),
            )
        )
    limit_y = (
        top + plot_height * (1 - daily_limit / scale_max) if daily_limit <= scale_max else None
    )
    ticks = [
        (round(top + plot_height * (1 - share), 2), _compact(scale_max * share))
        for share in (0, 0.5, 1)
    ]
    return Chart(
        width,
        height,
        left,
        width - right,
        scale_max,
        bars,
        limit_y,
        ticks,
        day_labels=_day_labels(bars),
        peak=peak,
        has_overage=any(point.overage for point in series),
    )


def _day_labels(bars: Sequence[ChartBar]) -> tuple[tuple[float, str, str], ...]:
    """Today's label at the right edge (anchored at its end), then one under every seventh bar
    back from it, centred, oldest first."""
    labels = []
    for back, bar in enumerate(reversed(bars)):
        if back % 7 == 0:
            x, anchor = (
                (bar.x + bar.width, "end") if back == 0 else (bar.x + bar.width / 2, "middle")
            )
            labels.append((x, anchor, f"{bar.day.day} {bar.day:%b}"))
    return tuple(reversed(labels))


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value``."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def _compact(value: float) -> str:
    """Axis labels that fit a narrow chart: 2500 -> 2.5k, 1000000 -> 1M, 2.5 -> 2.5."""
    for suffix, size in (("M", 1_000_000), ("k", 1_000)):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"
