"""Customer and payment-method state changes, each emitting Stripe's events."""

from __future__ import annotations

import copy
from typing import Any

from stripe_sim import objects
from stripe_sim.cards import DECLINES
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError, card_declined
from stripe_sim.simtime import customer_time
from stripe_sim.webhooks import changed, emit


def create_customer(sim: Sim, created: int, **fields: Any) -> dict[str, Any]:
    customer = sim.store.put(objects.customer(created, **fields))
    emit(sim, "customer.created", customer, created)
    return customer


def update_customer(sim: Sim, customer: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Apply top-level field changes and emit ``customer.updated`` when anything changed."""
    before = copy.deepcopy(customer)
    customer.update(changes)
    previous = changed(before, customer)
    sim.store.put(customer)
    if previous:
        emit(sim, "customer.updated", customer, customer_time(sim.store, customer), previous)
    return customer


def set_default_payment_method(sim: Sim, customer: dict[str, Any], pm_id: str | None) -> None:
    if pm_id is not None:
        pm = sim.store.get(pm_id, "payment_method")
        if pm is None or pm["customer"] != customer["id"]:
            raise StripeError(
                f"The customer does not have a payment method with the ID {pm_id}. The payment "
                "method must be attached to the customer.",
                param="invoice_settings[default_payment_method]")
    settings = dict(customer["invoice_settings"], default_payment_method=pm_id)
    update_customer(sim, customer, {"invoice_settings": settings})


def attach(sim: Sim, pm: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    if pm["customer"] == customer["id"]:
        return pm
    if pm["customer"] is not None or pm.get("_detached"):
        raise StripeError(
            "This PaymentMethod was previously used without being attached to a Customer or was "
            "detached from a Customer, and may not be used again.", param="payment_method")
    if pm["_behaviour"] == DECLINES:
        raise card_declined(rollback=True)
    pm["customer"] = customer["id"]
    sim.store.put(pm)
    emit(sim, "payment_method.attached", pm, customer_time(sim.store, customer))
    return pm


def detach(sim: Sim, pm: dict[str, Any]) -> dict[str, Any]:
    """Detach a card; a customer or subscription default that named it is cleared."""
    customer_id = pm["customer"]
    if customer_id is None:
        raise StripeError(f"The payment method {pm['id']} is not attached to a customer.",
                          param="payment_method")
    customer = sim.store.get(customer_id, "customer")
    now = customer_time(sim.store, customer)
    if customer and customer["invoice_settings"]["default_payment_method"] == pm["id"]:
        set_default_payment_method(sim, customer, None)
    for sub in sim.store.all("subscription", customer=customer_id, default_payment_method=pm["id"]):
        before = copy.deepcopy(sub)
        sub["default_payment_method"] = None
        sim.store.put(sub)
        emit(sim, "customer.subscription.updated", sub, now, changed(before, sub))
    before = copy.deepcopy(pm)
    pm["customer"], pm["_detached"] = None, True
    sim.store.put(pm)
    emit(sim, "payment_method.detached", pm, now, {"customer": before["customer"]})
    return pm


def new_payment_method(sim: Sim, created: int, card: dict[str, Any], name: str | None = None,
                       email: str | None = None) -> dict[str, Any]:
    return sim.store.put(objects.payment_method(created, card, name, email))
