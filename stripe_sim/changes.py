"""Plan changes on a subscription: price swaps with prorations, cancel at period end, and the
invoice preview of a proposed change."""

from __future__ import annotations

import copy

from stripe_sim import billing, invoicing, objects
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError, card_declined
from stripe_sim.invoicing import PAID
from stripe_sim.objects import Obj
from stripe_sim.simtime import add_interval, iso_date, new_id
from stripe_sim.webhooks import changed, emit

BEHAVIOURS = ("create_prorations", "none", "always_invoice")


def _swaps(sim: Sim, sub: Obj, items: list[Obj]) -> list[tuple[Obj, Obj, int]]:
    """Resolve ``items[]`` to (existing item, new price, quantity) triples."""
    by_id = {item["id"]: item for item in sub["items"]["data"]}
    swaps = []
    for index, change in enumerate(items):
        unsupported = set(change) - {"id", "price", "quantity"}
        if unsupported or "id" not in change:
            raise StripeError("The Stripe simulator changes existing items only: send "
                              "items[][id] with price and/or quantity.", param=f"items[{index}]")
        item = by_id.get(change["id"])
        if item is None:
            raise StripeError(f"The subscription item {change['id']} does not belong to "
                              f"{sub['id']}.", param=f"items[{index}][id]")
        price = item["price"]
        if "price" in change:
            price = sim.store.get(change["price"], "price")
            if price is None or price["recurring"] is None:
                raise StripeError(f"No such recurring price: '{change['price']}'", status=404,
                                  code="resource_missing", param=f"items[{index}][price]")
        swaps.append((item, price, change.get("quantity", item["quantity"])))
    return swaps


def _proration_lines(sim: Sim, sub: Obj, swaps: list[tuple[Obj, Obj, int]], at: int,
                     credit_only: bool) -> list[Obj]:
    """Credit for the unused old price and charge for the remaining time on the new one."""
    lines = []
    for item, price, quantity in swaps:
        start, end = item["current_period_start"], item["current_period_end"]
        if not start <= at <= end:
            raise StripeError("proration_date must be within the current period.",
                              param="proration_date")
        fraction = (end - at) / (end - start)
        old = item["price"]
        entries = [(old, item["quantity"], -1, "Unused time on")]
        if not credit_only:
            entries.append((price, quantity, 1, "Remaining time on"))
        for entry_price, entry_quantity, sign, label in entries:
            name = billing.product_name(sim, entry_price)
            lines.append(invoicing.line(
                amount=sign * round(entry_price["unit_amount"] * entry_quantity * fraction),
                currency=entry_price["currency"],
                description=f"{label} {entry_quantity} × {name} after {iso_date(at)}",
                period=(at, end), subscription_id=sub["id"], item_id=item["id"],
                quantity=entry_quantity, unit_amount=entry_price["unit_amount"],
                proration=True))
    return lines


def _interval(price: Obj) -> tuple[str, int]:
    return price["recurring"]["interval"], price["recurring"]["interval_count"]


def _apply_swaps(sub: Obj, swaps: list[tuple[Obj, Obj, int]], restart_at: int | None) -> None:
    """Put the new prices on the items; ``restart_at`` starts a new cycle there."""
    for item, price, quantity in swaps:
        item.update(price=price, plan=objects.plan_of(price), quantity=quantity)
    if restart_at is not None:
        sub["billing_cycle_anchor"] = restart_at
        for item in sub["items"]["data"]:
            interval, count = _interval(item["price"])
            item["current_period_start"] = restart_at
            item["current_period_end"] = add_interval(restart_at, interval, count)


def plan_change(sim: Sim, sub: Obj, items: list[Obj], behaviour: str, at: int,
                now: int) -> tuple[list[Obj], bool]:
    """Swap prices on ``sub`` (in place); returns the proration lines and whether the change
    must be invoiced now (an interval change, or ``always_invoice``).

    During a trial nothing is prorated and the trial's period stays."""
    swaps = _swaps(sim, sub, items)
    changing = [s for s in swaps if s[1]["id"] != s[0]["price"]["id"] or s[2] != s[0]["quantity"]]
    trialing = sub["status"] == "trialing"
    resets = not trialing and any(_interval(s[0]["price"]) != _interval(s[1]) for s in changing)
    prorate = behaviour != "none" and not trialing and bool(changing)
    lines = _proration_lines(sim, sub, changing, at, credit_only=resets) if prorate else []
    _apply_swaps(sub, swaps, now if resets else None)
    if resets:
        lines += [billing.period_line(sim, sub, item) for item in sub["items"]["data"]]
    return lines, resets or (behaviour == "always_invoice" and bool(lines))


