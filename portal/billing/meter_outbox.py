"""The meter_report outbox's SQL side: claim due rows, then record what Stripe said.

A claim stamps ``claimed_until`` on due rows nobody holds (rows another reporter is claiming
at the same moment are skipped on PostgreSQL, and serialized on SQLite), and takes whole
tenants only: while one reporter holds a tenant's rows, no other sends for that customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import MeterReport, Tenant


@dataclass(frozen=True)
class ClaimedReport:
    """One outbox row a reporter holds until ``claimed_until``, with its customer."""

    id: int
    tenant_id: int
    customer_id: str | None
    period_start: int
    quantity: int
    event_time: int
    attempts: int

    @property
    def identifier(self) -> str:
        """The meter event identifier (``MeterReport.identifier``): the same on every resend."""
        return MeterReport(id=self.id, period_start=self.period_start).identifier(
            self.customer_id or ""
        )


def _open() -> sa.ColumnElement[bool]:
    return sa.and_(MeterReport.reported_at.is_(None), MeterReport.failed_at.is_(None))


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        _open(),
        sa.or_(MeterReport.next_attempt_at.is_(None), MeterReport.next_attempt_at <= now),
        sa.or_(MeterReport.claimed_until.is_(None), MeterReport.claimed_until < now),
    )


def claim(
    now: datetime, *, limit: int, lease: timedelta, tenant_id: int | None = None
) -> list[ClaimedReport]:
    """Claim up to ``limit`` due rows (of ``tenant_id``, or of any tenant) and commit.

    Tenants are picked first: their rows are locked on PostgreSQL (a claim running at the same
    moment skips them), and the UPDATE checks again that each row is due and its tenant held
    by nobody, which is what keeps two claims apart on SQLite (its writes take turns).
    """
    held = (
        sa.select(MeterReport.tenant_id)
        .where(_open(), MeterReport.claimed_until >= now)
        .scalar_subquery()
    )
    waiting = sa.select(MeterReport.tenant_id).where(_due(now), MeterReport.tenant_id.not_in(held))
    if tenant_id is not None:
        waiting = waiting.where(MeterReport.tenant_id == tenant_id)
    tenants = list(
        db.session.scalars(
            sa.select(Tenant.id)
            .where(Tenant.id.in_(waiting.distinct().scalar_subquery()))
            .order_by(Tenant.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    ids = list(
        db.session.scalars(
            sa.select(MeterReport.id)
            .where(_due(now), MeterReport.tenant_id.in_(tenants))
            .order_by(MeterReport.id)
            .limit(limit)
        )
    )
    if not ids:
        db.session.commit()
        return []
    claimed = db.session.execute(
        sa.update(MeterReport)
        .where(MeterReport.id.in_(ids), _due(now), MeterReport.tenant_id.not_in(held))
        .values(claimed_until=now + lease)
        .returning(
            MeterReport.id,
            MeterReport.tenant_id,
            MeterReport.period_start,
            MeterReport.quantity,
            MeterReport.event_time,
            MeterReport.attempts,
        )
    ).all()
    customers = _customers({row.tenant_id for row in claimed})
    db.session.commit()
    reports = [
        ClaimedReport(
            id=row.id,
            tenant_id=row.tenant_id,
            customer_id=customers.get(row.tenant_id),
            period_start=row.period_start,
            quantity=row.quantity,
            event_time=row.event_time,
            attempts=row.attempts or 0,
        )
        for row in claimed
    ]
    return sorted(reports, key=lambda report: report.id)


def _customers(tenant_ids: Iterable[int]) -> dict[int, str | None]:
    ids = list(tenant_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Tenant.id, Tenant.stripe_customer_id).where(Tenant.id.in_(ids))
    ).all()
    return {row.id: row.stripe_customer_id for row in rows}


# --- outcomes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed row: ``reported``, ``retry`` (at ``next_attempt_at``),
    ``failed`` (for good) or ``deferred`` (not attempted; due again at ``next_attempt_at``)."""

    report: ClaimedReport
    kind: str
    error: str | None = None
    next_attempt_at: datetime | None = None
    #: Reported, and Stripe already had the identifier (a resend).
    duplicate: bool = False


def record(outcomes: Sequence[Outcome], now: datetime) -> None:
    """Write every outcome in one transaction (one UPDATE for all the reported rows). A row
    someone else marked meanwhile (after our claim ran out) keeps its mark."""
    attempted: dict[str, Any] = {"attempts": MeterReport.attempts + 1, "claimed_until": None}
    reported = [outcome.report.id for outcome in outcomes if outcome.kind == "reported"]
    if reported:
        db.session.execute(
            sa.update(MeterReport)
            .where(MeterReport.id.in_(reported), _open())
            .values(**attempted, reported_at=now, last_error=None)
        )
    for outcome in outcomes:
        values: dict[str, Any]
        if outcome.kind == "reported":
            continue
        if outcome.kind == "retry":
            values = {
                **attempted,
                "next_attempt_at": outcome.next_attempt_at,
                "last_error": outcome.error,
            }
        elif outcome.kind == "failed":
            values = {**attempted, "failed_at": now, "last_error": outcome.error}
        else:
            values = {"claimed_until": None, "next_attempt_at": outcome.next_attempt_at}
        db.session.execute(
            sa.update(MeterReport)
            .where(MeterReport.id == outcome.report.id, _open())
            .values(**values)
        )
    db.session.commit()


# --- what is waiting -------------------------------------------------------------------------


def pending_calls(tenant_id: int) -> int:
    """Overage calls of the tenant in the outbox that Stripe has not accepted (nor refused)."""
    total = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(MeterReport.quantity), 0)).where(
            MeterReport.tenant_id == tenant_id, _open()
        )
    )
    return int(total or 0)


def backlog(now: datetime) -> tuple[int, datetime | None]:
    """(rows not yet reported nor failed, when the oldest of them was written)."""
    count, oldest = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(MeterReport.created_at)).where(_open())
    ).one()
    return int(count or 0), oldest
