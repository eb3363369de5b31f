"""Invoices: build, finalize and charge them, with Stripe's invoice events."""

from __future__ import annotations

import copy
from decimal import Decimal

from stripe_sim import payments
from stripe_sim.cards import CHARGE_FAILS, DECLINES, REQUIRES_ACTION
from stripe_sim.context import Sim
from stripe_sim.objects import Obj, decimal_string
from stripe_sim.simtime import DAY, new_id
from stripe_sim.webhooks import changed, emit

PAID, FAILED, REQUIRES_ACTION_OUTCOME = "paid", "failed", "requires_action"
# Invoices that Smart Retries retries; a subscription's first invoice instead waits 23 hours.
RETRIED = ("subscription_cycle", "subscription_update")
# Stripe's minimum charge amounts in the smallest unit (docs: currencies#minimum-and-maximum-
# charge-amounts); below them an invoice is marked paid and its amount carried to the balance.
MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50,
                  "jpy": 50, "sek": 300, "nok": 300, "dkk": 250}


def line(*, amount: int, currency: str, description: str, period: tuple[int, int],
         subscription_id: str | None, item_id: str | None, quantity: int,
         unit_amount: Decimal | int,
         proration: bool = False, invoice_item: str | None = None) -> Obj:
    """An invoice line for a subscription item (a period charge or a proration)."""
    return {
        "id": new_id("il"), "object": "line_item", "amount": amount, "currency": currency,
        "description": description, "discount_amounts": [], "discountable": True,
        "discounts": [], "invoice": None, "livemode": False, "metadata": {},
        "period": {"start": period[0], "end": period[1]}, "quantity": quantity,
        "subscription": subscription_id, "pretax_credit_amounts": [], "taxes": [],
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": invoice_item, "proration": proration,
                "proration_details": {"credited_items": None}, "subscription": subscription_id,
                "subscription_item": item_id,
            },
            "type": "subscription_item_details",
        },
        "pricing": {"type": "price_details",
                    "unit_amount_decimal": decimal_string(Decimal(unit_amount))},
        "subtotal": amount,
    }


def build(customer: Obj, subscription: Obj | None, lines: list[Obj],
          billing_reason: str, created: int, invoice_id: str | None = None) -> Obj:
    """A draft invoice (not stored): totals from the lines, period from the subscription lines."""
    invoice_id = invoice_id or new_id("in")
    for entry in lines:
        entry["invoice"] = invoice_id
    total = sum(entry["amount"] for entry in lines)
    starting = customer.get("balance") or 0
    due = max(total + starting, 0)
    starts = [e["period"]["start"] for e in lines if not _is_proration(e)] or [created]
    ends = [e["period"]["end"] for e in lines if not _is_proration(e)] or [created]
    return {
        "id": invoice_id, "object": "invoice", "account_country": "US",
        "account_name": "CONTINUUM (Stripe simulator)", "account_tax_ids": None,
        "amount_due": due, "amount_paid": 0, "amount_remaining": due,
        "amount_shipping": 0, "application": None, "attempt_count": 0, "attempted": False,
        "auto_advance": True,
        "automatic_tax": {"enabled": False, "liability": None, "status": None,
                          "disabled_reason": None, "provider": None},
        "billing_reason": billing_reason, "collection_method": "charge_automatically",
        "created": created, "currency": lines[0]["currency"] if lines else "usd",
        "custom_fields": None, "customer": customer["id"], "customer_address": None,
        "customer_email": customer["email"], "customer_name": customer["name"],
        "customer_phone": None, "customer_shipping": None, "customer_tax_exempt": "none",
        "customer_tax_ids": [], "default_payment_method": None, "default_source": None,
        "default_tax_rates": [], "description": None, "discounts": [], "due_date": None,
        "effective_at": None, "ending_balance": None, "footer": None, "from_invoice": None,
        "hosted_invoice_url": None, "invoice_pdf": None, "issuer": {"type": "self"},
        "last_finalization_error": None, "latest_revision": None,
        "lines": {"object": "list", "data": lines, "has_more": False,
                  "url": f"/v1/invoices/{invoice_id}/lines"},
        "livemode": False, "metadata": {}, "next_payment_attempt": None, "number": None,
        "on_behalf_of": None,
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        "period_end": max(ends),
        "period_start": min(starts),
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
        "receipt_number": None, "rendering": None, "shipping_cost": None,
        "shipping_details": None, "starting_balance": starting, "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                               "paid_at": None, "voided_at": None},
        "subtotal": total, "subtotal_excluding_tax": total,
        "test_clock": customer["test_clock"], "total": total, "total_discount_amounts": [],
        "total_excluding_tax": total, "webhooks_delivered_at": None,
        "automatically_finalizes_at": None, "total_pretax_credit_amounts": [],
        "total_taxes": [], "amount_overpaid": 0, "customer_account": None,
        "parent": None if subscription is None else {
            "quote_details": None,
            "subscription_details": {"metadata": subscription["metadata"],
                                     "subscription": subscription["id"]},
            "type": "subscription_details",
        },
    }


def _is_proration(entry: Obj) -> bool:
    details = entry["parent"]["subscription_item_details"]
    return bool(details and details["proration"])


def create_and_finalize(sim: Sim, customer: Obj, subscription: Obj | None, lines: list[Obj],
                        billing_reason: str, now: int) -> Obj:
    """Store a new invoice and finalize it (``invoice.created``, ``invoice.finalized``)."""
    invoice = create_draft(sim, customer, subscription, lines, billing_reason, now)
    return finalize(sim, invoice, customer, now)


