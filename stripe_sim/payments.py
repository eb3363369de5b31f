"""What one charge attempt on an invoice leaves behind, as Stripe records it: the invoice's
PaymentIntent (one per invoice, reused by retries), a Charge per attempt, an InvoicePayment
once paid, the customer's ``delinquent`` flag, and their events.

Events per attempt: ``payment_intent.created`` (first attempt), then ``charge.succeeded`` +
``payment_intent.succeeded`` + ``invoice_payment.paid``, or ``charge.failed`` +
``payment_intent.payment_failed``, or ``payment_intent.requires_action`` (3-D Secure).
"""

from __future__ import annotations

import copy
import secrets

from stripe_sim.context import Sim
from stripe_sim.objects import Obj
from stripe_sim.simtime import new_id
from stripe_sim.webhooks import changed, emit

PAID, FAILED, REQUIRES_ACTION = "paid", "failed", "requires_action"


def record_attempt(sim: Sim, invoice: Obj, pm: Obj | None, outcome: str, now: int) -> None:
    """The objects and events of one attempt to collect ``invoice`` with ``pm``."""
    intent = _intent(sim, invoice, pm, now)
    if outcome == REQUIRES_ACTION:
        intent.update(status="requires_action", payment_method=pm["id"] if pm else None,
                      next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {}})
        sim.store.put(intent)
        emit(sim, "payment_intent.requires_action", intent, now)
        return
    charge = _charge(invoice, intent, pm, outcome, now)
    sim.store.put(charge)
    intent["latest_charge"] = charge["id"]
    intent["payment_method"] = pm["id"] if pm else None
    if outcome == PAID:
        intent.update(status="succeeded", amount_received=invoice["amount_due"],
                      last_payment_error=None, next_action=None)
        sim.store.put(intent)
        emit(sim, "charge.succeeded", charge, now)
        emit(sim, "payment_intent.succeeded", intent, now)
        payment = _invoice_payment(invoice, intent, now)
        sim.store.put(payment)
        emit(sim, "invoice_payment.paid", payment, now)
    else:
        intent.update(status="requires_payment_method", last_payment_error={
            "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
            "message": "Your card was declined.", "charge": charge["id"],
            "doc_url": "https://docs.stripe.com/error-codes/card-declined"})
        sim.store.put(intent)
        emit(sim, "charge.failed", charge, now)
        emit(sim, "payment_intent.payment_failed", intent, now)


def set_delinquent(sim: Sim, customer: Obj, delinquent: bool, now: int) -> None:
    """An automatic payment failure makes the customer delinquent; a paid invoice clears it
    (``customer.updated`` when it changes)."""
    if customer["delinquent"] == delinquent:
        return
    before = copy.deepcopy(customer)
    customer["delinquent"] = delinquent
    sim.store.put(customer)
    emit(sim, "customer.updated", customer, now, changed(before, customer))


def _intent(sim: Sim, invoice: Obj, pm: Obj | None, now: int) -> Obj:
    existing = sim.store.get(invoice.get("_payment_intent") or "", "payment_intent")
    if existing is not None:
        return existing
    intent_id = new_id("pi")
    intent = {
        "id": intent_id, "object": "payment_intent", "amount": invoice["amount_due"],
        "amount_capturable": 0, "amount_details": {"tip": {}}, "amount_received": 0,
        "application": None, "application_fee_amount": None, "automatic_payment_methods": None,
        "canceled_at": None, "cancellation_reason": None, "capture_method": "automatic",
        "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(18)}",
        "confirmation_method": "automatic", "created": now, "currency": invoice["currency"],
        "customer": invoice["customer"], "description": "Subscription update",
        "last_payment_error": None, "latest_charge": None, "livemode": False,
        "metadata": {}, "next_action": None, "on_behalf_of": None,
        "payment_method": pm["id"] if pm else None, "payment_method_options": None,
        "payment_method_types": ["card"], "processing": None, "receipt_email": None,
        "review": None, "setup_future_usage": "off_session", "shipping": None,
        "source": None, "statement_descriptor": None, "statement_descriptor_suffix": None,
        "status": "requires_confirmation", "transfer_data": None, "transfer_group": None,
    }
    sim.store.put(intent)
    invoice["_payment_intent"] = intent_id
    emit(sim, "payment_intent.created", intent, now)
    return intent


def _charge(invoice: Obj, intent: Obj, pm: Obj | None, outcome: str, now: int) -> Obj:
    paid = outcome == PAID
    card = pm["card"] if pm else None
    return {
        "id": new_id("ch"), "object": "charge", "amount": invoice["amount_due"],
        "amount_captured": invoice["amount_due"] if paid else 0, "amount_refunded": 0,
        "application": None, "application_fee": None, "application_fee_amount": None,
        "balance_transaction": new_id("txn") if paid else None,
        "billing_details": pm["billing_details"] if pm else {
            "address": None, "email": None, "name": None, "phone": None, "tax_id": None},
        "calculated_statement_descriptor": "CONTINUUM", "captured": paid, "created": now,
        "currency": invoice["currency"], "customer": invoice["customer"],
        "description": "Subscription update", "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if paid else "card_declined",
        "failure_message": None if paid else "Your card was declined.",
        "fraud_details": {}, "livemode": False, "metadata": {}, "on_behalf_of": None,
        "outcome": {
            "network_status": "approved_by_network" if paid else "declined_by_network",
            "reason": None if paid else "generic_decline", "risk_level": "normal",
            "seller_message": "Payment complete." if paid else "The bank did not return any "
            "further details with this decline.",
            "type": "authorized" if paid else "issuer_declined"},
        "paid": paid, "payment_intent": intent["id"],
        "payment_method": pm["id"] if pm else None,
        "payment_method_details": None if card is None else {"type": "card", "card": {
            "brand": card["brand"], "country": card["country"],
            "exp_month": card["exp_month"], "exp_year": card["exp_year"],
            "fingerprint": card["fingerprint"], "funding": card["funding"],
            "last4": card["last4"], "network": card["brand"]}},
        "receipt_email": None, "receipt_number": None, "receipt_url": None, "refunded": False,
        "review": None, "shipping": None, "source": None, "source_transfer": None,
        "statement_descriptor": None, "statement_descriptor_suffix": None,
        "status": "succeeded" if paid else "failed", "transfer_data": None,
        "transfer_group": None,
    }


def _invoice_payment(invoice: Obj, intent: Obj, now: int) -> Obj:
    return {
        "id": new_id("inpay"), "object": "invoice_payment",
        "amount_paid": invoice["amount_due"], "amount_requested": invoice["amount_due"],
        "created": now, "currency": invoice["currency"], "invoice": invoice["id"],
        "is_default": True, "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
        "status": "paid", "status_transitions": {"canceled_at": None, "paid_at": now},
    }
