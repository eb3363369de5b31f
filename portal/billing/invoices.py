"""The tenant's invoices for the billing page, read from the local invoice mirror."""

from __future__ import annotations

from portal.billing.invoice_mirror import invoices_of
from portal.models import Invoice, Tenant
from portal.stripe_gateway import StripeInvoice
from portal.stripe_gateway.types import StripeInvoiceLine


def list_invoices(tenant: Tenant, limit: int = 24) -> list[StripeInvoice]:
    """Newest first, as the mirror has them (the caller makes sure it is warm: see
    ``portal.billing.card_mirror``). No Stripe customer yet means no invoices."""
    if not tenant.stripe_customer_id:
        return []
    return [
        _as_stripe(row)
        for row in invoices_of(tenant.id, limit)
        if row.customer_id in (None, tenant.stripe_customer_id)
    ]


def _as_stripe(row: Invoice) -> StripeInvoice:
    return StripeInvoice(
        id=row.id,
        number=row.number,
        status=row.status,
        customer_id=row.customer_id,
        subscription_id=row.subscription_id,
        currency=row.currency,
        amount_due=row.amount_due,
        amount_paid=row.amount_paid,
        total=row.total,
        created=row.created,
        period_start=row.period_start,
        period_end=row.period_end,
        attempt_count=row.attempt_count,
        next_payment_attempt=row.next_payment_attempt,
        hosted_invoice_url=row.hosted_invoice_url,
        invoice_pdf=row.invoice_pdf,
        lines=[
            StripeInvoiceLine(
                description=line.get("description"),  # type: ignore[arg-type]
                amount=int(line.get("amount") or 0),  # type: ignore[call-overload]
                proration=bool(line.get("proration")),
            )
            for line in row.lines or []
        ],
        paid_at=row.paid_at,
    )
