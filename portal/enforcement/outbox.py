"""The overage half of a usage flush: the period's overage calls into the ``meter_report`` outbox.

A batch's pending usage holds each admitted overage call under its period's metric
(``overage.period_metric``); ``write_outbox`` turns them into one outbox row per tenant and period,
in the transaction that writes the batch's counters and its ledger entry, so a batch taken twice
never writes its rows twice. The overage reporter sends the rows to Stripe's meter.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa

from portal.enforcement.overage import parse_period_metric
from portal.enforcement.stores.base import UsageRows
from portal.models import MeterReport

log = logging.getLogger("continuum.enforcement")

#: (tenant id, period start, period end) -> overage calls.
OutboxRows = dict[tuple[int, int, int], int]

#: Outbox rows no reporter has tried to send yet (so no identifier of theirs can be at Stripe).
_UNSENT = sa.and_(
    MeterReport.reported_at.is_(None),
    MeterReport.failed_at.is_(None),
    MeterReport.claimed_until.is_(None),
    MeterReport.attempts == 0,
)


def outbox_rows(rows: UsageRows) -> tuple[UsageRows, OutboxRows]:
    """Split merged pending usage into ``usage_counter`` rows and overage calls per period."""
    counters: UsageRows = {}
    outbox: OutboxRows = {}
    for (tenant_id, metric, day), value in rows.items():
        period = parse_period_metric(metric)
        if period is None:
            counters[tenant_id, metric, day] = value
        else:
            key = (tenant_id, *period)
            outbox[key] = outbox.get(key, 0) + value
    return counters, outbox


def write_outbox(connection: sa.Connection, outbox: OutboxRows, now: float) -> int:
    """Insert one row per tenant and period, its event at ``now`` clamped into the period (Stripe
    bills an event in the period its timestamp falls in); returns the rows written.

    A period whose net is negative holds refunds of calls an earlier batch already wrote (a call
    our own gates refused, or an admission whose reply was lost, taken back after that batch
    was taken): they come off that period's rows no reporter has touched yet.
    """
    created = datetime.fromtimestamp(now, UTC)
    params = [
        {
            "tenant_id": tenant_id,
            "period_start": start,
            "quantity": calls,
            "event_time": min(max(int(now), start), end - 1),
            "created_at": created,
            "attempts": 0,
        }
        for (tenant_id, start, end), calls in sorted(outbox.items())
        if calls > 0
    ]
    if params:
        connection.execute(sa.insert(MeterReport), params)
    for (tenant_id, start, _), calls in outbox.items():
        if calls < 0:
            _take_back(connection, tenant_id, start, -calls)
    return len(params)


def _take_back(connection: sa.Connection, tenant_id: int, period_start: int, calls: int) -> None:
    """Take ``calls`` off the tenant's unsent rows of the period, newest first."""
    unsent = connection.execute(
        sa.select(MeterReport.id, MeterReport.quantity)
        .where(
            MeterReport.tenant_id == tenant_id, MeterReport.period_start == period_start, _UNSENT
        )
        .order_by(MeterReport.id.desc())
    ).all()
    for row in unsent:
        if calls == 0:
            break
        taken = min(calls, row.quantity)
        # Guarded: a reporter may have claimed the row since it was read.
        done = connection.execute(
            sa.update(MeterReport)
            .where(MeterReport.id == row.id, _UNSENT, MeterReport.quantity >= taken)
            .values(quantity=MeterReport.quantity - taken)
        )
        if done.rowcount:
            calls -= taken
    connection.execute(
        sa.delete(MeterReport).where(
            MeterReport.tenant_id == tenant_id,
            MeterReport.period_start == period_start,
            MeterReport.quantity == 0,
            _UNSENT,
        )
    )
    if calls:
        log.warning(
            "%d overage calls of tenant %s taken back after their report was sent: billed",
            calls,
            tenant_id,
        )


def overage_in_outbox(engine: sa.Engine, tenant_id: int, period_start: int) -> int:
    """The period's overage calls SQL holds (what a restarted counter store starts from)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(MeterReport.quantity), 0)).where(
        MeterReport.tenant_id == tenant_id, MeterReport.period_start == period_start
    )
    with engine.connect() as connection:
        return int(connection.scalar(query) or 0)