def create_draft(sim: Sim, customer: Obj, subscription: Obj | None, lines: list[Obj],
                 billing_reason: str, now: int, finalizes_at: int | None = None) -> Obj:
    """Store a new draft invoice (``invoice.created``); ``finalizes_at`` is when Stripe's
    automatic finalization picks it up (renewals: an hour after the draft is made)."""
    invoice = build(customer, subscription, lines, billing_reason, now)
    invoice["automatically_finalizes_at"] = finalizes_at
    sim.store.put(invoice)
    emit(sim, "invoice.created", invoice, now)
    return invoice


def finalize(sim: Sim, invoice: Obj, customer: Obj, now: int) -> Obj:
    """Finalize a draft: apply the balance, number it, open it (``invoice.finalized``)."""
    _settle_balance(sim, customer, invoice, now)
    sequence = customer["next_invoice_sequence"]
    customer["next_invoice_sequence"] = sequence + 1
    sim.store.put(customer)
    invoice.update(
        status="open", number=f"{customer['invoice_prefix']}-{sequence:04d}", effective_at=now,
        automatically_finalizes_at=None,
        hosted_invoice_url=sim.url(f"/invoice/{invoice['id']}"),
        invoice_pdf=sim.url(f"/invoice/{invoice['id']}/pdf"),
        status_transitions=dict(invoice["status_transitions"], finalized_at=now),
    )
    sim.store.put(invoice)
    emit(sim, "invoice.finalized", invoice, now)
    return invoice


def _settle_balance(sim: Sim, customer: Obj, invoice: Obj, now: int) -> None:
    """Apply the customer's invoice balance at finalization, as Stripe does: a credit left
    over stays on the balance, and an amount due below the currency's minimum charge is not
    charged: the invoice is marked paid and the amount moves to the balance as a debit, for
    the next invoice."""
    remaining = invoice["total"] + invoice["starting_balance"]
    if remaining >= 0:
        ending = remaining if remaining < MINIMUM_CHARGE.get(invoice["currency"], 50) else 0
        invoice.update(amount_due=remaining - ending, amount_remaining=remaining - ending)
    else:
        ending = remaining
    invoice["ending_balance"] = ending
    if ending != customer["balance"]:
        before = copy.deepcopy(customer)
        customer["balance"] = ending
        sim.store.put(customer)
        emit(sim, "customer.updated", customer, now, changed(before, customer))


def charge(sim: Sim, invoice: Obj, pm: Obj | None, now: int, *,
           authenticated: bool = False) -> str:
    """Try to collect an open invoice with ``pm``; returns ``paid``, ``failed`` or
    ``requires_action`` and emits the matching invoice events.

    ``authenticated`` marks an on-session payment whose 3-D Secure step the payer completed.
    """
    before = copy.deepcopy(invoice)
    customer = sim.store.fetch(invoice["customer"], "customer")
    if invoice["amount_due"] > 0:
        invoice["attempted"] = True
        invoice["attempt_count"] += 1
        outcome = _outcome(pm, authenticated)
        payments.record_attempt(sim, invoice, pm, outcome, now)
    else:
        outcome = PAID
    if outcome == PAID:
        payments.set_delinquent(sim, customer, False, now)
        invoice.update(
            status="paid", amount_paid=invoice["amount_due"], amount_remaining=0,
            next_payment_attempt=None,
            status_transitions=dict(invoice["status_transitions"], paid_at=now),
        )
        sim.store.put(invoice)
        emit(sim, "invoice.paid", invoice, now)
        emit(sim, "invoice.payment_succeeded", invoice, now)
        return PAID
    invoice.setdefault("_first_failed_at", now)
    retry_days = sim.setting("dunning_retry_days")
    failures = invoice["attempt_count"]
    invoice["next_payment_attempt"] = (
        invoice["_first_failed_at"] + retry_days[failures - 1] * DAY
        if invoice["billing_reason"] in RETRIED and failures <= len(retry_days) else None
    )
    sim.store.put(invoice)
    emit(sim, "invoice.updated", invoice, now, changed(before, invoice))
    if outcome != REQUIRES_ACTION_OUTCOME:
        payments.set_delinquent(sim, customer, True, now)
    if outcome == REQUIRES_ACTION_OUTCOME:
        emit(sim, "invoice.payment_action_required", invoice, now)
    else:
        emit(sim, "invoice.payment_failed", invoice, now)
    return outcome


def _outcome(pm: Obj | None, authenticated: bool) -> str:
    if pm is None:
        return FAILED
    behaviour = pm["_behaviour"]
    if behaviour in (DECLINES, CHARGE_FAILS):
        return FAILED
    if behaviour == REQUIRES_ACTION and not authenticated:
        return REQUIRES_ACTION_OUTCOME
    return PAID


def payment_method_for(sim: Sim, invoice: Obj, subscription: Obj | None,
                       customer: Obj) -> Obj | None:
    """Stripe's order: the invoice's, then the subscription's, then the customer's default."""
    for pm_id in (invoice["default_payment_method"],
                  subscription["default_payment_method"] if subscription else None,
                  customer["invoice_settings"]["default_payment_method"]):
        if pm_id:
            pm = sim.store.get(pm_id, "payment_method")
            if pm is not None and pm["customer"] == customer["id"]:
                return pm
    return None
