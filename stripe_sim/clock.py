"""Test clock advancement: replay everything that falls due between the old and new time.

As at Stripe, advancing is asynchronous: the advance call answers at once with the clock
``advancing`` (``status_details.advancing.target_frozen_time``); a background thread then runs
what falls due and sets it ``ready`` (``test_helpers.test_clock.ready``). An advancing clock
cannot be advanced again, and a clock moves at most two intervals of its shortest live
subscription at a time (two years when it has none).

Due work, earliest first: trial_will_end notices (3 days before a trial ends), period ends
(renewal invoices, or cancellation at period end), finalization of renewal drafts (an hour
after they are made), payment retries of open invoices, and the expiry of subscriptions left
incomplete for 23 hours. Each runs with the clock set to the moment it falls due, so events
carry that simulated time. Events made while advancing are automatic: their ``request.id`` is
null.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from stripe_sim import billing, invoicing
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError
from stripe_sim.objects import Obj
from stripe_sim.simtime import DAY, add_interval
from stripe_sim.webhooks import emit

log = logging.getLogger("stripe_sim")

Due = tuple[int, int, Callable[[int], None]]

_MAX_STEPS = 10_000
INCOMPLETE_SECONDS = 23 * 3600
_LIVE = ("trialing", "active", "past_due", "unpaid", "incomplete", "paused")


def start_advance(sim: Sim, clock: Obj, target: int) -> Obj:
    """Check ``target``, mark the clock advancing, and advance it once this request commits."""
    if clock["status"] == "advancing":
        raise StripeError("The test clock is already advancing; wait until its status is "
                          "ready before advancing it again.", param="frozen_time")
    if target <= clock["frozen_time"]:
        raise StripeError("The test clock can only move forward: frozen_time must be after "
                          f"{clock['frozen_time']}.", param="frozen_time")
    limit = advance_limit(sim, clock)
    if target > limit:
        raise StripeError(
            "Cannot advance the test clock more than two intervals in the future from the "
            "shortest subscription in this test clock (two years when it has none): "
            f"frozen_time may be at most {limit}.", param="frozen_time")
    clock.update(status="advancing", status_details={"advancing": {"target_frozen_time": target}})
    sim.store.put(clock)
    emit(sim, "test_helpers.test_clock.advancing", clock, clock["frozen_time"])
    clock_id = clock["id"]
    sim.store.after_commit(lambda: threading.Thread(
        target=_advance_in_background, args=(sim, clock_id, target),
        name=f"stripe-sim-clock-{clock_id}", daemon=True).start())
    return clock


def advance_limit(sim: Sim, clock: Obj) -> int:
    """Two intervals of the shortest live subscription on the clock, or two years."""
    ends = [add_interval(clock["frozen_time"], item["price"]["recurring"]["interval"],
                         2 * item["price"]["recurring"]["interval_count"])
            for sub in sim.store.all("subscription", test_clock=clock["id"])
            if sub["status"] in _LIVE for item in sub["items"]["data"]]
    return min(ends) if ends else add_interval(clock["frozen_time"], "year", 2)


def _advance_in_background(sim: Sim, clock_id: str, target: int) -> None:
    try:
        with sim.store.transaction() as store:
            clock = store.fetch(clock_id, "test_helpers.test_clock")
            advance(sim, clock, target)
    except Exception:  # noqa: BLE001 - report it on the clock, as Stripe does
        log.exception("test clock %s failed to advance", clock_id)
        with sim.store.transaction() as store:
            clock = store.fetch(clock_id, "test_helpers.test_clock")
            clock.update(status="internal_failure", status_details={})
            store.put(clock)
            emit(sim, "test_helpers.test_clock.internal_failure", clock, clock["frozen_time"])


def advance(sim: Sim, clock: Obj, target: int) -> Obj:
    """Move ``clock`` to ``target``, running what falls due on the way, then mark it ready."""
    for _ in range(_MAX_STEPS):
        due = [d for d in _due(sim, clock["id"]) if d[0] <= target]
        if not due:
            break
        when, _order, action = min(due, key=lambda d: (d[0], d[1]))
        clock["frozen_time"] = max(when, clock["frozen_time"])
        sim.store.put(clock)
        action(clock["frozen_time"])
    clock.update(frozen_time=target, status="ready", status_details={})
    sim.store.put(clock)
    emit(sim, "test_helpers.test_clock.ready", clock, target)
    return clock


def _due(sim: Sim, clock_id: str) -> list[Due]:
    due: list[Due] = []
    for sub in sim.store.all("subscription", test_clock=clock_id):
        due.extend(_subscription_due(sim, sub))
    for draft in sim.store.all("invoice", test_clock=clock_id, status="draft"):
        if draft["automatically_finalizes_at"] is not None:
            due.append((draft["automatically_finalizes_at"], 0, _finalize(sim, draft)))
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


def _finalize(sim: Sim, draft: Obj) -> Callable[[int], None]:
    """A renewal draft's hour is up: finalize it and charge it."""

    def run(now: int) -> None:
        parent = draft["parent"]
        sub = sim.store.get(parent["subscription_details"]["subscription"], "subscription") \
            if parent else None
        customer = sim.store.fetch(draft["customer"], "customer")
        invoicing.finalize(sim, draft, customer, now)
        billing.collect(sim, sub, draft, customer, now)

    return run
