"""The read side of usage, for the dashboard and usage pages: bars, series and projections.

Framework-free: functions take a SQLAlchemy session and plain values. Every query is a primary-key
range read of ``usage_counter`` (tenant_id, metric, day) or ``storage_usage`` (tenant_id), never a
scan of raw events, and the polled fragment's reads are one statement (``fragment_reads``), so
the poll every open dashboard makes stays cheap.
"""

from __future__ import annotations

import calendar
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
    month_calls: int
    storage: StorageDetail
    #: The extra scalar subqueries' values, in the order they were given.
    extra: tuple[int, ...] = ()


def fragment_reads(
    session: Session,
    tenant_id: int,
    today: date,
    extra: tuple[ScalarSelect[int], ...] = (),
    params: Mapping[str, object] | None = None,
) -> FragmentReads:
    """Today's stored calls, the month's, the storage row, and any ``extra`` scalar subqueries
    (the overage card's sums, whose bound ``params`` come along): one SELECT of primary-key
    range reads, one round trip. The statement is built once per ``extra`` and reused."""
    if extra not in _FRAGMENT_STATEMENTS:
        _FRAGMENT_STATEMENTS[extra] = select(*_FRAGMENT_COLUMNS, *extra)
    statement = _FRAGMENT_STATEMENTS[extra]
    values = {"tenant_id": tenant_id, "today": today, "month_start": today.replace(day=1)}
    row: Sequence[Any] = session.execute(statement, {**values, **(params or {})}).one()
    today_calls, month, memories, embeddings, bytes_used, *rest = row
    return FragmentReads(
        stored_today=int(today_calls),
        month_calls=int(month),
        storage=StorageDetail(int(memories or 0), int(embeddings or 0), int(bytes_used or 0)),
        extra=tuple(int(value or 0) for value in rest),
    )


def _calls(*where: Any) -> ScalarSelect[int]:
    return (
        select(func.coalesce(func.sum(UsageCounter.value), 0))
        .where(
            UsageCounter.tenant_id == bindparam("tenant_id"),
            UsageCounter.metric == CALLS_METRIC,
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
_FRAGMENT_STATEMENTS: dict[tuple[ScalarSelect[int], ...], Executable] = {}


def storage_detail(session: Session, tenant_id: int) -> StorageDetail:
    row = session.get(StorageUsage, tenant_id)
    if row is None:
        return StorageDetail()
    return StorageDetail(int(row.memories), int(row.embeddings), int(row.bytes_used))


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


def daily_series(session: Session, tenant_id: int, today: date, days: int = 30) -> list[DayCount]:
    """Calls (and overage calls) per UTC day for the ``days`` days ending ``today``, zero-filled;
    one primary-key range read for both metrics."""
    first = today - timedelta(days=days - 1)
    rows = session.execute(
        select(UsageCounter.metric, UsageCounter.day, UsageCounter.value).where(
            UsageCounter.tenant_id == tenant_id,
            UsageCounter.metric.in_((CALLS_METRIC, OVERAGE_METRIC)),
            UsageCounter.day.between(first, today),
        )
    ).all()
    counts = {(metric, day): int(value) for metric, day, value in rows}
    return [
        DayCount(day, counts.get((CALLS_METRIC, day), 0), counts.get((OVERAGE_METRIC, day), 0))
        for day in _days(first, today)
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


def month_calls(session: Session, tenant_id: int, today: date) -> int:
    """Calls since the first of ``today``'s month (UTC)."""
    total = session.scalar(
        select(func.coalesce(func.sum(UsageCounter.value), 0)).where(
            UsageCounter.tenant_id == tenant_id,
            UsageCounter.metric == CALLS_METRIC,
            UsageCounter.day.between(today.replace(day=1), today),
        )
    )
    return int(total or 0)


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
    calls_today: int, daily_limit: int, now: datetime, *, overage: bool = False
) -> str:
    """When, at today's pace, the daily limit is reached, in plain words (UTC). With
    ``overage`` on, the calls past it today are billed rather than refused."""
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
    if calls_today == 0:
        return f"No API calls yet today. Your daily limit is {daily_limit:,} calls."
    if elapsed < MIN_PACE_WINDOW:
        return f"{calls_today:,} calls so far today, of {daily_limit:,} allowed."
    per_second = calls_today / elapsed.total_seconds()
    reached_at = now + timedelta(seconds=(daily_limit - calls_today) / per_second)
    if reached_at < midnight + timedelta(days=1):
        return f"At today's pace you reach your daily limit around {reached_at:%H:%M} UTC."
    by_midnight = int(per_second * 86_400)
    return (
        f"At today's pace you stay within your daily limit: about {by_midnight:,} of "
        f"{daily_limit:,} calls by midnight UTC."
    )


def monthly_share(calls_this_month: int, daily_limit: int, today: date) -> str:
    """The month's calls as a share of what the plan allows in this month."""
    allowance = daily_limit * calendar.monthrange(today.year, today.month)[1]
    percent = calls_this_month * 100 // allowance if allowance else 0
    return (
        f"You used {percent}% of your monthly calls: {calls_this_month:,} of {allowance:,} "
        f"({daily_limit:,} a day) in {today:%B}."
    )


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
