"""The outbox's running total (``meter_day_total``) follows every insert, update and delete of
``meter_report``, through the database triggers of migration 0010, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import MeterDayTotal, MeterReport
from tests.factory import Factory

DAY = 86_400
PERIOD = 1_800_000_000 - 1_800_000_000 % DAY


def totals(tenant_id: int) -> dict[tuple[int, int], int]:
    rows = db.session.execute(
        sa.select(MeterDayTotal.period_start, MeterDayTotal.day, MeterDayTotal.quantity).where(
            MeterDayTotal.tenant_id == tenant_id
        )
    ).all()
    return {(period, day): quantity for period, day, quantity in rows if quantity}


def outbox_sums(tenant_id: int) -> dict[tuple[int, int], int]:
    rows = db.session.execute(
        sa.select(MeterReport.period_start, MeterReport.event_time, MeterReport.quantity).where(
            MeterReport.tenant_id == tenant_id
        )
    ).all()
    sums: dict[tuple[int, int], int] = {}
    for period, at, quantity in rows:
        sums[period, at // DAY] = sums.get((period, at // DAY), 0) + quantity
    return {key: value for key, value in sums.items() if value}


@pytest.mark.both_dbs
def test_the_running_total_follows_the_outbox(
    app: Flask, factory: Factory, db_backend: str
) -> None:
    tenant_id = factory.tenant("Acme", tier="pro")
    other = factory.tenant("Other", tier="pro")
    with app.app_context():
        db.session.execute(
            sa.insert(MeterReport),
            [
                {
                    "tenant_id": tenant_id,
                    "period_start": PERIOD,
                    "quantity": 5,
                    "event_time": PERIOD + 10,
                },
                {
                    "tenant_id": tenant_id,
                    "period_start": PERIOD,
                    "quantity": 7,
                    "event_time": PERIOD + 20,
                },
                {
                    "tenant_id": tenant_id,
                    "period_start": PERIOD,
                    "quantity": 11,
                    "event_time": PERIOD + DAY + 5,
                },
                {
                    "tenant_id": other,
                    "period_start": PERIOD,
                    "quantity": 3,
                    "event_time": PERIOD + 1,
                },
            ],
        )
        db.session.commit()
        assert totals(tenant_id) == {(PERIOD, PERIOD // DAY): 12, (PERIOD, PERIOD // DAY + 1): 11}
        assert totals(other) == {(PERIOD, PERIOD // DAY): 3}
        # A refund takes calls off an unsent row; a zero row is deleted (the flusher does both).
        db.session.execute(
            sa.update(MeterReport).where(MeterReport.quantity == 7).values(quantity=2)
        )
        db.session.execute(sa.delete(MeterReport).where(MeterReport.quantity == 11))
        db.session.commit()
        assert totals(tenant_id) == outbox_sums(tenant_id) == {(PERIOD, PERIOD // DAY): 7}
        assert totals(other) == {(PERIOD, PERIOD // DAY): 3}
        db.session.execute(
            sa.insert(MeterReport),
            [
                {
                    "tenant_id": tenant_id,
                    "period_start": PERIOD,
                    "quantity": 100,
                    "event_time": PERIOD,
                }
            ],
        )
        db.session.rollback()  # a rolled-back flush leaves the total as it was
        assert totals(tenant_id) == outbox_sums(tenant_id) == {(PERIOD, PERIOD // DAY): 7}
