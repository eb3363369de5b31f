"""Checkout Sessions: build them, and complete them when the hosted page is paid."""

from __future__ import annotations

import copy

from stripe_sim import billing, customers, items, metering, objects
from stripe_sim.context import Sim
from stripe_sim.objects import Obj, unit_amount
from stripe_sim.simtime import DAY, customer_time, new_id
from stripe_sim.webhooks import changed, emit


def build_session(sim: Sim, params: Obj, customer: Obj | None,
                  prices: list[tuple[Obj, int | None]], now: int) -> Obj:
    """An open session; its amounts count the licensed items (metered usage is billed later,
    in arrears)."""
    session_id = new_id("cs_test", 58)
    amount = sum(metering.amount(unit_amount(price), quantity)
                 for price, quantity in prices if quantity is not None)
    trial_days = params.get("subscription_data", {}).get("trial_period_days")
    return {
        "id": session_id, "object": "checkout.session", "after_expiration": None,
        "allow_promotion_codes": params.get("allow_promotion_codes"),
        "amount_subtotal": amount if prices else None,
        "amount_total": (0 if trial_days else amount) if prices else None,
        "automatic_tax": {"enabled": False, "liability": None, "status": None, "provider": None},
        "billing_address_collection": None, "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"), "client_secret": None,
        "consent": None, "consent_collection": None, "created": now,
        "currency": prices[0][0]["currency"] if prices else params.get("currency"),
        "custom_fields": [],
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer": customer["id"] if customer else None,
        "customer_creation": None if customer else "always",
        "customer_details": None, "customer_email": params.get("customer_email"),
        "expires_at": now + DAY, "invoice": None, "invoice_creation": None,
        "livemode": False, "locale": None, "metadata": params.get("metadata") or {},
        "mode": params["mode"], "payment_intent": None, "payment_link": None,
        "payment_method_collection": "always", "payment_method_configuration_details": None,
        "payment_method_options": None, "payment_method_types": ["card"],
        "payment_status": "unpaid", "phone_number_collection": {"enabled": False},
        "recovered_from": None, "saved_payment_method_options": None, "setup_intent": None,
        "shipping_address_collection": None, "shipping_cost": None, "shipping_options": [],
        "status": "open", "submit_type": None, "subscription": None,
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted_page", "url": sim.url(f"/checkout/{session_id}"),
        "customer_account": None,
        "_line_items": [{"price": price["id"], "quantity": quantity} for price, quantity in prices],
        "_subscription_data": params.get("subscription_data", {}),
    }


def expire(sim: Sim, session: Obj) -> Obj:
    before = copy.deepcopy(session)
    session.update(status="expired", url=None)
    sim.store.put(session)
    emit(sim, "checkout.session.expired", session,
         customer_time(sim.store, session["customer"]), changed(before, session))
    return session


def expire_if_due(sim: Sim, session: Obj) -> Obj:
    """Sessions expire 24 hours after creation, like Stripe's default."""
    if session["status"] == "open" and customer_time(sim.store, session["customer"]) >= \
            session["expires_at"]:
        return expire(sim, session)
    return session


def complete(sim: Sim, session: Obj, card: Obj, name: str, email: str | None, *,
             authenticated: bool = False) -> Obj:
    """The payer's card was accepted: create what Stripe creates, then complete the session."""
    now = customer_time(sim.store, session["customer"])
    customer = sim.store.get(session["customer"], "customer") if session["customer"] else None
    if customer is None:
        customer = customers.create_customer(
            sim, now, email=email or session["customer_email"], name=name or None)
    now = customer_time(sim.store, customer)
    pm = customers.new_payment_method(sim, now, card, name or None,
                                      customer["email"] or email)
    # Real Checkout attaches the card (and pins it on a new subscription) but never makes it
    # the customer's default: the integration does that itself.
    customers.attach(sim, pm, customer)
    if session["mode"] == "subscription":
        prices = [(sim.store.fetch(li["price"], "price"), li.get("quantity"))
                  for li in session["_line_items"]]
        data = session["_subscription_data"]
        sub = billing.start_subscription(
            sim, customer, prices, pm["id"], now, trial_days=data.get("trial_period_days"),
            metadata=data.get("metadata"), authenticated=authenticated,
            mode=items.billing_mode(data.get("billing_mode"), now))
        session.update(subscription=sub["id"], invoice=sub["latest_invoice"],
                       payment_status="no_payment_required" if sub["trial_end"] else "paid")
    else:
        intent = sim.store.put(objects.setup_intent(now, customer["id"], pm["id"]))
        emit(sim, "setup_intent.created", intent, now)
        emit(sim, "setup_intent.succeeded", intent, now)
        session.update(setup_intent=intent["id"], payment_status="no_payment_required")
    session.update(
        status="complete", customer=customer["id"], url=None,
        customer_details={"address": None, "email": customer["email"],
                          "name": pm["billing_details"]["name"], "phone": None,
                          "tax_exempt": "none", "tax_ids": []},
    )
    sim.store.put(session)
    emit(sim, "checkout.session.completed", session, now)
    return session


def success_redirect(session: Obj) -> str:
    return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
