"""Ids and simulated time: objects on a test clock live at the clock's frozen time."""

from __future__ import annotations

import calendar
import secrets
import string
import time
from datetime import UTC, datetime
from typing import Any

from stripe_sim.store import Store

DAY = 86400
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-looking id such as ``cus_Ab12...``."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def real_now() -> int:
    return int(time.time())


def clock_time(store: Store, clock_id: str | None) -> int:
    """The frozen time of a test clock, or the real time without one."""
    if clock_id:
        clock = store.get(clock_id, "test_helpers.test_clock")
        if clock is not None:
            return int(clock["frozen_time"])
    return real_now()


def customer_time(store: Store, customer: dict[str, Any] | str | None) -> int:
    """Now, as seen by a customer (its test clock's time when it has one)."""
    if isinstance(customer, str):
        customer = store.get(customer, "customer")
    return clock_time(store, customer.get("test_clock") if customer else None)


def add_interval(anchor: int, interval: str, count: int) -> int:
    """``anchor`` plus ``count`` intervals; months keep the anchor's day, clamped to month end."""
    if interval == "day":
        return anchor + count * DAY
    if interval == "week":
        return anchor + count * 7 * DAY
    months = count * (12 if interval == "year" else 1)
    start = datetime.fromtimestamp(anchor, UTC)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def next_period_end(anchor: int, interval: str, count: int, after: int) -> int:
    """The first period boundary counted from ``anchor`` that lies strictly after ``after``."""
    n = 1
    while (end := add_interval(anchor, interval, count * n)) <= after:
        n += 1
    return end


def period_bounds(anchor: int, interval: str, count: int, at: int) -> tuple[int, int]:
    """The anchor-aligned period ``[start, end)`` of one interval that contains ``at``."""
    start, n = anchor, 0
    while (end := add_interval(anchor, interval, count * (n + 1))) <= at:
        start, n = end, n + 1
    return start, end


def iso_date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