def update(sim: Sim, sub: Obj, params: Obj, now: int) -> Obj:
    """``POST /v1/subscriptions/{id}``: the changes the portal makes, with Stripe's events."""
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise StripeError("A canceled subscription can only update its metadata.")
    behaviour = params.get("proration_behavior", "create_prorations")
    if behaviour not in BEHAVIOURS:
        raise StripeError(f"Invalid proration_behavior: must be one of {', '.join(BEHAVIOURS)}",
                          param="proration_behavior")
    payment_behavior = params.get("payment_behavior", "allow_incomplete")
    if payment_behavior not in ("allow_incomplete", "error_if_incomplete"):
        raise StripeError("The Stripe simulator supports payment_behavior allow_incomplete and "
                          "error_if_incomplete.", param="payment_behavior")
    customer = sim.store.fetch(sub["customer"], "customer")
    before = copy.deepcopy(sub)
    lines: list[Obj] = []
    invoice_now = False
    if "items" in params:
        lines, invoice_now = plan_change(sim, sub, params["items"], behaviour,
                                         params.get("proration_date", now), now)
    if "cancel_at_period_end" in params:
        flag = params["cancel_at_period_end"]
        period_end = min(i["current_period_end"] for i in sub["items"]["data"])
        sub.update(cancel_at_period_end=flag, cancel_at=period_end if flag else None,
                   canceled_at=now if flag else None)
    if "metadata" in params:
        sub["metadata"] = objects.merge_metadata(sub["metadata"], params["metadata"])
    if "default_payment_method" in params:
        pm_id = params["default_payment_method"] or None
        pm = pm_id and sim.store.get(pm_id, "payment_method")
        if pm_id and (not pm or pm["customer"] != sub["customer"]):
            raise StripeError(f"The customer does not have a payment method with the ID "
                              f"{pm_id}.", param="default_payment_method")
        sub["default_payment_method"] = pm_id
    sim.store.put(sub)
    previous = changed(before, sub)
    if previous:
        emit(sim, "customer.subscription.updated", sub, now, previous)
    if invoice_now:
        invoice = invoicing.create_and_finalize(sim, customer, sub, lines,
                                                "subscription_update", now)
        sub["latest_invoice"] = invoice["id"]
        sim.store.put(sub)
        outcome = billing.collect(sim, sub, invoice, customer, now)
        if outcome != PAID and payment_behavior == "error_if_incomplete":
            raise card_declined(rollback=True)
    elif lines:
        for entry in lines:
            details = entry["parent"]["subscription_item_details"]
            invoice_item = _pending_item(sub, customer, entry, now)
            details["invoice_item"] = invoice_item["id"]
            sim.store.put(invoice_item)
    return sub


def _pending_item(sub: Obj, customer: Obj, entry: Obj, now: int) -> Obj:
    """A proration waiting for the next invoice (Stripe's pending invoice item)."""
    return {
        "id": new_id("ii"), "object": "invoiceitem", "amount": entry["amount"],
        "currency": entry["currency"], "customer": customer["id"], "date": now,
        "description": entry["description"], "discountable": False, "discounts": [],
        "invoice": None, "livemode": False, "metadata": {}, "period": entry["period"],
        "proration": True, "quantity": entry["quantity"], "tax_rates": [],
        "test_clock": customer["test_clock"],
        "parent": {"subscription_details": {"subscription": sub["id"]},
                   "type": "subscription_details"},
        "pricing": entry["pricing"], "net_amount": entry["amount"], "customer_account": None,
        "_subscription": sub["id"], "_line": entry,
    }


def preview(sim: Sim, sub: Obj, details: Obj, now: int) -> Obj:
    """The invoice a proposed change would produce: the immediate one when the change is
    invoiced at once, else the next renewal with its prorations."""
    proposal = copy.deepcopy(sub)
    customer = sim.store.fetch(sub["customer"], "customer")
    behaviour = details.get("proration_behavior", "create_prorations")
    at = details.get("proration_date", now)
    lines: list[Obj] = []
    invoice_now = False
    if "items" in details:
        lines, invoice_now = plan_change(sim, proposal, details["items"], behaviour, at, now)
    if invoice_now:
        return invoicing.build(customer, proposal, lines, "subscription_update", now,
                               f"upcoming_{new_id('in')}")
    pending = [e["_line"] for e in sim.store.all("invoiceitem", _subscription=sub["id"],
                                                   invoice=None)]
    renewal = []
    for item in proposal["items"]["data"]:
        recurring = item["price"]["recurring"]
        start = item["current_period_end"]
        item.update(current_period_start=start, current_period_end=add_interval(
            start, recurring["interval"], recurring["interval_count"]))
        renewal.append(billing.period_line(sim, proposal, item))
    if details.get("cancel_at_period_end") or (
            sub["cancel_at_period_end"] and "cancel_at_period_end" not in details):
        renewal = []
    invoice = invoicing.build(customer, proposal, list(reversed(pending)) + lines + renewal,
                              "upcoming", now, f"upcoming_{new_id('in')}")
    invoice["next_payment_attempt"] = min(i["current_period_end"]
                                          for i in sub["items"]["data"])
    return invoice
