"""Test clocks: renewals, trials, failed renewals with retries (dunning), and their events."""

from __future__ import annotations

import pytest
import stripe

from stripe_sim.testing import advance_clock

DAY = 86400
HOUR = 3600  # a renewal invoice is a draft for an hour before it is finalized and charged


def advance_to(client, clock, when):
    return advance_clock(client, clock.id, when)


def invoices(client, sub):
    page = client.v1.invoices.list({"subscription": sub.id, "limit": 100})
    return list(reversed(list(page.auto_paging_iter())))


def use_failing_card(client, customer, sub, magic="pm_card_chargeCustomerFail"):
    card = client.v1.payment_methods.attach(magic, {"customer": customer.id})
    client.v1.subscriptions.update(sub.id, {"default_payment_method": card.id})
    return card


def test_clock_create_retrieve_and_only_forward(stripe_client):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": 1767225600,
                                                              "name": "billing"})
    assert (clock.status, clock.name) == ("ready", "billing")
    assert stripe_client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == 1767225600
    with pytest.raises(stripe.InvalidRequestError) as error:
        advance_to(stripe_client, clock, 1767225600)
    assert error.value.param == "frozen_time"
    customer = stripe_client.v1.customers.create({"test_clock": clock.id})
    assert customer.created == 1767225600 and customer.test_clock == clock.id


