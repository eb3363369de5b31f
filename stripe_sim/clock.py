"""Test clock advancement: replay everything that falls due between the old and new time.

Due work, earliest first: trial_will_end notices (3 days before a trial ends), period ends
(renewal invoices, or cancellation at period end), payment retries of open invoices, and the
expiry of subscriptions left incomplete for 23 hours. Each
runs with the clock set to the moment it falls due, so events carry that simulated time.
"""

from __future__ import annotations

from collections.abc import Callable

from stripe_sim import billing
from stripe_sim.context import Sim
from stripe_sim.objects import Obj
from stripe_sim.simtime import DAY
from stripe_sim.webhooks import emit

Due = tuple[int, int, Callable[[int], None]]

_MAX_STEPS = 10_000
INCOMPLETE_SECONDS = 23 * 3600


def advance(sim: Sim, clock: Obj, target: int) -> Obj:
    """Move ``clock`` to ``target`` and run what falls due on the way."""
    clock["status"] = "advancing"
    sim.store.put(clock)
    emit(sim, "test_helpers.test_clock.advancing", clock, clock["frozen_time"])
    for _ in range(_MAX_STEPS):
        due = [d for d in _due(sim, clock["id"]) if d[0] <= target]
        if not due:
            break
        when, _order, action = min(due, key=lambda d: (d[0], d[1]))
        clock["frozen_time"] = max(when, clock["frozen_time"])
        sim.store.put(clock)
        action(clock["frozen_time"])
    clock.update(frozen_time=target, status="ready")
    sim.store.put(clock)
    emit(sim, "test_helpers.test_clock.ready", clock, target)
    return clock


def _due(sim: Sim, clock_id: str) -> list[Due]:
    due: list[Due] = []
    for sub in sim.store.all("subscription", test_clock=clock_id):
        due.extend(_subscription_due(sim, sub))
    for invoice in sim.store.all("invoice", test_clock=clock_id, status="open"):
        if invoice["next_payment_attempt"] is not None:
            due.append((invoice["next_payment_attempt"], 2, _retry(sim, invoice)))
    return due


def _subscription_due(sim: Sim, sub: Obj) -> list[Due]:
    if sub["status"] == "incomplete":
        return [(sub["created"] + INCOMPLETE_SECONDS, 1,
                 lambda now: billing.expire_incomplete(sim, sub, now))]
    if sub["status"] not in ("trialing", "active", "past_due"):
        return []
    period_end = min(item["current_period_end"] for item in sub["items"]["data"])
    due: list[Due] = [(period_end, 1, lambda now: billing.renew(sim, sub, now))]
    if sub["status"] == "trialing" and not sub.get("_trial_will_end_sent"):
        due.append((sub["trial_end"] - 3 * DAY, 0, lambda now: _trial_will_end(sim, sub, now)))
    return due


def _trial_will_end(sim: Sim, sub: Obj, now: int) -> None:
    sub["_trial_will_end_sent"] = True
    sim.store.put(sub)
    emit(sim, "customer.subscription.trial_will_end", sub, now)


def _retry(sim: Sim, invoice: Obj) -> Callable[[int], None]:
    def run(now: int) -> None:
        parent = invoice["parent"]
        sub = sim.store.get(parent["subscription_details"]["subscription"], "subscription") \
            if parent else None
        customer = sim.store.fetch(invoice["customer"], "customer")
        if sub is not None and sub["status"] in ("canceled", "incomplete_expired"):
            invoice["next_payment_attempt"] = None
            sim.store.put(invoice)
            return
        billing.collect(sim, sub, invoice, customer, now)

    return run
