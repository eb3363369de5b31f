"""The tenant's invoices, read from Stripe for the billing page."""

from __future__ import annotations

from portal.models import Tenant
from portal.stripe_gateway import StripeInvoice, get_gateway


def list_invoices(tenant: Tenant, limit: int = 24) -> list[StripeInvoice]:
    """Newest first, as Stripe lists them. No Stripe customer yet means no invoices."""
    if not tenant.stripe_customer_id:
        return []
    return get_gateway().list_invoices(tenant.stripe_customer_id, limit=limit)
