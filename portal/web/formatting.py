"""Jinja filters for what people read: money, dates with their timezone, counts and sizes.

Registered on the app in ``create_app``; every page formats amounts and times through these,
so "$29.00" and "12 Dec 2026 (UTC)" look the same everywhere.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask

_CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}
#: Currencies Stripe counts in whole units (no cents); amounts in them are not divided by 100.
_ZERO_DECIMAL = {
    "jpy",
    "krw",
    "vnd",
    "clp",
    "pyg",
    "xof",
    "xaf",
    "bif",
    "djf",
    "gnf",
    "kmf",
    "mga",
    "rwf",
    "ugx",
    "vuv",
    "xpf",
}


def format_money(minor_units: int | None, currency: str = "usd") -> str:
    """An amount in Stripe's minor units (cents) as money: ``2900`` -> ``$29.00``.

    Negative amounts (credits) read ``-$5.00``; unknown currencies read ``12.00 CHF``.
    """
    if minor_units is None:
        return ""
    code = (currency or "usd").lower()
    places = 0 if code in _ZERO_DECIMAL else 2
    major = Decimal(abs(int(minor_units))).scaleb(-places)
    digits = f"{major:,.{places}f}"
    sign = "-" if minor_units < 0 else ""
    symbol = _CURRENCY_SYMBOLS.get(code)
    if symbol:
        return f"{sign}{symbol}{digits}"
    return f"{sign}{digits} {code.upper()}"


def format_price(amount: Decimal | None, currency: str = "usd") -> str:
    """A catalog price in whole units (``Decimal("278.40")``) as money: ``$278.40``."""
    if amount is None:
        return ""
    cents = int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    return format_money(cents, currency)


def _zone(name: str | None) -> tzinfo:
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


Moment = datetime | date | int | float | None


def to_datetime(value: Moment, tz: str | None = None) -> datetime | None:
    """A datetime, date or Stripe epoch-seconds value as an aware datetime in ``tz`` (UTC).

    Naive datetimes are taken to be UTC, which is how the portal stores every time.
    """
    if value is None:
        return None
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return moment.astimezone(_zone(tz))


def _zone_label(moment: datetime) -> str:
    return moment.tzname() or "UTC"


def format_date(value: Moment, tz: str | None = None) -> str:
    """``12 Dec 2026``: the day in ``tz`` (UTC), for tables whose header names the zone."""
    moment = to_datetime(value, tz)
    return f"{moment.day} {moment:%b %Y}" if moment else ""


def format_date_tz(value: Moment, tz: str | None = None) -> str:
    """``12 Dec 2026 (UTC)``: a day, with the timezone it is a day in."""
    moment = to_datetime(value, tz)
    return f"{format_date(moment)} ({_zone_label(moment)})" if moment else ""


def format_datetime(value: Moment, tz: str | None = None) -> str:
    """``12 Dec 2026, 14:05 UTC``."""
    moment = to_datetime(value, tz)
    return f"{format_date(moment)}, {moment:%H:%M} {_zone_label(moment)}" if moment else ""


def format_time(value: Moment, tz: str | None = None) -> str:
    """``15:40 UTC``: a time of day with its timezone."""
    moment = to_datetime(value, tz)
    return f"{moment:%H:%M} {_zone_label(moment)}" if moment else ""


def isoformat(value: Moment) -> str:
    """The machine-readable form for ``<time datetime="...">``."""
    moment = to_datetime(value)
    return moment.isoformat() if moment else ""


def format_number(value: int | float | None) -> str:
    """``10000`` -> ``10,000``."""
    if value is None:
        return ""
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def format_megabytes(megabytes: int | float | None) -> str:
    """Decimal storage sizes, as the catalog counts them: ``10000`` -> ``10 GB``."""
    if megabytes is None:
        return ""
    for unit, size in (("TB", 1_000_000), ("GB", 1_000)):
        if megabytes >= size:
            amount = megabytes / size
            return f"{amount:,.0f} {unit}" if amount == int(amount) else f"{amount:,.1f} {unit}"
    return f"{megabytes:,.0f} MB" if megabytes == int(megabytes) else f"{megabytes:,.1f} MB"


def register_filters(app: Flask) -> None:
    """Make the formatters available in every template."""
    app.jinja_env.filters.update(
        money=format_money,
        price=format_price,
        date=format_date,
        date_tz=format_date_tz,
        datetime=format_datetime,
        time_tz=format_time,
        isoformat=isoformat,
        number=format_number,
        megabytes=format_megabytes,
    )
