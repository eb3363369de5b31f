"""Webhook handlers that keep the billing page's local mirror current: cards, the default card,
and invoices (``portal.billing.card_mirror``, ``portal.billing.invoice_mirror``).

Cards and customers are re-fetched from Stripe rather than taken from the event, so deliveries
out of order (a detach before its attach) or replayed cannot leave a card that Stripe no longer
has. Invoices are taken from the event: the invoice mirror only moves an invoice forward.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa

from portal.billing import card_mirror
from portal.billing.invoice_mirror import mirror_invoice
from portal.extensions import db
from portal.models import Invoice, PaymentMethodMirror, Tenant
from portal.stripe_gateway import StripeInvoice, StripeObjectMissing, get_gateway

if TYPE_CHECKING:
    from portal.webhooks.handlers import Delivery

log = logging.getLogger("continuum.billing")


def payment_method_changed(delivery: Delivery) -> None:
    """A card was attached, detached or updated: mirror it as Stripe has it now."""
    method_id = delivery.event.object_id
    if not method_id:
        return
    try:
        method = get_gateway().retrieve_payment_method(method_id)
    except StripeObjectMissing:
        card_mirror.forget_card(method_id)
        return
    tenant = delivery.tenant or _owner_of_card(method_id)
    card_mirror.apply_card(tenant, method)
    log.info("payment method %s: %s, mirrored", method_id, delivery.event.type)


def customer_updated(delivery: Delivery) -> None:
    """The default card may have changed: mirror the customer as Stripe has it now."""
    tenant = delivery.tenant
    if tenant is None or not tenant.stripe_customer_id:
        return
    try:
        customer = get_gateway().retrieve_customer(tenant.stripe_customer_id)
    except StripeObjectMissing:
        return  # customer.deleted follows and unlinks it
    card_mirror.apply_customer(tenant, customer)


def invoice_changed(delivery: Delivery) -> None:
    """Any invoice of one of our customers (created, updated, voided, uncollectible...) goes
    into the mirror; it never moves an invoice back."""
    invoice = delivery.event.object
    if isinstance(invoice, StripeInvoice) and delivery.tenant_id is not None:
        mirror_invoice(delivery.tenant_id, invoice)


def invoice_deleted(delivery: Delivery) -> None:
    """A draft invoice was deleted at Stripe: it leaves the mirror."""
    if delivery.tenant_id is not None and delivery.event.object_id:
        db.session.execute(
            sa.delete(Invoice).where(
                Invoice.id == delivery.event.object_id, Invoice.tenant_id == delivery.tenant_id
            )
        )


def _owner_of_card(method_id: str) -> Tenant | None:
    """The tenant a mirrored card belongs to (a detach event names no customer)."""
    row = db.session.get(PaymentMethodMirror, method_id)
    return db.session.get(Tenant, row.tenant_id) if row is not None else None


#: Event type -> mirror handler. ``portal.webhooks.handlers`` runs them after its own handler
#: for the same type, if it has one.
MIRROR_HANDLERS = {
    "payment_method.attached": payment_method_changed,
    "payment_method.detached": payment_method_changed,
    "payment_method.updated": payment_method_changed,
    "payment_method.automatically_updated": payment_method_changed,
    "customer.updated": customer_updated,
    "invoice.created": invoice_changed,
    "invoice.updated": invoice_changed,
    "invoice.voided": invoice_changed,
    "invoice.marked_uncollectible": invoice_changed,
    "invoice.deleted": invoice_deleted,
}
