"""The usage page's breakdown: each endpoint's calls this month by outcome (succeeded, client
errors, server errors, refused for the rate limit, the plan or storage).

The enforcement library records the outcomes (``portal.enforcement.lifecycle``); this module
finds the endpoints the tenant called this month (one primary-key range read of
``usage_counter``) and asks ``endpoint_outcomes`` for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.enforcement import current_enforcement
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
    metrics = session.scalars(
        select(UsageCounter.metric)
        .distinct()
        .where(
            UsageCounter.tenant_id == tenant_id,
            UsageCounter.day.between(first, last),
            or_(
                UsageCounter.metric.startswith(ENDPOINT_PREFIX),
                UsageCounter.metric.startswith(OUTCOME_PREFIX),
            ),
        )
    ).all()
    return sorted({route for metric in metrics if (route := _route_of(metric))})


def month_outcomes(session: Session, tenant_id: int, today: date) -> list[EndpointOutcomes]:
    """This month's outcomes per endpoint (flushed plus pending), busiest first."""
    first = today.replace(day=1)
    enforcement = current_enforcement()
    rows = [
        EndpointOutcomes(
            route,
            endpoint_outcomes(
                enforcement, tenant_id, route, date_to_day(first), date_to_day(today)
            ),
        )
        for route in called_endpoints(session, tenant_id, first, today)
    ]
    return sorted(rows, key=lambda row: (-row.total, row.endpoint))
