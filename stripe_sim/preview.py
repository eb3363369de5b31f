"""The invoice preview (``POST /v1/invoices/create_preview``) of a subscription's next invoice,
with or without a proposed change."""

from __future__ import annotations

import copy

from stripe_sim import invoicing
from stripe_sim.changes import plan_change
from stripe_sim.context import Sim
from stripe_sim.items import period_line, usage_line
from stripe_sim.objects import Obj, is_metered
from stripe_sim.simtime import add_interval, new_id


def preview(sim: Sim, sub: Obj, details: Obj, now: int) -> Obj:
    """The invoice a proposed change would produce: the immediate one when the change is
    invoiced at once, else the next invoice of the subscription.

    The next invoice is due when the first item period ends. It carries pending prorations,
    the next period of the licensed items renewing then, and the metered usage recorded so
    far in the period of the metered items renewing then (their usage is billed in arrears).
    A subscription canceling at period end only bills that usage."""
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
    due_at = min(i["current_period_end"] for i in proposal["items"]["data"])
    due = [i for i in proposal["items"]["data"] if i["current_period_end"] == due_at]
    usage = [usage_line(sim, proposal, item, item["current_period_start"],
                        item["current_period_end"]) for item in due if is_metered(item["price"])]
    renewal = []
    for item in due:
        if is_metered(item["price"]):
            continue
        recurring = item["price"]["recurring"]
        start = item["current_period_end"]
        item.update(current_period_start=start, current_period_end=add_interval(
            start, recurring["interval"], recurring["interval_count"]))
        renewal.append(period_line(sim, proposal, item))
    if details.get("cancel_at_period_end") or (
            sub["cancel_at_period_end"] and "cancel_at_period_end" not in details):
        renewal = []
    invoice = invoicing.build(customer, proposal,
                              list(reversed(pending)) + lines + renewal + usage,
                              "upcoming", now, f"upcoming_{new_id('in')}")
    invoice["next_payment_attempt"] = due_at
    return invoice