def test_a_month_renews_once(stripe_client, prices, subscribe, hooks):
    clock, _customer, sub = subscribe(prices["continuum_pro_monthly"])
    first_end = sub["items"].data[0].current_period_end
    advance_to(stripe_client, clock, sub.start_date + 31 * DAY + 3600)
    renewed = stripe_client.v1.subscriptions.retrieve(sub.id)
    item = renewed["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (first_end, 1772323200)
    bills = invoices(stripe_client, sub)
    assert [i.billing_reason for i in bills] == ["subscription_create", "subscription_cycle"]
    assert bills[1].status == "paid" and bills[1].created == first_end
    assert bills[1].status_transitions.finalized_at == first_end + HOUR
    events = hooks.wait_for(lambda e: "test_helpers.test_clock.ready" in [x.type for x in e])
    paid = [e for e in events if e.type == "invoice.paid"]
    assert [e.created for e in paid] == [sub.start_date, first_end + HOUR]


def test_a_year_renews_a_yearly_plan_once(stripe_client, prices, subscribe):
    clock, _customer, sub = subscribe(prices["continuum_pro_yearly"])
    assert sub["items"].data[0].current_period_end == sub.start_date + 365 * DAY
    advance_to(stripe_client, clock, sub.start_date + 366 * DAY)
    bills = invoices(stripe_client, sub)
    assert [(i.billing_reason, i.amount_paid) for i in bills] == [
        ("subscription_create", 49000), ("subscription_cycle", 49000)]


def test_a_year_renews_a_monthly_plan_twelve_times(stripe_client, prices, subscribe):
    clock, _customer, sub = subscribe(prices["continuum_pro_monthly"])
    for day in (59, 118, 177, 236, 295, 354, 365):  # at most two months per advance
        clock = advance_to(stripe_client, clock, sub.start_date + day * DAY)
    assert len(invoices(stripe_client, sub)) == 13


def test_trial_warns_three_days_before_and_then_charges(stripe_client, prices, subscribe,
                                                        hooks):
    clock, _customer, sub = subscribe(prices["continuum_pro_monthly"], trial_days=14)
    advance_to(stripe_client, clock, sub.trial_end - 2 * DAY)
    events = hooks.wait_for(lambda e: "customer.subscription.trial_will_end" in
                            [x.type for x in e])
    warning = next(e for e in events if e.type == "customer.subscription.trial_will_end")
    assert warning.created == sub.trial_end - 3 * DAY
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "trialing"
    advance_to(stripe_client, clock, sub.trial_end + DAY)
    after = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert after.status == "active"
    assert after["items"].data[0].current_period_start == sub.trial_end
    bills = invoices(stripe_client, sub)
    assert [(i.amount_due, i.status) for i in bills] == [(0, "paid"), (4900, "paid")]


def test_0341_fails_then_retries_then_cancels(stripe_client, prices, subscribe, hooks):
    clock, customer, sub = subscribe(prices["continuum_pro_monthly"])
    use_failing_card(stripe_client, customer, sub)
    period_end = sub["items"].data[0].current_period_end
    advance_to(stripe_client, clock, period_end + 60)
    draft = invoices(stripe_client, sub)[-1]
    assert (draft.status, draft.automatically_finalizes_at) == ("draft", period_end + HOUR)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    advance_to(stripe_client, clock, period_end + HOUR + 60)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    failed = invoices(stripe_client, sub)[-1]
    assert (failed.status, failed.attempt_count) == ("open", 1)
    assert failed.next_payment_attempt == period_end + HOUR + 3 * DAY
    advance_to(stripe_client, clock, period_end + 20 * DAY)
    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled"
    assert ended.cancellation_details.reason == "payment_failed"
    assert ended.ended_at == period_end + HOUR + 14 * DAY
    failed = stripe_client.v1.invoices.retrieve(failed.id)
    assert (failed.attempt_count, failed.next_payment_attempt) == (4, None)
    events = hooks.wait_for(lambda e: "customer.subscription.deleted" in [x.type for x in e])
    failures = [e.created for e in events if e.type == "invoice.payment_failed"]
    assert failures == [period_end + HOUR + d * DAY for d in (0, 3, 7, 14)]


def test_final_state_can_be_unpaid_and_paying_reactivates(sim, stripe_client, prices,
                                                           subscribe):
    sim.settings(dunning_final_state="unpaid", dunning_retry_days=[2])
    clock, customer, sub = subscribe(prices["continuum_pro_monthly"])
    use_failing_card(stripe_client, customer, sub)
    period_end = sub["items"].data[0].current_period_end
    advance_to(stripe_client, clock, period_end + 5 * DAY)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "unpaid"
    open_invoice = invoices(stripe_client, sub)[-1]
    with pytest.raises(stripe.CardError) as declined:
        stripe_client.v1.invoices.pay(open_invoice.id)
    assert declined.value.http_status == 402 and declined.value.code == "card_declined"
    good = stripe_client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    paid = stripe_client.v1.invoices.pay(open_invoice.id, {"payment_method": good.id})
    assert paid.status == "paid"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.invoices.pay(open_invoice.id)


def test_3ds_card_renewal_needs_action(stripe_client, prices, subscribe, hooks):
    clock, _customer, sub = subscribe(prices["continuum_pro_monthly"], card="4000002760003184")
    assert sub.status == "active"
    advance_to(stripe_client, clock, sub["items"].data[0].current_period_end + HOUR + 60)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    events = hooks.wait_for(lambda e: "invoice.payment_action_required" in [x.type for x in e])
    assert "invoice.payment_action_required" in [e.type for e in events]


def test_settings_are_validated(sim):
    with pytest.raises(Exception, match="400"):
        sim.settings(dunning_final_state="paused")
    assert sim.settings()["dunning_final_state"] == "canceled"


def test_open_invoice_can_be_paid_on_the_hosted_page(sim, stripe_client, prices, subscribe):
    clock, customer, sub = subscribe(prices["continuum_pro_monthly"], card="4000002760003184")
    advance_to(stripe_client, clock, sub["items"].data[0].current_period_end + HOUR + 60)
    open_invoice = invoices(stripe_client, sub)[-1]
    page = sim.submit_page(open_invoice.hosted_invoice_url)
    assert page.status == 200 and "Pay this invoice" in page.body
    form = {"card_number": "4000000000000002", "expiry": "12 / 34", "cvc": "123"}
    declined = sim.submit_page(open_invoice.hosted_invoice_url, form)
    assert declined.status == 402 and "card_declined" in declined.body
    paid = sim.submit_page(open_invoice.hosted_invoice_url,
                           {**form, "card_number": "4242424242424242"})
    assert paid.status == 303
    assert stripe_client.v1.invoices.retrieve(open_invoice.id).status == "paid"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    assert len(stripe_client.v1.customers.payment_methods.list(customer.id).data) == 2


def test_advancing_is_asynchronous_and_its_events_are_automatic(stripe_client, prices,
                                                                subscribe, hooks):
    clock, _customer, sub = subscribe(prices["continuum_pro_monthly"])
    target = sub["items"].data[0].current_period_end + 2 * HOUR
    started = stripe_client.v1.test_helpers.test_clocks.advance(clock.id,
                                                               {"frozen_time": target})
    assert started.status == "advancing"
    assert started.status_details.advancing.target_frozen_time == target
    ready = advance_to(stripe_client, clock, target + 1)  # waits for the first one too
    assert (ready.status, ready.frozen_time) == ("ready", target + 1)
    events = hooks.wait_for(lambda e: [x.type for x in e].count(
        "test_helpers.test_clock.ready") == 2)
    advancing = next(e for e in events if e.type == "test_helpers.test_clock.advancing")
    assert advancing.request.id is not None  # made by the advance request itself
    renewal = [e for e in events if e.type in ("invoice.created", "invoice.paid")
               and e.created > sub.start_date]
    assert renewal and all(e.request.id is None for e in renewal)


def test_a_clock_moves_at_most_two_intervals_of_its_shortest_subscription(
        stripe_client, prices, subscribe):
    clock, _customer, sub = subscribe(prices["continuum_pro_monthly"])
    # 2026-01-01 plus two months is 2026-03-01, 59 days on.
    with pytest.raises(stripe.InvalidRequestError, match="two intervals") as caught:
        stripe_client.v1.test_helpers.test_clocks.advance(
            clock.id, {"frozen_time": sub.start_date + 62 * DAY})
    assert caught.value.param == "frozen_time"
    empty = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": 1767225600})
    with pytest.raises(stripe.InvalidRequestError, match="two years"):
        stripe_client.v1.test_helpers.test_clocks.advance(
            empty.id, {"frozen_time": 1767225600 + 3 * 365 * DAY})


def test_renewals_send_payment_events_and_failures_make_the_customer_delinquent(
        stripe_client, prices, subscribe, hooks):
    clock, customer, sub = subscribe(prices["continuum_pro_monthly"])
    # Deliveries are asynchronous and unordered: wait for the whole set, not the first one.
    paid = {"checkout.session.completed", "payment_intent.created", "charge.succeeded",
            "payment_intent.succeeded", "invoice_payment.paid"}
    kinds = [e.type for e in hooks.wait_for(lambda e: paid <= {x.type for x in e})]
    assert paid <= set(kinds)
    use_failing_card(stripe_client, customer, sub)
    advance_to(stripe_client, clock, sub["items"].data[0].current_period_end + HOUR + 60)
    assert stripe_client.v1.customers.retrieve(customer.id).delinquent is True
    failed = {"charge.failed", "invoice.updated", "payment_intent.payment_failed"}
    events = hooks.wait_for(lambda e: failed <= {x.type for x in e})
    assert failed <= {e.type for e in events}
    updated = next(e for e in events if e.type == "invoice.updated")
    assert updated.data.previous_attributes.attempt_count == 0
