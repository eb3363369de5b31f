"""The overage period: the mirror's own, rolled forward when the renewal is late, monthly always."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal.enforcement.overage import (
    OverageTerms,
    cap_message,
    parse_period_metric,
    period_metric,
    usage_period,
)


def at(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())  # type: ignore[arg-type]


#: A monthly period mirrored from Stripe: Nov 15 to Dec 15, 2026.
NOV = (at(2026, 11, 15), at(2026, 12, 15))


@pytest.mark.parametrize(
    ("mirror", "now", "period"),
    [
        # Inside the mirrored period: exactly that period.
        (NOV, at(2026, 11, 21), NOV),
        # Its start belongs to it, its end to the next one.
        (NOV, at(2026, 11, 15), NOV),
        (NOV, at(2026, 12, 15), (at(2026, 12, 15), at(2027, 1, 15))),
        # The renewal webhook is months late: whole months from the mirror's end.
        (NOV, at(2027, 2, 20), (at(2027, 2, 15), at(2027, 3, 15))),
        # A period renewing on the 31st: cut short by February, back on the 31st after it.
        (
            (at(2026, 1, 31, 12), at(2026, 2, 28, 12)),
            at(2026, 3, 5),
            (at(2026, 2, 28, 12), at(2026, 3, 31, 12)),
        ),
        (
            (at(2026, 1, 31, 12), at(2026, 2, 28, 12)),
            at(2026, 4, 30, 13),
            (at(2026, 4, 30, 12), at(2026, 5, 31, 12)),
        ),
        # A yearly period (no metered item mirrored yet): the cap is still monthly.
        ((at(2026, 1, 15), at(2027, 1, 15)), at(2026, 3, 20), (at(2026, 3, 15), at(2026, 4, 15))),
        # No subscription row at all: the UTC calendar month.
        ((None, None), at(2026, 11, 21, 10), (at(2026, 11, 1), at(2026, 12, 1))),
        ((None, None), at(2026, 12, 31, 23, 59), (at(2026, 12, 1), at(2027, 1, 1))),
    ],
)
def test_usage_period(
    mirror: tuple[int | None, int | None], now: int, period: tuple[int, int]
) -> None:
    assert usage_period(*mirror, now) == period


def test_the_window_follows_the_clock_into_the_next_period() -> None:
    terms = OverageTerms(enabled=True, cap_cents=100, mirror_start=NOV[0], mirror_end=NOV[1])
    first = terms.window(at(2026, 11, 21))
    assert terms.window(at(2026, 12, 14, 23)) is first  # built once a period
    second = terms.window(at(2026, 12, 15))
    assert (second.period_start, second.period_end) == (at(2026, 12, 15), at(2027, 1, 15))
    assert second.allowance == 10_000 and second.cap_cents == 100
    assert parse_period_metric(second.metric) == (second.period_start, second.period_end)
    assert parse_period_metric("api_calls_overage") is None
    assert period_metric(1, 2) == "overage_period:1:2"


@pytest.mark.parametrize(
    ("cents", "message"),
    [
        (2000, "Monthly overage spend cap reached ($20.00)"),
        (100, "Monthly overage spend cap reached ($1.00)"),
        (150, "Monthly overage spend cap reached ($1.50)"),
        (1_000_000, "Monthly overage spend cap reached ($10,000.00)"),
    ],
)
def test_cap_message(cents: int, message: str) -> None:
    assert cap_message(cents) == message
