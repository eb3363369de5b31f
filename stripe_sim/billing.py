"""Subscription lifecycle: start, renew, collect, dun and cancel, with Stripe's events."""

from __future__ import annotations

import copy

from stripe_sim import invoicing, objects
from stripe_sim.context import Sim
from stripe_sim.invoicing import PAID
from stripe_sim.items import billing_mode, new_item, period_line, product_name, usage_line
from stripe_sim.objects import Obj, is_metered
from stripe_sim.simtime import DAY, add_interval, customer_time, new_id, next_period_end
from stripe_sim.webhooks import changed, emit

#: How long a renewal invoice stays a draft before it is finalized and charged.
RENEWAL_DRAFT_SECONDS = 3600


def start_subscription(sim: Sim, customer: Obj, prices: list[tuple[Obj, int | None]],
                       pm_id: str | None, now: int, *, trial_days: int | None = None,
                       metadata: dict[str, str] | None = None, mode: Obj | None = None,
                       authenticated: bool = False, charge: bool = True) -> Obj:
    """Create a subscription and its first invoice, then charge it (unless ``charge`` is off,
    Stripe's ``default_incomplete``). Paid starts go incomplete → active, as in Stripe.

    The first invoice bills the licensed items for their first period; metered items are
    billed in arrears when their period ends."""
    sub_id = new_id("sub")
    trial_end = now + trial_days * DAY if trial_days else None
    items = []
    for price, quantity in prices:
        recurring = price["recurring"]
        end = trial_end or add_interval(now, recurring["interval"], recurring["interval_count"])
        items.append(new_item(sub_id, price, quantity, now, end))
    sub = {
        "id": sub_id, "object": "subscription", "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
        "billing_cycle_anchor": trial_end or now, "billing_cycle_anchor_config": None,
        "billing_mode": mode or billing_mode(None, now), "billing_schedules": [],
        "cancel_at": None, "canceled_at": None, "cancel_at_period_end": False,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically", "created": now,
        "currency": prices[0][0]["currency"], "customer": customer["id"],
        "days_until_due": None, "default_payment_method": pm_id, "default_source": None,
        "default_tax_rates": [], "description": None, "discounts": [], "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": objects.list_object(items, f"/v1/subscription_items?subscription={sub_id}"),
        "latest_invoice": None, "livemode": False, "metadata": metadata or {},
        "next_pending_invoice_item_invoice": None, "on_behalf_of": None,
        "pause_collection": None, "pending_invoice_item_interval": None,
        "pending_setup_intent": None, "pending_update": None, "schedule": None,
        "start_date": now, "status": "trialing" if trial_end else "incomplete",
        "test_clock": customer["test_clock"], "transfer_data": None, "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": now if trial_end else None,
    }
    if trial_end and trial_end - 3 * DAY <= now:
        sub["_trial_will_end_sent"] = True
    sim.store.put(sub)
    emit(sim, "customer.subscription.created", sub, now)
    if sub.get("_trial_will_end_sent"):
        emit(sim, "customer.subscription.trial_will_end", sub, now)
    licensed = [item for item in items if not is_metered(item["price"])]
    if trial_end:
        lines = [invoicing.line(
            amount=0, currency=item["price"]["currency"],
            description=f"Trial period for {product_name(sim, item['price'])}",
            period=(now, trial_end), subscription_id=sub_id, item_id=item["id"],
            quantity=item["quantity"], unit_amount=0) for item in licensed]
    else:
        lines = [period_line(sim, sub, item) for item in licensed]
    invoice = invoicing.create_and_finalize(sim, customer, sub, lines, "subscription_create", now)
    sub["latest_invoice"] = invoice["id"]
    sim.store.put(sub)
    if charge:
        pm = sim.store.get(pm_id, "payment_method") if pm_id else None
        collect(sim, sub, invoice, customer, now, pm, authenticated=authenticated)
    return sub


def collect(sim: Sim, sub: Obj | None, invoice: Obj, customer: Obj, now: int,
            pm: Obj | None = None, *, authenticated: bool = False) -> str:
    """Charge an open invoice and move its subscription's status the way Stripe does."""
    pm = pm or invoicing.payment_method_for(sim, invoice, sub, customer)
    outcome = invoicing.charge(sim, invoice, pm, now, authenticated=authenticated)
    if sub is None:
        return outcome
    if outcome == PAID:
        still_open = [i for i in sim.store.all("invoice", status="open")
                      if (i.get("parent") or {}).get("subscription_details", {})
                      .get("subscription") == sub["id"]]
        if sub["status"] in ("past_due", "unpaid", "incomplete") and not still_open:
            set_status(sim, sub, "active", now)
    elif sub["status"] in ("active", "trialing"):
        set_status(sim, sub, "past_due", now)
    if outcome != PAID and invoice["next_payment_attempt"] is None and sub["status"] == "past_due":
        finish_dunning(sim, sub, now)
    return outcome


