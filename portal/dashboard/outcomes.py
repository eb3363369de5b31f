"""The usage page's breakdown: each endpoint's calls this month by outcome (succeeded, client
errors, server errors, refused for the rate limit, the plan or storage).

The enforcement library records the outcomes (``portal.enforcement.lifecycle``). This module
reads the month's flushed totals of every endpoint and outcome metric in one grouped
primary-key range read of ``usage_counter`` (which also names the endpoints called), adds what
the enforcement store still holds for each metric, and lets ``endpoint_outcomes`` compose the
figures (the succeeded count and the metric names are its rules, not repeated here). Before,
each endpoint cost six SQL reads, each on a connection of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import cast

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from portal.enforcement import Enforcement, current_enforcement
from portal.enforcement.lifecycle import (
    CLIENT_ERROR,
    OUTCOME_PREFIX,
    OUTCOMES,
    REFUSED_PLAN,
    REFUSED_RATE_LIMIT,
    REFUSED_STORAGE,
    SERVER_ERROR,
    SUCCEEDED,
    endpoint_outcomes,
)
from portal.enforcement.metering import date_to_day
from portal.models import UsageCounter

ENDPOINT_PREFIX = "api_calls:"

#: Column order and headings of the usage page's table.
COLUMNS = (
    (SUCCEEDED, "Succeeded"),
    (CLIENT_ERROR, "Client errors (4xx)"),
    (SERVER_ERROR, "Server errors (5xx)"),
    (REFUSED_RATE_LIMIT, "Refused: rate limit"),
    (REFUSED_PLAN, "Refused: plan"),
    (REFUSED_STORAGE, "Refused: storage"),
)


@dataclass(frozen=True)
class EndpointOutcomes:
    endpoint: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _route_of(metric: str) -> str | None:
    if metric.startswith(ENDPOINT_PREFIX):
        return metric.removeprefix(ENDPOINT_PREFIX)
    if metric.startswith(OUTCOME_PREFIX):
        kind, _, route = metric.removeprefix(OUTCOME_PREFIX).partition(":")
        return route if kind in OUTCOMES and route else None
    return None


def called_endpoints(session: Session, tenant_id: int, first: date, last: date) -> list[str]:
    """The endpoints with any counted call (run or refused) between ``first`` and ``last``."""
    return sorted(_routes(_flushed_by_metric(session, tenant_id, first, last)))


def _routes(totals: dict[str, int]) -> set[str]:
    return {route for metric in totals if (route := _route_of(metric))}


def _flushed_by_metric(session: Session, tenant_id: int, first: date, last: date) -> dict[str, int]:
    """The flushed total of every endpoint and outcome metric from ``first`` to ``last``: one
    grouped read of the tenant's primary-key range."""
    rows = session.execute(_BY_METRIC, {"tenant_id": tenant_id, "first": first, "last": last}).all()
    return {metric: int(total or 0) for metric, total in rows}


_BY_METRIC = (
    select(UsageCounter.metric, func.sum(UsageCounter.value))
    .where(
        UsageCounter.tenant_id == bindparam("tenant_id"),
        UsageCounter.day.between(bindparam("first"), bindparam("last")),
        or_(
            UsageCounter.metric.startswith(ENDPOINT_PREFIX),
            UsageCounter.metric.startswith(OUTCOME_PREFIX),
        ),
    )
    .group_by(UsageCounter.metric)
)


class _MonthUsage:
    """``Enforcement.usage`` for one tenant's month, with the flushed part read up front in one
    query (``_flushed_by_metric``) instead of once per metric; the pending part is still the
    store's, asked per metric exactly as ``Enforcement.usage`` asks it."""

    def __init__(self, enforcement: Enforcement, flushed: dict[str, int], days: range) -> None:
        self._store = enforcement.store
        self._flushed = flushed
        self._days = days

    def usage(self, tenant_id: int, metric: str, first_day: int, last_day: int) -> int:
        if range(first_day, last_day + 1) != self._days:
            raise ValueError("the flushed totals were read for another span of days")
        return self._flushed.get(metric, 0) + self._store.pending_usage(
            tenant_id, metric, self._days
        )


def month_outcomes(session: Session, tenant_id: int, today: date) -> list[EndpointOutcomes]:
    """This month's outcomes per endpoint (flushed plus pending), busiest first."""
    first = today.replace(day=1)
    flushed = _flushed_by_metric(session, tenant_id, first, today)
    first_day, last_day = date_to_day(first), date_to_day(today)
    # ``endpoint_outcomes`` only asks its runtime for ``usage``; this one answers from the read.
    month = cast(
        Enforcement, _MonthUsage(current_enforcement(), flushed, range(first_day, last_day + 1))
    )
    rows = [
        EndpointOutcomes(route, endpoint_outcomes(month, tenant_id, route, first_day, last_day))
        for route in sorted(_routes(flushed))
    ]
    return sorted(rows, key=lambda row: (-row.total, row.endpoint))
