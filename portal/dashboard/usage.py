"""The read side of usage, for the dashboard and usage pages: bars, series and projections.

Framework-free: functions take a SQLAlchemy session and plain values. Every query is a primary-key
range read of ``usage_counter`` (tenant_id, metric, day) or ``storage_usage`` (tenant_id), never a
scan of raw events, and the polled fragment's reads are one statement (``fragment_reads``), so
the poll every open dashboard makes stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Executable, ScalarSelect, bindparam, func, select
from sqlalchemy.orm import Session

from portal.models import StorageUsage, UsageCounter
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


@dataclass(frozen=True)
class FragmentReads:
    """What one poll of the usage fragment reads from SQL, in one statement."""

    stored_today: int
    #: Flushed calls from the period's first day to today (the line under the bars).
    period_calls: int
    storage: StorageDetail
    #: The extra scalar subqueries' values, in the order they were given.
    extra: tuple[int, ...] = ()
    #: The chart's days, oldest first (empty unless asked for).
    series: tuple[DayCount, ...] = ()


#: The 30-day chart's length.
SERIES_DAYS = 30


def fragment_reads(
    session: Session,
    tenant_id: int,
    today: date,
    extra: tuple[ScalarSelect[int], ...] = (),
    params: Mapping[str, object] | None = None,
    *,
    period_start: date | None = None,
    series: bool = False,
) -> FragmentReads:
    """Today's stored calls, the billing period's (from ``period_start``, default the first of
    the month), the storage row, any ``extra`` scalar subqueries (the overage card's sums, whose
    bound ``params`` come along) and, with ``series``, the chart's 30 days of calls and overage
    calls: one SELECT of primary-key reads, one round trip. Built once per shape, then reused."""
    key = (extra, series)
    if key not in _FRAGMENT_STATEMENTS:
        columns = (*_FRAGMENT_COLUMNS, *extra, *(_SERIES_COLUMNS if series else ()))
        _FRAGMENT_STATEMENTS[key] = select(*columns)
    statement = _FRAGMENT_STATEMENTS[key]
    values: dict[str, object] = {
        "tenant_id": tenant_id,
        "today": today,
        "month_start": period_start or today.replace(day=1),
    }
    if series:
        values.update(
            {f"day_{n}": today - timedelta(days=SERIES_DAYS - 1 - n) for n in range(SERIES_DAYS)}
        )
    row: Sequence[Any] = session.execute(statement, {**values, **(params or {})}).one()
    today_calls, period, memories, embeddings, bytes_used, *rest = row
    counts = [int(value or 0) for value in rest]
    extras = counts[: len(extra)]
    days = counts[len(extra) :]
    return FragmentReads(
        stored_today=int(today_calls),
        period_calls=int(period),
        storage=StorageDetail(int(memories or 0), int(embeddings or 0), int(bytes_used or 0)),
        extra=tuple(extras),
        series=tuple(
            DayCount(values[f"day_{n}"], days[2 * n], days[2 * n + 1])  # type: ignore[arg-type]
            for n in range(len(days) // 2)
        ),
    )


def _calls(*where: Any, metric: str = CALLS_METRIC) -> ScalarSelect[int]:
    return (
        select(func.coalesce(func.sum(UsageCounter.value), 0))
        .where(
            UsageCounter.tenant_id == bindparam("tenant_id"),
            UsageCounter.metric == metric,
            *where,
        )
        .scalar_subquery()
    )


def _stored(column: Any) -> ScalarSelect[int]:
    return select(column).where(StorageUsage.tenant_id == bindparam("tenant_id")).scalar_subquery()


# Built once: the polled fragment runs them for every open dashboard every few seconds, and
# building a statement costs more than running it.
_FRAGMENT_COLUMNS = (
    _calls(UsageCounter.day == bindparam("today")),
    _calls(UsageCounter.day.between(bindparam("month_start"), bindparam("today"))),
    _stored(StorageUsage.memories),
    _stored(StorageUsage.embeddings),
    _stored(StorageUsage.bytes_used),
)
#: The chart's days, each a primary-key read of its calls and of its overage calls.
_SERIES_COLUMNS = tuple(
    _calls(UsageCounter.day == bindparam(f"day_{n}"), metric=metric)
    for n in range(SERIES_DAYS)
    for metric in (CALLS_METRIC, OVERAGE_METRIC)
)
_FRAGMENT_STATEMENTS: dict[tuple[tuple[ScalarSelect[int], ...], bool], Executable] = {}


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
