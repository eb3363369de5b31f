"""The polled dashboard fragment's one SELECT: today's and the period's calls, the storage row,
the overage card's sums and the 30-day chart's days, every one a primary-key read.

Every open dashboard runs it every few seconds, so the statement is built once per shape and
run on the session's connection (the row is plain values; the ORM's result handling would cost
more than the query).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Executable, ScalarSelect, String, bindparam, cast, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from portal.dashboard.usage import CALLS_METRIC, OVERAGE_METRIC, DayCount, StorageDetail
from portal.models import StorageUsage, UsageCounter


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
    calls: one SELECT of primary-key reads, one round trip. Built once per shape, then reused.

    Run on the session's connection, past the ORM's result handling (the row is plain values),
    in the session's transaction."""
    key = (extra, series)
    if key not in _FRAGMENT_STATEMENTS:
        columns = (*_FRAGMENT_COLUMNS, *extra, *((_SERIES_COLUMN,) if series else ()))
        _FRAGMENT_STATEMENTS[key] = select(*columns)
    statement = _FRAGMENT_STATEMENTS[key]
    first_day = today - timedelta(days=SERIES_DAYS - 1)
    values: dict[str, object] = {
        "tenant_id": tenant_id,
        "today": today,
        "month_start": period_start or today.replace(day=1),
        "series_start": first_day,
        **(params or {}),
    }
    row: Sequence[Any] = session.connection().execute(statement, values).one()
    today_calls, period, memories, embeddings, bytes_used, *rest = row
    extras = tuple(int(value or 0) for value in rest[: len(extra)])
    return FragmentReads(
        stored_today=int(today_calls or 0),
        period_calls=int(period or 0),
        storage=StorageDetail(int(memories or 0), int(embeddings or 0), int(bytes_used or 0)),
        extra=extras,
        series=_parse_series(rest[len(extra)], first_day) if series else (),
    )


def _parse_series(text: str | None, first_day: date) -> tuple[DayCount, ...]:
    """The chart's days from ``_SERIES_COLUMN``'s text (``2026-11-29:42:api_calls,...``, in
    no particular order; a day without rows has no entry): every day, oldest first."""
    calls: dict[str, int] = {}
    overage: dict[str, int] = {}
    for entry in text.split(",") if text else ():
        day, value, metric = entry.split(":", 2)
        (overage if metric == OVERAGE_METRIC else calls)[day] = int(value)
    days = [first_day + timedelta(days=n) for n in range(SERIES_DAYS)]
    return tuple(
        DayCount(day, calls.get(text, 0), overage.get(text, 0))
        for day, text in ((day, day.isoformat()) for day in days)
    )


class iso_day(FunctionElement[str]):  # noqa: N801  (a SQL function: lower case, as func.*)
    """A date column as ``YYYY-MM-DD`` text on every database: SQLite stores dates that way,
    PostgreSQL's own cast to text follows the server's ``DateStyle``, so it gets ``to_char``."""

    type = String()
    name = "iso_day"
    inherit_cache = True


@compiles(iso_day)
def _iso_day(element: iso_day, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(iso_day, "postgresql")
def _iso_day_postgresql(element: iso_day, compiler: Any, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD')"


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
#: The chart's days: one primary-key range read of the two metrics over the 30 days, as one
#: text value (``day:value:metric`` joined by commas: at most 60 entries). One subquery with
#: three bound values, where one per day and metric would bind 180 and cost more to send than
#: to run.
_SERIES_COLUMN = (
    select(
        func.aggregate_strings(
            iso_day(UsageCounter.day)
            + ":"
            + cast(UsageCounter.value, String)
            + ":"
            + UsageCounter.metric,
            ",",
        )
    )
    .where(
        UsageCounter.tenant_id == bindparam("tenant_id"),
        or_(UsageCounter.metric == CALLS_METRIC, UsageCounter.metric == OVERAGE_METRIC),
        UsageCounter.day.between(bindparam("series_start"), bindparam("today")),
    )
    .scalar_subquery()
)
_FRAGMENT_STATEMENTS: dict[tuple[tuple[ScalarSelect[int], ...], bool], Executable] = {}
