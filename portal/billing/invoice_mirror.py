"""The local invoice mirror: Stripe invoices as the webhooks (finalized, paid, payment_failed)
and ``flask stripe resync`` report them, so pages and analytics never call Stripe to list them.

Deliveries arrive in any order and more than once. A status only moves forward (draft, open,
uncollectible, then paid or void), so a late ``invoice.finalized`` never reopens a paid invoice,
and the attempt count only grows.
"""

from __future__ import annotations

import sqlalchemy as sa

from portal.db import dialect_insert
from portal.extensions import db
from portal.models import Invoice, Tenant, utcnow
from portal.stripe_gateway import StripeInvoice, get_gateway

#: How far along its life an invoice status is; a mirror row never moves back.
_STATUS_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}
#: The most invoices a backfill reads per customer (Stripe's largest page).
BACKFILL_LIMIT = 100


def _rank(status: str | None) -> int:
    return _STATUS_RANK.get(status or "", -1)


def mirror_invoice(tenant: Tenant, remote: StripeInvoice) -> Invoice | None:
    """Write ``remote`` into the mirror for ``tenant``; returns the row (None for a preview,
    which has no id). The caller commits."""
    if not remote.id:
        return None
    row = _row(tenant, remote)
    if _rank(remote.status) < _rank(row.status):
        return row  # an older copy than the one stored
    row.tenant_id = tenant.id
    row.customer_id = remote.customer_id
    row.subscription_id = remote.subscription_id
    row.number = remote.number
    row.status = remote.status
    row.currency = remote.currency
    row.amount_due = remote.amount_due
    row.amount_paid = remote.amount_paid
    row.total = remote.total
    row.period_start = remote.period_start
    row.period_end = remote.period_end
    row.attempt_count = max(row.attempt_count or 0, remote.attempt_count)
    row.hosted_invoice_url = remote.hosted_invoice_url
    row.invoice_pdf = remote.invoice_pdf
    row.created = remote.created or row.created
    row.lines = [
        {"description": line.description, "amount": line.amount, "proration": line.proration}
        for line in remote.lines
    ]
    if remote.status == "paid":
        row.paid_at = remote.paid_at or row.paid_at or utcnow()
        row.paid_first_attempt = row.attempt_count <= 1
    return row


def _row(tenant: Tenant, remote: StripeInvoice) -> Invoice:
    """The mirror row for ``remote``, inserted first if missing (race-free: ON CONFLICT)."""
    now = utcnow()
    insert = dialect_insert(db.session.get_bind(), Invoice.__table__).values(
        id=remote.id,
        tenant_id=tenant.id,
        status=None,
        currency=remote.currency,
        amount_due=0,
        amount_paid=0,
        total=0,
        attempt_count=0,
        created=remote.created or now,
        mirrored_at=now,
    )
    db.session.execute(insert.on_conflict_do_nothing(index_elements=["id"]))
    row = db.session.scalar(
        sa.select(Invoice).where(Invoice.id == remote.id).execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def backfill_invoices(tenant: Tenant) -> int:
    """Mirror the tenant's newest invoices as Stripe lists them; returns how many. The caller
    commits."""
    if not tenant.stripe_customer_id:
        return 0
    invoices = get_gateway().list_invoices(tenant.stripe_customer_id, limit=BACKFILL_LIMIT)
    return sum(mirror_invoice(tenant, invoice) is not None for invoice in invoices)


def invoices_of(tenant_id: int, limit: int = 24) -> list[Invoice]:
    """The tenant's mirrored invoices, newest first."""
    return list(
        db.session.scalars(
            sa.select(Invoice)
            .where(Invoice.tenant_id == tenant_id)
            .order_by(Invoice.created.desc(), Invoice.id.desc())
            .limit(limit)
        )
    )
