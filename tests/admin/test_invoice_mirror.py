"""The invoice mirror: deliveries in any order never move an invoice back, and a resync from
the console backfills it from Stripe (the simulator), with the subscription's start kept."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.billing.invoice_mirror import mirror_invoice
from portal.extensions import db
from portal.models import AdminAudit, Invoice, Subscription, Tenant, utcnow
from portal.stripe_gateway import StripeInvoice
from tests.factory import Factory, PortalClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "billing_pages"))
from billing_support import upgrade_through_checkout, use_simulator  # noqa: E402


def remote(status: str, attempts: int, **changes: Any) -> StripeInvoice:
    now = utcnow()
    base = StripeInvoice(
        id="in_order",
        number="ABC-0001",
        status=status,
        customer_id="cus_1",
        subscription_id="sub_1",
        currency="usd",
        amount_due=2900,
        amount_paid=2900 if status == "paid" else 0,
        total=2900,
        created=now,
        period_start=now,
        period_end=now + timedelta(days=30),
        attempt_count=attempts,
        next_payment_attempt=None,
        hosted_invoice_url="https://invoice.stripe.com/i/1",
        invoice_pdf=None,
        lines=[],
        paid_at=now if status == "paid" else None,
    )
    return replace(base, **changes)


@pytest.mark.both_dbs
def test_deliveries_in_any_order(app: Flask, factory: Factory, db_backend: str) -> None:
    tenant_id = factory.account(customer_id="cus_1").tenant_id
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        assert tenant is not None
        mirror_invoice(tenant, remote("open", 1))  # finalized, first charge failed
        mirror_invoice(tenant, remote("open", 2))
        mirror_invoice(tenant, remote("paid", 2))  # paid on the retry
        mirror_invoice(tenant, remote("open", 1))  # a late, older delivery
        assert mirror_invoice(tenant, replace(remote("draft", 0), id=None)) is None  # a preview
        db.session.commit()
        row = db.session.get(Invoice, "in_order")
        assert row is not None
        assert (row.status, row.attempt_count, row.paid_first_attempt) == ("paid", 2, False)
        assert row.amount_paid == 2900 and row.paid_at is not None
        assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 1


@pytest.fixture
def app_config(app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
    return use_simulator(app_config, sim)


def test_resync_from_the_console_backfills_invoices(
    app: Flask, sim: Any, factory: Factory, staff: PortalClient
) -> None:
    account = factory.account(email="resync@example.com")
    subscription_id = upgrade_through_checkout(account, sim)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 0  # no webhooks here
    token = staff.csrf_token("/admin/audit")
    answer = staff.post(f"/admin/tenants/{account.tenant_id}/resync", data={"csrf_token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    with app.app_context():
        [invoice] = db.session.scalars(sa.select(Invoice))
        assert (invoice.tenant_id, invoice.subscription_id, invoice.status) == (
            account.tenant_id,
            subscription_id,
            "paid",
        )
        assert invoice.amount_paid == 2900 and invoice.paid_first_attempt is True
        assert invoice.hosted_invoice_url
        sub = db.session.scalar(sa.select(Subscription))
        assert sub is not None and sub.started_at is not None
        row = db.session.scalar(sa.select(AdminAudit))
        assert row is not None and row.action == "tenant.resynced"
        assert row.after["invoices_mirrored"] == 1  # type: ignore[index]
    page = staff.get(f"/admin/tenants/{account.tenant_id}").get_data(as_text=True)
    assert invoice.hosted_invoice_url in page
