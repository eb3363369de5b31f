"""Ending past-due at once: pay the open invoice with a card the customer just fixed.

Stripe retries a failed renewal on its own schedule, days apart. A customer who adds a working
card, makes a saved one the default, or presses "Pay now" should not wait for that: we ask
Stripe to pay the open invoice with that card right away (``invoices.pay`` with
``payment_method``), then mirror the subscription Stripe answers with, so the plan is active
again and the past-due banner is gone in the same response.

A decline is reported in the bank's own words, with the date of Stripe's next automatic retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from portal.billing.invoice_mirror import mirror_invoice
from portal.billing.invoices import list_invoices
from portal.billing.payment_methods import own_payment_method
from portal.billing.subscriptions import current_subscription, ended, sync_subscription
from portal.errors import Conflict
from portal.extensions import db
from portal.models import Subscription, Tenant
from portal.stripe_gateway import (
    PaymentDeclined,
    StripeInvoice,
    get_gateway,
)
from portal.web.formatting import format_date, format_money

log = logging.getLogger("continuum.billing")

#: The subscription states whose open invoice a customer can pay off from the billing page.
PAYABLE_STATUSES = ("past_due", "incomplete", "unpaid")


def card_words(brand: str | None, last4: str | None) -> str:
    """A card as the pay button names it: ``Visa •••• 4242``."""
    return f"{(brand or 'card').title()} •••• {last4 or '????'}"


@dataclass(frozen=True)
class Settled:
    """An open invoice paid now; ``message`` says so in one sentence."""

    invoice: StripeInvoice
    card: str

    @property
    def message(self) -> str:
        amount = format_money(self.invoice.amount_paid, self.invoice.currency)
        return f"Paid {amount} with {self.card}. Your plan is active again."


class PaymentStillDue(PaymentDeclined):
    """The charge for the open invoice was declined; the message quotes the bank and says
    when Stripe tries again on its own."""


def awaiting_payment(tenant: Tenant) -> Subscription | None:
    """The tenant's subscription if it has a failed payment that paying now would clear."""
    sub = current_subscription(tenant)
    if sub is None or ended(sub) or sub.status not in PAYABLE_STATUSES:
        return None
    return sub


def open_invoice(tenant: Tenant, sub: Subscription) -> StripeInvoice | None:
    """The subscription's oldest open invoice (the one Stripe is retrying)."""
    open_ones = [
        invoice
        for invoice in list_invoices(tenant)
        if invoice.status == "open" and invoice.subscription_id == sub.stripe_subscription_id
    ]
    return open_ones[-1] if open_ones else None


def pay_open_invoice(tenant: Tenant, payment_method_id: str) -> Settled:
    """Charge the tenant's card ``payment_method_id`` for its open invoice, now.

    Raises ``Conflict`` when nothing is due, ``NotFound`` for a card of another customer, and
    ``PaymentStillDue`` (402) when the bank declines. On success the subscription mirror is
    re-synced and committed before returning.
    """
    sub = awaiting_payment(tenant)
    if sub is None:
        raise Conflict("Nothing is due: your last payment went through.")
    invoice = open_invoice(tenant, sub)
    if invoice is None or invoice.id is None:
        # Stripe may have settled it meanwhile (a retry, or another tab): mirror what it says.
        _resync(tenant, sub)
        raise Conflict("There is no open invoice to pay. Reload the page to see your plan.")
    card = own_payment_method(tenant, payment_method_id)
    words = card_words(card.brand, card.last4)
    gateway = get_gateway()
    try:
        paid = gateway.pay_invoice(invoice.id, card.id)
    except PaymentDeclined as declined:
        log.info("tenant %s: paying %s with %s declined", tenant.id, invoice.id, card.id)
        refreshed = gateway.retrieve_invoice(invoice.id)
        mirror_invoice(tenant, refreshed)  # the page shows its next retry in this response
        db.session.commit()
        retry = refreshed.next_payment_attempt
        raise PaymentStillDue(
            declined_message(words, declined.bank_message, retry),
            bank_message=declined.bank_message,
            decline_code=declined.decline_code,
        ) from declined
    log.info("tenant %s: paid open invoice %s with %s", tenant.id, invoice.id, card.id)
    _resync(tenant, sub)
    return Settled(paid, words)


def declined_message(card: str, bank_message: str, next_attempt: datetime | None) -> str:
    """``Your bank declined Visa •••• 0341: “Your card was declined.” We try again on 3 Dec
    2026; or use another card.``"""
    bank = bank_message.strip() or "The charge was refused."
    retry = (
        f"We try the card on file again on {format_date(next_attempt)} (UTC)"
        if next_attempt
        else "There is no automatic retry left"
    )
    return f"Your bank declined {card}: “{bank}” {retry}; or pay now with another card."


def _resync(tenant: Tenant, sub: Subscription) -> None:
    sync_subscription(tenant, sub.stripe_subscription_id)
    db.session.commit()
