"""Helpers for the overage reporter's tests: customers at the simulator, outbox rows, and the
simulator's own count of what its meter received."""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask

from portal.billing.meter_reporter import MeterReporter, ReporterSettings
from portal.extensions import db
from portal.models import MeterReport, Subscription, Tenant
from portal.plans import OVERAGE_METER_EVENT_NAME
from portal.stripe_gateway import gateway_for
from stripe_sim.testing import SimulatorProcess

from .conftest import Billing

#: A usage period that started an hour ago (the rows' period_start).
PERIOD_START = int(time.time()) - 3600


@dataclass(frozen=True)
class Customer:
    tenant_id: int
    customer_id: str


def overage_meter(app: Flask) -> str:
    """The overage meter's id at the simulator, created if missing (as bootstrap would)."""
    with app.app_context():
        gateway = gateway_for(app)
        meter = gateway.find_meter(OVERAGE_METER_EVENT_NAME) or gateway.create_meter(
            display_name="CONTINUUM API calls over quota",
            event_name=OVERAGE_METER_EVENT_NAME,
            customer_key="stripe_customer_id",
            value_key="value",
        )
        return meter.id


def customers(app: Flask, sim: SimulatorProcess, count: int) -> list[Customer]:
    """``count`` Pro tenants, each with a customer at the simulator."""
    client = sim.client()
    made = []
    with app.app_context():
        for index in range(count):
            customer = client.v1.customers.create({"name": f"Overage {index}"})
            tenant = Tenant(name=f"Overage {index}", tier="pro", stripe_customer_id=customer.id)
            db.session.add(tenant)
            db.session.commit()
            made.append(Customer(tenant.id, customer.id))
    return made


def add_rows(
    app: Flask, tenant_id: int, quantities: list[int], *, event_time: int | None = None
) -> list[int]:
    """Outbox rows for the tenant (as the usage flush writes them); their ids."""
    when = event_time or int(time.time()) - 60
    with app.app_context():
        rows = [
            MeterReport(tenant_id=tenant_id, period_start=PERIOD_START, quantity=q, event_time=when)
            for q in quantities
        ]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def rows(app: Flask) -> list[MeterReport]:
    """Every outbox row, detached, by id."""
    with app.app_context():
        found = list(db.session.scalars(sa.select(MeterReport).order_by(MeterReport.id)))
        for row in found:
            db.session.expunge(row)
        return found


def our_total(app: Flask, tenant_id: int) -> int:
    return sum(row.quantity for row in rows(app) if row.tenant_id == tenant_id)


def meter_total(sim: SimulatorProcess, meter_id: str, customer_id: str) -> int:
    """What the simulator's meter summed for the customer over the last two days."""
    end = (int(time.time()) // 60 + 1) * 60
    summaries = sim.client().v1.billing.meters.event_summaries.list(
        meter_id, {"customer": customer_id, "start_time": end - 2 * 86400, "end_time": end}
    )
    return int(sum(summary.aggregated_value for summary in summaries.data))


def reporter(app: Flask, **settings: object) -> MeterReporter:
    """A reporter on ``app``'s current Stripe settings (build it after changing them)."""
    with app.app_context():
        return MeterReporter(gateway_for(app), ReporterSettings(**settings), app=app)  # type: ignore[arg-type]


def report_once(app: Flask, reporter: MeterReporter, tenant_id: int | None = None) -> int:
    """One pass in an app context; the number of rows Stripe accepted."""
    with app.app_context():
        return reporter.report_once(tenant_id=tenant_id).rows


def mirror_subscription(billing: Billing, sub_id: str) -> Subscription:
    billing.send("customer.subscription.updated", billing.subscription_json(sub_id))
    with billing.app.app_context():
        sub = db.session.scalar(
            sa.select(Subscription).where(Subscription.stripe_subscription_id == sub_id)
        )
        assert sub is not None
        db.session.expunge(sub)
        return sub
