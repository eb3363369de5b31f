"""Plan changes on a subscription: price swaps with prorations, cancel at period end, and the
invoice preview of a proposed change."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from stripe_sim import billing, invoicing, objects
from stripe_sim.api import simulated_only
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError, card_declined, missing_param
from stripe_sim.invoicing import PAID
from stripe_sim.items import (
    check_prices,
    mode_of,
    new_item,
    period_line,
    product_name,
    quantity_for,
    usage_line,
)
from stripe_sim.objects import Obj, is_metered, unit_amount
from stripe_sim.simtime import add_interval, iso_date, new_id, period_bounds
from stripe_sim.webhooks import changed, emit

BEHAVIOURS = ("create_prorations", "none", "always_invoice")


@dataclass
class Change:
    """One entry of ``items[]``: a new price and/or quantity for ``item``, or a new item."""

    item: Obj
    price: Obj
    quantity: int | None  # None for a metered price
    new: bool

    @property
    def changing(self) -> bool:
        return self.new or self.price["id"] != self.item["price"]["id"] or \
            self.quantity != self.item.get("quantity")


def _changes(sim: Sim, sub: Obj, items: list[Obj], now: int) -> list[Change]:
    """Resolve ``items[]``: entries with ``id`` change that item, others add a new one."""
    by_id = {item["id"]: item for item in sub["items"]["data"]}
    changes: list[Change] = []
    for index, entry in enumerate(items):
        where = f"items[{index}]"
        simulated_only(entry, {"id", "price", "quantity"}, where)
        if "id" in entry:
            item = by_id.get(entry["id"])
            if item is None:
                raise StripeError(f"The subscription item {entry['id']} does not belong to "
                                  f"{sub['id']}.", param=f"{where}[id]")
            price = _recurring_price(sim, entry["price"], f"{where}[price]") \
                if "price" in entry else item["price"]
            quantity = quantity_for(price, entry, where, default=item.get("quantity") or 1)
            changes.append(Change(item, price, quantity, new=False))
            continue
        if "price" not in entry:
            raise missing_param(f"{where}[price]")
        price = _recurring_price(sim, entry["price"], f"{where}[price]")
        quantity = quantity_for(price, entry, where)
        interval, count = _interval(price)
        end = sub["trial_end"] if sub["status"] == "trialing" else period_bounds(
            sub["billing_cycle_anchor"], interval, count, now)[1]
        changes.append(Change(new_item(sub["id"], price, quantity, now, end), price, quantity,
                              new=True))
    replaced = {c.item["id"]: c.price for c in changes if not c.new}
    final = [replaced.get(i["id"], i["price"]) for i in sub["items"]["data"]]
    check_prices(final + [c.price for c in changes if c.new], mode_of(sub), "items")
    return changes


def _recurring_price(sim: Sim, price_id: str, where: str) -> Obj:
    price = sim.store.get(price_id, "price")
    if price is None or price["recurring"] is None:
        raise StripeError(f"No such recurring price: '{price_id}'", status=404,
                          code="resource_missing", param=where)
    if not price["active"]:
        raise StripeError(f"The price {price_id} is not active.", param=where)
    return price


def _proration(sim: Sim, sub: Obj, item_id: str, price: Obj, quantity: int, sign: int,
               label: str, at: int, period: tuple[int, int]) -> Obj:
    """Credit (``sign`` -1) or charge (+1) for the part of ``period`` after ``at``."""
    start, end = period
    fraction = (end - at) / (end - start)
    return invoicing.line(
        amount=sign * round(float(unit_amount(price)) * quantity * fraction),
        currency=price["currency"],
        description=f"{label} {quantity} × {product_name(sim, price)} after {iso_date(at)}",
        period=(at, end), subscription_id=sub["id"], item_id=item_id, quantity=quantity,
        unit_amount=unit_amount(price), proration=True)


def _proration_lines(sim: Sim, sub: Obj, changes: list[Change], at: int,
                     credit_only: bool) -> list[Obj]:
    """Credit for the unused time on old licensed prices and charge for the remaining time on
    new ones (metered prices are billed on usage and never prorated)."""
    lines = []
    for change in changes:
        item = change.item
        if change.new:
            period = period_bounds(sub["billing_cycle_anchor"], *_interval(change.price), at)
        else:
            period = (item["current_period_start"], item["current_period_end"])
        if not period[0] <= at <= period[1]:
            raise StripeError("proration_date must be within the current period.",
                              param="proration_date")
        if not change.new and not is_metered(item["price"]):
            lines.append(_proration(sim, sub, item["id"], item["price"], item["quantity"], -1,
                                    "Unused time on", at, period))
        if change.quantity is not None and not credit_only:
            lines.append(_proration(sim, sub, item["id"], change.price, change.quantity, 1,
                                    "Remaining time on", at, period))
    return lines


def unused_time_credit(sim: Sim, sub: Obj, at: int) -> list[Obj]:
    """``cancel`` with ``prorate``: a credit line for the unused time of each licensed item
    (its final invoice's negative total becomes a credit on the customer's balance)."""
    return [_proration(sim, sub, item["id"], item["price"], item["quantity"], -1,
                       "Unused time on", at,
                       (item["current_period_start"], item["current_period_end"]))
            for item in sub["items"]["data"]
            if not is_metered(item["price"]) and item["current_period_start"] <= at
            < item["current_period_end"]]


def _interval(price: Obj) -> tuple[str, int]:
    return price["recurring"]["interval"], price["recurring"]["interval_count"]


def _apply(sub: Obj, changes: list[Change], now: int, restart: bool) -> None:
    """Put the new prices on the items and add the new items; ``restart`` starts a new cycle
    for every item at ``now``."""
    for change in changes:
        if change.new:
            sub["items"]["data"].append(change.item)
            continue
        change.item.update(price=change.price, plan=objects.plan_of(change.price),
                           quantity=change.quantity)
        if change.quantity is None:
            del change.item["quantity"]
    if restart:
        sub["billing_cycle_anchor"] = now
        for item in sub["items"]["data"]:
            interval, count = _interval(item["price"])
            item["current_period_start"] = now
            item["current_period_end"] = add_interval(now, interval, count)


def plan_change(sim: Sim, sub: Obj, items: list[Obj], behaviour: str, at: int,
                now: int) -> tuple[list[Obj], bool]:
    """Change prices and add items on ``sub`` (in place); returns the invoice lines and
    whether they must be invoiced now (an interval change, or ``always_invoice``).

    An interval change restarts every item's cycle now: unused time on the old prices is
    credited, metered usage so far is billed, and the new periods are charged. During a
    trial nothing is prorated and the trial's period stays."""
    changes = _changes(sim, sub, items, now)
    changing = [c for c in changes if c.changing]
    trialing = sub["status"] == "trialing"
    resets = not trialing and any(not c.new and _interval(c.item["price"]) != _interval(c.price)
                                  for c in changing)
    prorate = behaviour != "none" and not trialing and bool(changing)
    lines = _proration_lines(sim, sub, changing, at, credit_only=resets) if prorate else []
    if resets:
        lines += [usage_line(sim, sub, item, item["current_period_start"], now)
                  for item in sub["items"]["data"] if is_metered(item["price"])]
    _apply(sub, changes, now, resets)
    if resets:
        lines += [period_line(sim, sub, item) for item in sub["items"]["data"]
                  if not is_metered(item["price"])]
    return lines, resets or (behaviour == "always_invoice" and bool(lines))


def update(sim: Sim, sub: Obj, params: Obj, now: int,
           item_metadata: dict[str, str] | None = None) -> Obj:
    """``POST /v1/subscriptions/{id}``: the changes the portal makes, with Stripe's events.
    ``item_metadata`` goes on an item this call adds (``POST /v1/subscription_items``)."""
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
        known = {item["id"] for item in sub["items"]["data"]}
        lines, invoice_now = plan_change(sim, sub, params["items"], behaviour,
                                         params.get("proration_date", now), now)
        for item in sub["items"]["data"]:
            if item["id"] not in known and item_metadata:
                item["metadata"] = dict(item_metadata)
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
