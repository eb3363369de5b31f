"""The read side of usage, for the dashboard and usage pages: bars, series and projections.

Framework-free: functions take a SQLAlchemy session and plain values. Every query is a primary-key
range read of ``usage_counter`` (tenant_id, metric, day) or ``storage_usage`` (tenant_id), never a
scan of raw events, and the polled fragment's reads are one statement
(``portal.dashboard.reads.fragment_reads``), so the poll every open dashboard makes stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import UsageCounter
from portal.plans import BYTES_PER_MB, TierLimits

#: The metric every API call increments; per-endpoint metrics are ``api_calls:<endpoint>``.
CALLS_METRIC = "api_calls"
#: The calls of a day that were past the quota and billed as overage (counted in both metrics).
OVERAGE_METRIC = "api_calls_overage"
ENDPOINT_METRIC_PREFIX = CALLS_METRIC + ":"
#: A bar turns amber at this share of its limit, and red when the limit is reached.
WARN_PERCENT = 80
FULL_PERCENT = 100
#: Below this much of the day, a pace is mostly noise; the projection waits for more data.
MIN_PACE_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class LiveUsage:
    """What the enforcement store counts right now (not yet flushed to SQL)."""

    calls_this_minute: int = 0
    calls_today: int = 0
    concurrent: int = 0


@dataclass(frozen=True)
class StorageDetail:
    memories: int = 0
    embeddings: int = 0
    bytes_used: int = 0


@dataclass(frozen=True)
class UsageBar:
    """One limit and how much of it is used."""

    key: str
    label: str
    value: int | float | Decimal
    limit: int
    unit: str = "count"  # "count", "megabytes" or "cents"
    note: str = ""
    #: The value and limit as text, where the unit's plain formatting would not do (money).
    shown: tuple[str, str] | None = None
    #: What the note starts with once the limit is reached.
    reached: str = "Limit reached."

    @property
    def percent(self) -> int:
        """Whole percent used, not capped: 130 means 30 % over."""
        if self.limit <= 0:
            return FULL_PERCENT if self.value > 0 else 0
        return int(self.value * 100 // self.limit)

    @property
    def level(self) -> str:
        """``ok``, ``warn`` (from 80 %) or ``over`` (at or over the limit)."""
        if self.percent >= FULL_PERCENT:
            return "over"
        if self.percent >= WARN_PERCENT:
            return "warn"
        return "ok"

    @property
    def progress_value(self) -> int | float | Decimal:
        """The value for ``<progress max=limit>``, which cannot show more than full."""
        return min(self.value, self.limit)


@dataclass(frozen=True)
class DayCount:
    """One UTC day's calls; ``overage`` of them were past the quota and billed."""

    day: date
    calls: int
    overage: int = 0


@dataclass(frozen=True)
class EndpointUsage:
    endpoint: str
    today: int
    month: int


def stored_count(session: Session, tenant_id: int, metric: str, day: date) -> int:
    """One counter, by primary key."""
    row = session.get(UsageCounter, (tenant_id, metric, day))
    return int(row.value) if row else 0


def calls_today(stored: int, live: LiveUsage) -> int:
    """Today's calls: the live store may be a second ahead of the flushed counter, and after a
    restart it starts from zero, so the larger of the two is the honest figure."""
    return max(stored, live.calls_today)


STORAGE_BARS = ("memories", "storage")


def usage_bars(
    limits: TierLimits,
    stored_today: int,
    live: LiveUsage,
    storage: StorageDetail,
    *,
    overage: bool = False,
) -> list[UsageBar]:
    """One bar per limit, in the order the dashboard shows them (``overage``: calls past the
    daily quota are billed, not refused, and the day's bar says so)."""
    today = calls_today(stored_today, live)
    if overage:
        day_bar = UsageBar(
            "calls_today",
            "API calls today",
            today,
            limits.api_calls_per_day,
            note="Calls past it are billed as overage, up to your spend cap. Resets at 00:00 UTC",
            reached="Quota reached.",
        )
    else:
        day_bar = UsageBar(
            "calls_today",
            "API calls today",
            today,
            limits.api_calls_per_day,
            note="Resets at 00:00 UTC",
        )
    return [
        day_bar,
        UsageBar(
            "calls_minute",
            "API calls this minute",
            live.calls_this_minute,
            limits.api_calls_per_minute,
            note="Resets every minute",
        ),
        UsageBar("memories", "Memories stored", storage.memories, limits.memories),
        UsageBar(
            "storage",
            "Storage",
            storage.bytes_used / BYTES_PER_MB,
            limits.storage_mb,
            unit="megabytes",
        ),
        UsageBar(
            "concurrent",
            "Concurrent requests now",
            live.concurrent,
            limits.concurrent_requests,
        ),
    ]


