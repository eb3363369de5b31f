"""The Jinja filters for money, dates, counts and sizes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from flask import Flask, render_template_string

from portal.web import formatting


@pytest.mark.parametrize(
    ("cents", "currency", "expected"),
    [
        (2900, "usd", "$29.00"),
        (27840, "usd", "$278.40"),
        (0, "usd", "$0.00"),
        (-512, "usd", "-$5.12"),
        (123456789, "usd", "$1,234,567.89"),
        (1000, "eur", "€10.00"),
        (1000, "chf", "10.00 CHF"),
        (500, "jpy", "500 JPY"),
        (None, "usd", ""),
    ],
)
def test_money(cents: int | None, currency: str, expected: str) -> None:
    assert formatting.format_money(cents, currency) == expected


def test_price_reads_catalog_decimals() -> None:
    assert formatting.format_price(Decimal("278.40")) == "$278.40"
    assert formatting.format_price(Decimal("29")) == "$29.00"
    assert formatting.format_price(None) == ""


def test_dates_carry_their_timezone() -> None:
    moment = datetime(2026, 12, 12, 14, 5, tzinfo=UTC)
    epoch = int(moment.timestamp())
    assert formatting.format_date(epoch) == "12 Dec 2026"
    assert formatting.format_date_tz(moment) == "12 Dec 2026 (UTC)"
    assert formatting.format_datetime(moment) == "12 Dec 2026, 14:05 UTC"
    assert formatting.format_time(epoch) == "14:05 UTC"
    assert formatting.format_datetime(moment, "Europe/Paris") == "12 Dec 2026, 15:05 CET"
    assert formatting.format_date_tz(date(2026, 1, 2)) == "2 Jan 2026 (UTC)"
    assert formatting.isoformat(moment) == "2026-12-12T14:05:00+00:00"
    assert formatting.format_date(None) == ""


def test_naive_and_other_zones_are_normalised() -> None:
    naive = datetime(2026, 3, 1, 23, 30)
    assert formatting.format_datetime(naive) == "1 Mar 2026, 23:30 UTC"
    plus_two = datetime(2026, 3, 2, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert formatting.format_datetime(plus_two) == "1 Mar 2026, 23:30 UTC"
    assert formatting.format_datetime(naive, "No/Such_Zone") == "1 Mar 2026, 23:30 UTC"


@pytest.mark.parametrize(
    ("megabytes", "expected"),
    [(100, "100 MB"), (10_000, "10 GB"), (1_000_000, "1 TB"), (1_500, "1.5 GB"), (0.5, "0.5 MB")],
)
def test_megabytes_are_decimal(megabytes: float, expected: str) -> None:
    assert formatting.format_megabytes(megabytes) == expected


def test_filters_are_registered(app: Flask) -> None:
    with app.app_context():
        rendered = render_template_string(
            "{{ 2900|money }} {{ 10000|number }} {{ 100|megabytes }} {{ 0|date_tz }}"
        )
    assert rendered == "$29.00 10,000 100 MB 1 Jan 1970 (UTC)"