def expire_incomplete(sim: Sim, sub: Obj, now: int) -> None:
    """The first invoice stayed unpaid for 23 hours: Stripe voids it and ends the start."""
    invoice = sim.store.get(sub["latest_invoice"], "invoice")
    if invoice is not None and invoice["status"] == "open":
        invoice.update(status="void", next_payment_attempt=None,
                       status_transitions=dict(invoice["status_transitions"], voided_at=now))
        sim.store.put(invoice)
        emit(sim, "invoice.voided", invoice, now)
    sub["ended_at"] = now
    set_status(sim, sub, "incomplete_expired", now)


def finish_dunning(sim: Sim, sub: Obj, now: int) -> None:
    """Retries are exhausted: leave the subscription unpaid or cancel it, as configured."""
    if sim.setting("dunning_final_state") == "unpaid":
        set_status(sim, sub, "unpaid", now)
    else:
        cancel_now(sim, sub, "payment_failed", now)


def set_status(sim: Sim, sub: Obj, status: str, now: int) -> None:
    before = copy.deepcopy(sub)
    sub["status"] = status
    sim.store.put(sub)
    emit(sim, "customer.subscription.updated", sub, now, changed(before, sub))


def cancel_now(sim: Sim, sub: Obj, reason: str, now: int | None = None) -> Obj:
    """End the subscription immediately (``customer.subscription.deleted``)."""
    if now is None:
        now = customer_time(sim.store, sub["customer"])
    sub.update(status="canceled", ended_at=now, canceled_at=sub["canceled_at"] or now,
               cancellation_details=dict(sub["cancellation_details"], reason=reason))
    sim.store.put(sub)
    for pending in sim.store.all("invoiceitem", _subscription=sub["id"], invoice=None):
        sim.store.delete(pending["id"])
    emit(sim, "customer.subscription.deleted", sub, now)
    return sub


def renew(sim: Sim, sub: Obj, now: int) -> None:
    """Items whose period ends at ``now`` renew: cancel if asked (with a final invoice for the
    metered usage of the period that ended), else start their next period and invoice it:
    pending proration items, licensed items in advance, metered usage in arrears."""
    due = [item for item in sub["items"]["data"] if item["current_period_end"] <= now]
    usage = [usage_line(sim, sub, item, item["current_period_start"],
                        item["current_period_end"])
             for item in due if is_metered(item["price"])]
    customer = sim.store.fetch(sub["customer"], "customer")
    if sub["cancel_at_period_end"] or (sub["cancel_at"] and sub["cancel_at"] <= now):
        cancel_now(sim, sub, "cancellation_requested", now)
        if usage:
            invoice = invoicing.create_and_finalize(sim, customer, sub, usage,
                                                    "subscription_cycle", now)
            sub["latest_invoice"] = invoice["id"]
            sim.store.put(sub)
            collect(sim, sub, invoice, customer, now)
        return
    before = copy.deepcopy(sub)
    for item in due:
        recurring = item["price"]["recurring"]
        item["current_period_start"] = item["current_period_end"]
        item["current_period_end"] = next_period_end(
            sub["billing_cycle_anchor"], recurring["interval"], recurring["interval_count"], now)
    if sub["status"] == "trialing":
        sub["status"] = "active"
    pending = sim.store.all("invoiceitem", _subscription=sub["id"], invoice=None)
    lines = [entry["_line"] for entry in reversed(pending)]
    lines += [period_line(sim, sub, item) for item in due if not is_metered(item["price"])]
    lines += usage
    # A renewal invoice stays a draft for about an hour before Stripe finalizes and charges
    # it (the test clock does that when it passes ``automatically_finalizes_at``).
    invoice = invoicing.create_draft(sim, customer, sub, lines, "subscription_cycle", now,
                                     finalizes_at=now + RENEWAL_DRAFT_SECONDS)
    for entry in pending:
        entry["invoice"] = invoice["id"]
        sim.store.put(entry)
    sub["latest_invoice"] = invoice["id"]
    sim.store.put(sub)
    emit(sim, "customer.subscription.updated", sub, now, changed(before, sub))