def overage_cap_bar(
    cost_cents: Decimal, cap_cents: int, period_end: datetime, shown: tuple[str, str]
) -> UsageBar:
    """The spend cap as a bar: the period's overage cost so far (exact, so the percentage agrees
    with the alerts) against the cap; ``shown`` is both as money."""
    ends = f"{period_end.day} {period_end:%b %Y} (UTC)"
    if cost_cents >= cap_cents:
        note = f"Calls past the daily quota get a 429 until the period ends, {ends}."
    else:
        note = f"It resets when the period ends, {ends}."
    return UsageBar(
        "overage_cap",
        "Spend cap",
        cost_cents,
        cap_cents,
        unit="cents",
        note=note,
        shown=shown,
        reached="Cap reached.",
    )


def endpoint_usage(session: Session, tenant_id: int, today: date) -> list[EndpointUsage]:
    """Calls per endpoint today and this month, busiest first.

    ``metric`` is the second primary-key column, so the prefix range stays on the index.
    """
    rows = session.execute(
        select(UsageCounter.metric, UsageCounter.day, UsageCounter.value).where(
            UsageCounter.tenant_id == tenant_id,
            UsageCounter.metric >= ENDPOINT_METRIC_PREFIX,
            UsageCounter.metric < CALLS_METRIC + ";",  # ";" sorts right after ":"
            UsageCounter.day.between(today.replace(day=1), today),
        )
    ).all()
    month: dict[str, int] = {}
    on_day: dict[str, int] = {}
    for metric, day, value in rows:
        endpoint = metric.removeprefix(ENDPOINT_METRIC_PREFIX)
        month[endpoint] = month.get(endpoint, 0) + int(value)
        if day == today:
            on_day[endpoint] = on_day.get(endpoint, 0) + int(value)
    return sorted(
        (EndpointUsage(name, on_day.get(name, 0), total) for name, total in month.items()),
        key=lambda usage: (-usage.month, usage.endpoint),
    )


def daily_limit_projection(
    calls_today: int,
    daily_limit: int,
    now: datetime,
    *,
    overage: bool = False,
    calls_this_minute: int = 0,
    minute_limit: int = 0,
) -> str:
    """Where today is heading, in plain words (UTC), never contradicting the bars.

    The pace is the recent one: the faster of the day's average and the current minute's calls
    (the live store counts minutes, so a burst shows at once). A minute bar at its limit is
    said first. With ``overage`` on, calls past the daily quota are billed rather than refused.
    """
    now = now.astimezone(UTC)
    midnight = datetime.combine(now.date(), time(), tzinfo=UTC)
    elapsed = now - midnight
    if overage and calls_today > daily_limit:
        billed = calls_today - daily_limit
        return (
            f"You are past your daily quota of {daily_limit:,} calls: {billed:,} calls today "
            "were billed as overage. The quota resets at 00:00 UTC."
        )
    if calls_today >= daily_limit:
        return (
            f"You have reached your daily limit of {daily_limit:,} calls. It resets at 00:00 UTC."
        )
    if minute_limit > 0 and calls_this_minute >= minute_limit:
        return (
            f"You are at your limit of {minute_limit:,} calls a minute: further calls this "
            f"minute get a 429. {calls_today:,} of {daily_limit:,} daily calls used."
        )
    if calls_today == 0:
        return f"No API calls yet today. Your daily limit is {daily_limit:,} calls."
    average = calls_today / elapsed.total_seconds() if elapsed >= MIN_PACE_WINDOW else 0.0
    recent = calls_this_minute / 60
    per_second = max(average, recent)
    if per_second <= 0:
        return f"{calls_today:,} calls so far today, of {daily_limit:,} allowed."
    pace = "your pace this minute" if recent > average else "today's pace"
    reached_at = now + timedelta(seconds=(daily_limit - calls_today) / per_second)
    if reached_at < midnight + timedelta(days=1):
        return f"At {pace} you reach your daily limit around {reached_at:%H:%M} UTC."
    left = (midnight + timedelta(days=1) - now).total_seconds()
    by_midnight = calls_today + int(per_second * left)
    return (
        f"At {pace} you stay within your daily limit: about {by_midnight:,} of "
        f"{daily_limit:,} calls by midnight UTC."
    )


def period_total(calls: int, first: date, last: date | None) -> str:
    """This billing period's calls, the line under the bars (no plan has a monthly quota)."""
    span = f"{first.day} {first:%b}" + (f" to {last.day} {last:%b}" if last else " to today")
    return f"{calls:,} calls this billing period ({span}, UTC)."
