"""Pro overage in the admission path: the tenant's terms, the usage period the spend cap counts
against, and how overage calls are named in the pending usage.

A call past the daily quota of a Pro tenant with overage on is admitted as an overage call while
the period's overage calls are under ``overage_calls_for_cents(cap)``. The period is the Stripe
subscription's metered item's current period, as mirrored in ``subscription``; when the mirror's
period has already ended (the renewal webhook is late), it is rolled forward by whole months, so
the cap resets on time. Framework-free, like the engine.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from portal.plans import overage_calls_for_cents

#: The ``usage_counter`` metric of overage calls per UTC day (the usage chart's overage series).
OVERAGE_CALLS = "api_calls_overage"
#: Pending usage under ``<prefix><period start>:<period end>`` is the period's overage calls on
#: their way to the ``meter_report`` outbox, not to ``usage_counter``.
PERIOD_METRIC_PREFIX = "overage_period:"
#: A mirrored period longer than this (a yearly plan without its metered item yet) is cut into
#: months: the cap is monthly on every plan.
LONGEST_MONTH_SECONDS = 31 * 86_400


def period_metric(start: int, end: int) -> str:
    return f"{PERIOD_METRIC_PREFIX}{start}:{end}"


def parse_period_metric(metric: str) -> tuple[int, int] | None:
    """The (start, end) a period metric names, or None for any other metric."""
    if not metric.startswith(PERIOD_METRIC_PREFIX):
        return None
    start, _, end = metric[len(PERIOD_METRIC_PREFIX) :].partition(":")
    return int(start), int(end)


def cap_message(cap_cents: int) -> str:
    return f"Monthly overage spend cap reached (${Decimal(cap_cents) / 100:,.2f})"


@dataclass(frozen=True, slots=True)
class OverageWindow:
    """What a counter store needs to admit overage calls in one period (built once a period)."""

    period_start: int
    period_end: int
    #: The period's overage calls the cap allows.
    allowance: int
    cap_cents: int
    #: The pending-usage metric of this period's overage calls (see ``period_metric``).
    metric: str = field(init=False)
    #: What an overage call counts besides the call's own metrics.
    metrics: tuple[str, str] = field(init=False)

    def __post_init__(self) -> None:
        metric = period_metric(self.period_start, self.period_end)
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "metrics", (OVERAGE_CALLS, metric))


@dataclass(slots=True)
class OverageTerms:
    """One Pro tenant's overage settings and the period its mirror names (epoch seconds; None
    when it has no subscription row: then the period is the UTC calendar month)."""

    enabled: bool
    cap_cents: int
    mirror_start: int | None = None
    mirror_end: int | None = None
    _last: OverageWindow | None = field(default=None, repr=False, compare=False)

    @property
    def allowance(self) -> int:
        return overage_calls_for_cents(self.cap_cents)

    def window(self, now: float) -> OverageWindow:
        """The period ``now`` falls in, with the cap (the last one is kept: most calls reuse it)."""
        last = self._last
        if last is not None and last.period_start <= now < last.period_end:
            return last
        start, end = usage_period(self.mirror_start, self.mirror_end, now)
        last = OverageWindow(start, end, self.allowance, self.cap_cents)
        self._last = last
        return last


def usage_period(start: int | None, end: int | None, now: float) -> tuple[int, int]:
    """The overage period containing ``now``, from a mirrored period ``[start, end)``.

    The mirror's own period while ``now`` is in it; once it has ended, the months that follow
    it (the same day of the month, clamped to the month's length, at the same time of day); a
    period longer than a month is cut into months from its start. Without a mirror: the UTC
    calendar month.
    """
    if start is None or end is None or end <= start:
        moment = _utc(now)
        first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return int(first.timestamp()), int(_add_months(first, 1, 1).timestamp())
    if now < start or (now < end and end - start <= LONGEST_MONTH_SECONDS):
        return start, end
    if now >= end:
        anchor, day = _utc(end), _anchor_day(_utc(start), _utc(end))
    else:
        anchor = _utc(start)
        day = anchor.day
    target = _utc(now)
    months = (target.year - anchor.year) * 12 + target.month - anchor.month
    while months > 0 and _add_months(anchor, months, day).timestamp() > now:
        months -= 1
    while _add_months(anchor, months + 1, day).timestamp() <= now:
        months += 1
    return (
        int(_add_months(anchor, months, day).timestamp()),
        int(_add_months(anchor, months + 1, day).timestamp()),
    )


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _anchor_day(start: datetime, end: datetime) -> int:
    """The billing day of the month a period ending at ``end`` renews on: its end's day, unless
    that day was cut short by a short month (a period from the 31st ends on Feb 28)."""
    last_day = calendar.monthrange(end.year, end.month)[1]
    return start.day if end.day == last_day and start.day > end.day else end.day


def _add_months(moment: datetime, months: int, day: int) -> datetime:
    """``moment`` ``months`` later on ``day`` of that month (or its last day, if shorter)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(day, calendar.monthrange(year, month)[1]))
