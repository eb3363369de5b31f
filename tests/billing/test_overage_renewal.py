"""Renewal with overage, on a test clock: the period's reported overage is invoiced in arrears
next to the plan, to the cent, and the cap's period moves on (so the cap resets)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from portal.billing.overage import period_summary
from portal.extensions import db
from portal.models import MeterReport, Tenant
from portal.plans import overage_calls_for_cents
from tests.factory import Factory

from .conftest import Billing
from .meter_support import add_rows, mirror_subscription, report_once, reporter

DAY = 86_400


@pytest.mark.parametrize(
    ("interval", "plan_cents"),
    [("month", 2900), ("year", None)],  # a yearly plan renews yearly; its overage monthly
)
def test_renewal_bills_the_plan_and_a_dollar_of_overage_then_the_cap_resets(
    billing: Billing,
    factory: Factory,
    clock: Callable[[int], int],
    interval: str,
    plan_cents: int | None,
) -> None:
    account = factory.account(key=True)
    sub_id = billing.subscribe(account.tenant_id, interval=interval)
    first = mirror_subscription(billing, sub_id)
    assert first.usage_period_start is not None and first.usage_period_end is not None
    period_start = int(first.usage_period_start.timestamp())
    answer = billing.client.put(
        "/v1/billing/overage",
        json={"enabled": True, "monthly_cap_cents": 100},
        headers={"Authorization": f"Bearer {account.key}"},
    )
    assert answer.status_code == 200
    # A $1 cap's worth of overage, as the usage flush writes it: 10,000 calls in three rows.
    cap_calls = overage_calls_for_cents(100)
    assert cap_calls == 10_000
    rows = add_rows(
        billing.app, account.tenant_id, [2500, 2500, 5000], event_time=period_start + 60
    )
    with billing.app.app_context():
        db.session.execute(
            sa.update(MeterReport).where(MeterReport.id.in_(rows)).values(period_start=period_start)
        )
        db.session.commit()
        tenant = db.session.get(Tenant, account.tenant_id)
        assert tenant is not None
        summary = period_summary(tenant, first.usage_period_start)
        assert summary.calls == cap_calls and summary.cap_reached
        assert summary.cost_cents == 100
    assert report_once(billing.app, reporter(billing.app)) == 3

    clock(int((first.usage_period_end - first.usage_period_start).total_seconds()) + 3600)
    invoices = billing.stripe.v1.invoices.list({"customer": billing.customer_id(account.tenant_id)})
    renewal = invoices.data[0]
    amounts = sorted(line.amount for line in renewal.lines.data)
    expected = sorted([100] if plan_cents is None else [plan_cents, 100])
    assert amounts == expected, [(line.description, line.amount) for line in renewal.lines.data]

    after = mirror_subscription(billing, sub_id)
    assert after.usage_period_start is not None
    assert after.usage_period_start >= first.usage_period_end  # the cap's period moved on
    with billing.app.app_context():
        tenant = db.session.get(Tenant, account.tenant_id)
        assert tenant is not None
        fresh = period_summary(tenant, after.usage_period_start)
        assert fresh.calls == 0 and not fresh.cap_reached
        assert fresh.period_start == after.usage_period_start
