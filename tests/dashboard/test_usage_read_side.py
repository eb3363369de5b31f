"""portal.dashboard.usage and .chart: bars, levels, series, endpoints, projections, the chart."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask

from portal.dashboard import usage
from portal.dashboard.chart import usage_chart
from portal.dashboard.reads import fragment_reads
from portal.dashboard.usage import DayCount, LiveUsage, StorageDetail, UsageBar
from portal.extensions import db
from portal.models import UsageCounter
from portal.plans import PricingTier, get_tier_limits
from tests.factory import Factory

FREE = get_tier_limits(PricingTier.FREE)
TODAY = date(2026, 11, 21)


@pytest.mark.parametrize(
    ("value", "limit", "percent", "level"),
    [
        (0, 100, 0, "ok"),
        (79, 100, 79, "ok"),
        (80, 100, 80, "warn"),
        (99, 100, 99, "warn"),
        (100, 100, 100, "over"),
        (130, 100, 130, "over"),
        (8, 10, 80, "warn"),
        (0, 0, 0, "ok"),
        (1, 0, 100, "over"),
    ],
)
def test_bar_percent_and_level(value: int, limit: int, percent: int, level: str) -> None:
    bar = UsageBar("calls_today", "Calls", value, limit)
    assert (bar.percent, bar.level) == (percent, level)
    assert bar.progress_value == min(value, limit)


def test_one_bar_per_limit_from_the_catalog() -> None:
    live = LiveUsage(calls_this_minute=4, calls_today=50, concurrent=1)
    storage = StorageDetail(memories=250, embeddings=900, bytes_used=25_000_000)
    bars = {bar.key: bar for bar in usage.usage_bars(FREE, 40, live, storage)}
    assert list(bars) == ["calls_today", "calls_minute", "memories", "storage", "concurrent"]
    assert (bars["calls_today"].value, bars["calls_today"].limit) == (50, FREE.api_calls_per_day)
    assert (bars["calls_minute"].value, bars["calls_minute"].limit) == (4, 10)
    assert (bars["memories"].value, bars["memories"].limit) == (250, 1_000)
    assert (bars["storage"].value, bars["storage"].limit, bars["storage"].percent) == (25, 100, 25)
    assert (bars["concurrent"].value, bars["concurrent"].limit) == (1, 2)


def test_calls_today_takes_the_flushed_count_after_a_restart() -> None:
    assert usage.calls_today(70, LiveUsage(calls_today=3)) == 70
    assert usage.calls_today(70, LiveUsage(calls_today=72)) == 72


def _add(tenant_id: int, metric: str, day: date, value: int) -> None:
    db.session.add(UsageCounter(tenant_id=tenant_id, metric=metric, day=day, value=value))


@pytest.mark.both_dbs
def test_series_month_and_endpoints_read_only_this_tenant(
    app: Flask, factory: Factory, db_backend: str
) -> None:
    mine, theirs = factory.tenant("Mine"), factory.tenant("Theirs")
    with app.app_context():
        _add(mine, "api_calls", TODAY, 12)
        _add(mine, "api_calls_overage", TODAY, 2)  # of those 12, past the quota
        _add(theirs, "api_calls_overage", TODAY, 40)
        _add(mine, "api_calls", TODAY - timedelta(days=3), 5)
        _add(mine, "api_calls", TODAY - timedelta(days=30), 999)  # outside the 30-day window
        _add(mine, "api_calls", date(2026, 10, 31), 7)  # in the window, but last month
        _add(mine, "api_calls:search", TODAY, 9)
        _add(mine, "api_calls:search", TODAY - timedelta(days=1), 4)
        _add(mine, "api_calls:memories", TODAY - timedelta(days=2), 6)
        _add(mine, "api_calls:search", date(2026, 10, 31), 100)
        _add(mine, "api_callsX", TODAY, 1000)  # a different metric sharing the prefix
        _add(theirs, "api_calls", TODAY, 500)
        _add(theirs, "api_calls:search", TODAY, 500)
        db.session.commit()

        reads = fragment_reads(db.session, mine, TODAY, series=True)
        series = reads.series
        assert len(series) == 30
        assert (series[0].day, series[-1].day) == (TODAY - timedelta(days=29), TODAY)
        assert {point.day: point.calls for point in series if point.calls} == {
            TODAY: 12,
            TODAY - timedelta(days=3): 5,
            date(2026, 10, 31): 7,
        }
        assert {point.day: point.overage for point in series if point.overage} == {TODAY: 2}
        assert reads.period_calls == 17  # from the first of the month
        assert usage.endpoint_usage(db.session, mine, TODAY) == [
            usage.EndpointUsage("search", today=9, month=13),
            usage.EndpointUsage("memories", today=0, month=6),
        ]
        assert usage.stored_count(db.session, theirs, "api_calls", TODAY) == 500
        assert reads.storage == StorageDetail()


@pytest.mark.parametrize(
    ("calls", "now", "expected"),
    [
        (0, "10:00", "No API calls yet today. Your daily limit is 100 calls."),
        (50, "10:00", "At today's pace you reach your daily limit around 20:00 UTC."),
        (60, "12:00", "At today's pace you reach your daily limit around 20:00 UTC."),
        (
            10,
            "12:00",
            "At today's pace you stay within your daily limit: about 20 of 100 calls by "
            "midnight UTC.",
        ),
        (100, "09:30", "You have reached your daily limit of 100 calls. It resets at 00:00 UTC."),
        (3, "00:02", "3 calls so far today, of 100 allowed."),
    ],
)
def test_daily_projection_in_plain_words(calls: int, now: str, expected: str) -> None:
    hour, minute = map(int, now.split(":"))
    moment = datetime(2026, 11, 21, hour, minute, tzinfo=UTC)
    assert usage.daily_limit_projection(calls, 100, moment) == expected


def test_the_period_line_is_the_billing_periods_total_not_a_monthly_quota() -> None:
    first = date(2026, 11, 3)
    assert usage.period_total(1_860, first, date(2026, 12, 2)) == (
        "1,860 calls this billing period (3 Nov to 2 Dec, UTC)."
    )
    assert (
        usage.period_total(5, first, None) == "5 calls this billing period (3 Nov to today, UTC)."
    )


def test_the_projection_never_contradicts_a_full_minute_bar() -> None:
    # 50 calls by 10:00 is a slow day, but the minute bar is full: the projection says so.
    moment = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    said = usage.daily_limit_projection(50, 100_000, moment, calls_this_minute=60, minute_limit=60)
    assert said.startswith("You are at your limit of 60 calls a minute")
    assert "stay within" not in said


def test_the_projection_uses_the_recent_pace() -> None:
    # 50 calls by 10:00 (5 an hour) would stay far below 1,000; 30 in this minute will not.
    moment = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    slow = usage.daily_limit_projection(50, 1_000, moment)
    assert slow.startswith("At today's pace you stay within")
    fast = usage.daily_limit_projection(50, 1_000, moment, calls_this_minute=30, minute_limit=60)
    assert fast == "At your pace this minute you reach your daily limit around 10:31 UTC."


def test_chart_scales_to_the_limit_near_it_and_to_usage_far_below() -> None:
    near = [DayCount(TODAY - timedelta(days=n), calls) for n, calls in enumerate([90, 30, 0])]
    chart = usage_chart(near, daily_limit=100, width=300, height=100)
    assert chart.scale_max == 100 and chart.limit_y is not None
    assert [bar.calls for bar in chart.bars] == [90, 30, 0]
    tallest, _, empty = chart.bars
    assert tallest.height > 0 and empty.height == 0
    assert tallest.y + tallest.height == pytest.approx(chart.ticks[0][0])

    far = [DayCount(TODAY, 30)]
    chart = usage_chart(far, daily_limit=10_000)
    assert chart.scale_max == 50 and chart.limit_y is None and chart.peak == 30
    assert [label for _, label in chart.ticks] == ["0", "25", "50"]

    small = usage_chart([DayCount(TODAY, 3)], daily_limit=10_000)
    assert [label for _, label in small.ticks] == ["0", "5", "10"]

    empty = usage_chart([DayCount(TODAY, 0)], daily_limit=10_000)
    assert empty.scale_max == 10_000 and empty.limit_y is not None
    assert [label for _, label in empty.ticks] == ["0", "5k", "10k"]
